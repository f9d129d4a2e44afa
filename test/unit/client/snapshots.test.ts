// Snapshots through the SDK's own Group and Doc against the real relay core in this process: what
// doc.snapshot() refuses at once, and a received snapshot as the app sees it (heldSnapshot, transactions()
// after it, DocChange.snapshot), kept in the local store across a restart. A snapshot is delivered with
// inject(): a writer's signed one, as the relay forwards it.
import { describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, MAX_SNAPSHOT_BYTES, encodeMessage, signSnapshot, utf8Length, type SessionCounts } from "../../../protocol/index.ts";
import { RelayError, createIdentity, type DocChange } from "../../../client/index.ts";
import { until } from "../../support/wait.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { harnessPerTest, settle, statusOf, refusalCode } from "./group-harness.ts";

const setup = harnessPerTest();

describe("doc.snapshot() refuses locally and synchronously what the relay would refuse", () => {
  it("wrong data, too large, nothing confirmed yet, the membership log; nothing is sent and the group stays live", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    // Nothing of it confirmed by the relay yet: nothing to cover.
    expect(refusalCode(() => doc.snapshot("state"))).toBe("snapshot_refused");
    doc.append("one");
    await doc.synced();
    const snapshot = doc.snapshot.bind(doc) as (data: unknown) => Promise<void>;
    expect(refusalCode(() => snapshot({ state: 1 }))).toBe("bad_frame");
    expect(refusalCode(() => snapshot(undefined))).toBe("bad_frame");
    expect(refusalCode(() => snapshot([1, 2]))).toBe("bad_frame");
    expect(refusalCode(() => doc.snapshot("x\ud800"))).toBe("bad_frame");
    expect(refusalCode(() => doc.snapshot(new Uint8Array(MAX_SNAPSHOT_BYTES + 1)))).toBe("snapshot_too_large");
    expect(refusalCode(() => doc.snapshot("é".repeat(MAX_SNAPSHOT_BYTES / 2 + 1)))).toBe("snapshot_too_large");
    const members = group.createMembers();
    await members.synced();
    expect(refusalCode(() => members.snapshot("members"))).toBe("snapshot_refused");
    await settle();
    expect(relay.transcript().filter((line) => line.includes("snapshot"))).toEqual([]);
    expect(group.status).toBe("live");
  });

  it("a reader is refused with forbidden", async () => {
    const { client } = setup();
    const admin = await client({ name: "admin" });
    const adminGroup = admin.group("g1");
    await statusOf(adminGroup, "live");
    const shared = adminGroup.create();
    shared.append("by the admin");
    await adminGroup.createMembers().synced();
    const reader = await client({ name: "reader" });
    await adminGroup.setRole(reader.identity.agent, "reader");
    const group = reader.group("g1");
    const held = await group.open(shared.id);
    await statusOf(group, "live");
    expect(held.transactions()).toHaveLength(1);
    expect(refusalCode(() => held.snapshot("state"))).toBe("forbidden");
  });

  it("a writer that did not create the document is refused with forbidden, nothing sent; the documents it created it may snapshot", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const shared = alice.group("g1").create();
    shared.append("by alice");
    await shared.synced();
    // A group without a membership log: every agent is a writer.
    const bob = await client({ name: "bob" });
    const group = bob.group("g1");
    const held = await group.open(shared.id);
    held.append("by bob");
    await held.synced();
    expect(group.role).toBe("writer");
    relay.transcript();
    // It would stand for alice's transactions too, and replace them for every loader.
    expect(refusalCode(() => held.snapshot("EVIL"))).toBe("forbidden");
    await settle();
    expect(relay.transcript().filter((line) => line.includes("snapshot"))).toEqual([]);
    const own = group.create();
    own.append("by bob");
    await own.synced();
    await own.snapshot("bob's own");
    expect(own.lastSnapshotted?.session).toBe(bob.session);
    expect(group.status).toBe("live");
  });

  it("rejects with a ClosedError once the group is closed", async () => {
    const { client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    doc.append("one");
    await doc.synced();
    const pending = doc.snapshot("state");
    group.close();
    await expect(pending).rejects.toMatchObject({ name: "ClosedError" });
    await expect(doc.snapshot("later")).rejects.toMatchObject({ name: "ClosedError" });
  });
});

describe("a received snapshot", () => {
  it("is verified, held with the transactions after it, told to listeners, and kept in the store across a restart", async () => {
    const { relay, client } = setup();
    const bob = await client({ name: "bob" });
    const bobGroup = bob.group("g1");
    await statusOf(bobGroup, "live");
    const written = bobGroup.create();
    for (let i = 0; i < 5; i++) written.append(`b${i}`);
    await written.synced();

    const store = new MemoryLocalStore();
    const alice = await client({ name: "alice", store });
    const group = alice.group("g1");
    const doc = await group.open(written.id);
    await statusOf(group, "live");
    const changes: DocChange[] = [];
    doc.subscribe((change) => changes.push(change));
    const errors: Error[] = [];
    group.onError((error) => errors.push(error));
    const alicePeer = relay.peers[relay.peers.length - 1]!;

    const covers: SessionCounts = { [bob.session]: 3 };
    const signature = signSnapshot(bob.identity.secretKey, doc.id, bob.session, covers, "b0..b2");
    // A forged one (its data is not what was signed) is dropped and reported.
    relay.inject(alicePeer, { type: "snapshot", doc: doc.id, session: bob.session, covers, data: "something else", signature });
    await settle();
    expect(doc.heldSnapshot).toBeUndefined();
    expect(errors).toMatchObject([{ code: "bad_signature" }]);
    expect(errors[0]).toBeInstanceOf(RelayError);

    relay.inject(alicePeer, { type: "snapshot", doc: doc.id, session: bob.session, covers, data: "b0..b2", signature });
    await settle();
    expect(doc.heldSnapshot).toMatchObject({ session: bob.session, covers, data: "b0..b2" });
    expect(changes.map((change) => change.snapshot?.data)).toEqual(["b0..b2"]);
    expect(doc.transactions().map((transaction) => [transaction.data, transaction.index])).toEqual([["b3", 3], ["b4", 4]]);
    expect(doc.known.sessions).toEqual({ [bob.session]: 5 });

    // What follows keeps arriving after it.
    written.append("b5");
    await written.synced();
    await settle();
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["b3", "b4", "b5"]);

    // A restart on the same store starts from the snapshot and holds exactly what follows it.
    await group.synced();
    await settle();
    const [stored] = await store.loadGroup("g1");
    expect(stored?.snapshot?.snapshot.data).toBe("b0..b2");
    expect(stored?.sessions[bob.session]?.map((transaction) => transaction.data)).toEqual(["b3", "b4", "b5"]);
    alice.close();
    const again = await client({ name: "alice-again", identity: alice.identity, store });
    const reopened = await again.group("g1").open(written.id);
    expect(reopened.heldSnapshot?.data).toBe("b0..b2");
    expect(reopened.transactions().map((transaction) => transaction.data)).toEqual(["b3", "b4", "b5"]);
    await statusOf(again.group("g1"), "live");
    expect(reopened.known.sessions).toEqual({ [bob.session]: 6 });
  });

  it("what arrives right behind a snapshot waits for its signature check, so it follows the snapshot in order", async () => {
    const { relay, client } = setup();
    const bob = await client({ name: "bob" });
    const bobGroup = bob.group("g1");
    await statusOf(bobGroup, "live");
    const written = bobGroup.create();
    for (let i = 0; i < 3; i++) written.append(`b${i}`);
    await written.synced();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    const doc = await group.open(written.id);
    await statusOf(group, "live");
    relay.transcript();
    const alicePeer = relay.peers[relay.peers.length - 1]!;
    // A snapshot covering 5 of bob's (alice holds 3), and at once the content after it, in one burst.
    const covers: SessionCounts = { [bob.session]: 5 };
    const signature = signSnapshot(bob.identity.secretKey, doc.id, bob.session, covers, "b0..b4");
    relay.inject(alicePeer, { type: "snapshot", doc: doc.id, session: bob.session, covers, data: "b0..b4", signature });
    relay.inject(alicePeer, { type: "content", doc: doc.id, sessions: { [bob.session]: { after: 5, transactions: [{ at: Date.now(), data: "b5" }], signature: "A".repeat(86) } } });
    await settle();
    expect(doc.known.sessions).toEqual({ [bob.session]: 6 });
    expect(doc.transactions().map((transaction) => [transaction.data, transaction.index])).toEqual([["b5", 5]]);
    // No gap was seen: the document was not loaded again.
    expect(relay.transcript().filter((line) => line.includes("-> relay | load"))).toEqual([]);
  });
});

describe("two agents on one local store", () => {
  it("a snapshot one agent takes does not break the other's session: after a restart it goes on writing from the cut", async () => {
    const { client } = setup();
    const store = new MemoryLocalStore();
    const y = createIdentity();
    const x = createIdentity();
    // Y creates the document (only its creator or an admin may snapshot it); x writes to it.
    const creator = await client({ name: "y", identity: y, store });
    const doc = creator.group("g1").create();
    doc.append("created");
    await doc.synced();
    await creator.close();
    const first = await client({ name: "x", identity: x, store });
    const written = await first.group("g1").open(doc.id);
    for (let i = 0; i < 10; i++) written.append(`x${i}`);
    await written.synced();
    await first.close();

    const snapshotter = await client({ name: "y-again", identity: y, store });
    const seen = await snapshotter.group("g1").open(doc.id);
    await until(() => seen.relayKnown.sessions[first.session] === 10); // what the relay confirmed is what a snapshot covers
    await seen.snapshot("state of 11"); // covers x's 10: the store cuts x's log there
    await snapshotter.close();

    const again = await client({ name: "x-again", identity: x, store });
    const group = again.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    const mine = await group.open(doc.id);
    mine.append("after the restart");
    await mine.synced({ signal: AbortSignal.timeout(5_000) });
    expect(errors).toEqual([]);
    const reader = await client({ name: "reader" });
    const read = await reader.group("g1").open(doc.id);
    await until(() => read.transactions().some((transaction) => transaction.data === "after the restart"));
  });
});

describe("a snapshot at the frame's limit", () => {
  // Quotes take one byte of the snapshot's limit and two in the frame: data that fits a frame only without
  // its covers, or with them but without the time it carries (`at`).
  it.each([
    ["the covers", false],
    ["the time it carries", true],
  ])("is refused at once when the frame with %s would be too large, and the group goes on syncing", async (_, withCovers) => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    const doc = group.create();
    doc.append("first");
    await doc.synced();
    const covers = withCovers ? { [alice.session]: 1 } : {};
    const envelope = encodeMessage({ type: "snapshot", doc: doc.id, session: alice.session, covers, data: "", signature: "A".repeat(86) }).length;
    const data = '"'.repeat(Math.floor((MAX_FRAME_BYTES - envelope) / 2));
    expect(utf8Length(data)).toBeLessThan(MAX_SNAPSHOT_BYTES);
    expect(refusalCode(() => doc.snapshot(data))).toBe("frame_too_large");
    doc.append("second");
    await doc.synced({ signal: AbortSignal.timeout(5_000) });
    expect(relay.transcript().join("\n")).not.toMatch(/frame_too_large|snapshot doc/);
  });
});
