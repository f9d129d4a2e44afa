// weft/yjs and snapshots over the real SDK and the relay core in this process: a received snapshot is
// applied idempotently (it covers what the Y.Doc already has), a reload starts from the stored snapshot
// and the updates after it, and snapshots: false offers nothing in presence. A Y.Doc holding edits the
// relay refused publishes no snapshot; once they are discarded it sends nothing more, and once they are
// sent again it counts like any. Edits typed while the agent is a reader wait in the provider. The snapshot is delivered with inject(): a writer's signed one, as the
// relay forwards it.
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { createIdentity } from "../../../client/identity.ts";
import { MAX_SNAPSHOT_BYTES } from "../../../protocol/limits.ts";
import { countOf, signSnapshot, transactionCount, type DocId, type SessionCounts } from "../../../protocol/index.ts";
import type { Client } from "../../../client/index.ts";
import { DivergedError, WeftProvider } from "../../../yjs/index.ts";
import { OFFERS_SNAPSHOTS } from "../../../yjs/snapshot-policy.ts";
import { payloadToData } from "../../../yjs/payload.ts";
import { encodeUpdatePayloads } from "../../../yjs/update-frames.ts";
import { until, untilEvent } from "../../support/wait.ts";
import { CUT_OFF_URL, GROUP, harnessPerTest, settle, statusOf } from "../client/group-harness.ts";

const setup = harnessPerTest();
const SNAPSHOT_OFTEN = { snapshots: { factor: 1, minLogBytes: 600 } };

/** Text of `length` random lower-case letters, so a Yjs state holding it is about that large. */
const random = (length: number) => Array.from({ length }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");

/** `a` and `b` each type 60 characters, in turns; returns whose snapshots `b` heard the relay store. */
async function bothTyping(a: WeftProvider, b: WeftProvider): Promise<string[]> {
  const heard: string[] = [];
  b.doc!.subscribe((change) => change.snapshotted && heard.push(change.snapshotted.session));
  for (let i = 0; i < 60; i++) {
    a.ydoc.getText("body").insert(0, "a");
    b.ydoc.getText("body").insert(0, "b");
    await settle(2);
  }
  return heard;
}

/** Alice alone editing a new Yjs document with this snapshot policy, loaded. */
async function soleEditor(snapshots: { factor: number; minLogBytes: number }): Promise<WeftProvider> {
  const alice = await setup().client({ name: "alice" });
  const group = alice.group(GROUP);
  const docId = group.create({ kind: "yjs" }).id;
  await group.synced();
  const editor = new WeftProvider(group, docId, new Y.Doc(), { snapshots });
  await editor.loaded;
  return editor;
}

describe("a received snapshot in weft/yjs", () => {
  it("is applied idempotently, the updates after it still arrive, and a reload starts from it", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice" });
    const groupA = alice.group(GROUP);
    const docId = groupA.create({ kind: "yjs" }).id;
    const writer = new WeftProvider(groupA, docId, new Y.Doc(), { snapshots: false });
    await writer.loaded;
    const text = writer.ydoc.getText("body");
    for (const word of ["one ", "two ", "three "]) {
      text.insert(text.length, word);
      await settle(2);
    }
    await writer.doc!.synced();

    const store = new MemoryLocalStore();
    const bob = await h.client({ name: "bob", store });
    const groupB = bob.group(GROUP);
    const reader = new WeftProvider(groupB, docId, new Y.Doc(), { snapshots: false });
    await reader.loaded;
    await statusOf(groupB, "live");
    expect(reader.ydoc.getText("body").toString()).toBe("one two three ");
    let updates = 0;
    reader.ydoc.on("update", () => updates++);

    // Alice's state as of what the relay holds of her, signed by her: the relay forwards it to bob.
    const covers: SessionCounts = { ...writer.doc!.relayKnown.sessions };
    const state = Y.encodeStateAsUpdate(writer.ydoc);
    const signature = signSnapshot(alice.identity.secretKey, docId, alice.session, covers, state);
    const bobPeer = h.relay.peers[h.relay.peers.length - 1]!;
    h.relay.inject(bobPeer, { type: "snapshot", doc: docId, session: alice.session, covers, data: state as Uint8Array<ArrayBuffer>, signature });
    await settle();
    expect(reader.doc!.heldSnapshot?.covers).toEqual(covers);
    expect(reader.doc!.transactions()).toEqual([]);
    expect(updates).toBe(0); // nothing new: applying it changed nothing
    expect(reader.ydoc.getText("body").toString()).toBe("one two three ");

    text.insert(text.length, "four");
    await untilEvent(reader.ydoc, "update", () => reader.ydoc.getText("body").toString() === "one two three four");
    await reader.doc!.synced();
    await settle();
    reader.destroy();
    bob.close();

    // A reload on the same store: the snapshot, then the one update after it, without the network.
    h.relay.down = true;
    const again = await h.client({ name: "bob-again", identity: bob.identity, store });
    const reloaded = new WeftProvider(again.group(GROUP), docId, new Y.Doc(), { snapshots: false });
    await reloaded.loaded;
    expect(reloaded.doc!.heldSnapshot?.covers).toEqual(covers);
    expect(reloaded.doc!.transactions()).toHaveLength(1);
    expect(reloaded.ydoc.getText("body").toString()).toBe("one two three four");
  });

  it("taken by hand as the README shows, from the document loaded gives: a new editor loads the text from it", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice" });
    const groupA = alice.group(GROUP);
    const docId = groupA.create({ kind: "yjs" }).id;
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(groupA, docId, ydoc, { snapshots: false });
    const doc = await provider.loaded;
    expect(doc).toBe(provider.doc);
    ydoc.getText("body").insert(0, "kept in the snapshot");
    await doc.synced();
    await doc.snapshot(Y.encodeStateAsUpdate(ydoc));
    const reader = new WeftProvider((await h.client({ name: "alice-2", identity: alice.identity })).group(GROUP), docId, new Y.Doc(), { snapshots: false });
    const loaded = await reader.loaded;
    expect(loaded.heldSnapshot?.session).toBe(alice.session);
    expect(reader.ydoc.getText("body").toString()).toBe("kept in the snapshot");
  });

  it("that holds an update this editor had only begun to receive takes its place in silence: the writer's next update is no sign of a lost one", async () => {
    const h = setup();
    const [alice, mallory, bob] = [await h.client({ name: "alice" }), await h.client({ name: "mallory" }), await h.client({ name: "bob" })];
    const groupA = alice.group(GROUP);
    const docId = groupA.create({ kind: "yjs" }).id;
    await groupA.synced();
    const reader = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), { snapshots: false });
    await reader.loaded;
    await statusOf(bob.group(GROUP), "live");
    const bobPeer = h.relay.peers[h.relay.peers.length - 1]!;
    const errors: unknown[] = [];
    reader.on("error", (error) => errors.push(error));

    // Mallory's paste in 3 parts, of which bob has the first (then he lost the connection, say, and the
    // others were pruned meanwhile): the relay sends him a snapshot that holds all of it.
    const scratch = new Y.Doc();
    scratch.getText("body").insert(0, random(250_000));
    const paste = Y.encodeStateAsUpdate(scratch);
    const parts = encodeUpdatePayloads(paste, 100_000);
    const raw = await mallory.group(GROUP).open(docId);
    raw.append(payloadToData(parts[0]!));
    await until(() => countOf(reader.doc!.known, mallory.session) === 1, 5_000);
    const covers: SessionCounts = { [mallory.session]: 3 };
    const signature = signSnapshot(alice.identity.secretKey, docId, alice.session, covers, paste);
    h.relay.inject(bobPeer, { type: "snapshot", doc: docId, session: alice.session, covers, data: paste as Uint8Array<ArrayBuffer>, signature });
    await until(() => reader.ydoc.getText("body").length === 250_000, 5_000);

    // Mallory goes on; bob applies it, and says nothing of the parts the snapshot stood for.
    for (const part of parts.slice(1)) raw.append(payloadToData(part));
    const after = new Y.Doc();
    Y.applyUpdate(after, paste);
    after.getText("body").insert(0, "after ");
    raw.append(payloadToData(encodeUpdatePayloads(Y.encodeStateAsUpdate(after, Y.encodeStateVector(scratch)), 100_000)[0]!));
    await until(() => reader.ydoc.getText("body").toString().startsWith("after "), 5_000);
    expect(reader.ydoc.getText("body").length).toBe(6 + 250_000);
    expect(errors).toEqual([]);
  });

  it("offers to take snapshots in its presence unless snapshots: false", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice" });
    const bob = await h.client({ name: "bob" });
    const groupA = alice.group(GROUP);
    const docId = groupA.create({ kind: "yjs" }).id;
    await groupA.synced();
    const offering = new WeftProvider(groupA, docId, new Y.Doc());
    const silent = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), { snapshots: false });
    await Promise.all([offering.loaded, silent.loaded]);
    await settle();
    const seenByBob = [...silent.doc!.presence.peers.values()].map((peer) => (peer.state as Record<string, unknown>)[OFFERS_SNAPSHOTS]);
    const seenByAlice = [...offering.doc!.presence.peers.values()].map((peer) => (peer.state as Record<string, unknown>)[OFFERS_SNAPSHOTS]);
    expect(seenByBob).toEqual([true]);
    expect(seenByAlice).toEqual([]); // neither an offer nor an awareness state: bob shows nothing
  });

  it("withdraws its offer while its agent may not take one (a reader, a writer of a document it did not create), and offers again once it may", async () => {
    const { alice, bob, b } = await bobTypedAndRefused();
    const offers = () => [...alice.group(GROUP).docs.find((doc) => doc.id === b.docId)!.presence.peers.values()].filter((peer) => peer.session === bob.session).map((peer) => (peer.state as Record<string, unknown>)[OFFERS_SNAPSHOTS]);
    await until(() => offers()[0] === true, 2_000);
    await alice.group(GROUP).setRole(bob.identity.agent, "reader");
    await until(() => offers().length === 0, 2_000); // nothing else to show
    await alice.group(GROUP).setRole(bob.identity.agent, "admin");
    await until(() => offers()[0] === true, 2_000);
    await alice.group(GROUP).setRole(bob.identity.agent, "writer");
    await until(() => offers().length === 0, 2_000);
  });

  it("a writer's provider never snapshots a document it did not create, and says nothing of it; the creator's leads, though the writer's session sorts first", async () => {
    const h = setup();
    const [first, second] = [createIdentity(), createIdentity()].sort((x, y) => (x.agent < y.agent ? -1 : 1));
    const [bob, alice] = [await h.client({ name: "bob", identity: first! }), await h.client({ name: "alice", identity: second! })];
    expect(bob.session < alice.session).toBe(true);
    // A group without a membership log: both are writers; the document is alice's.
    const docId = alice.group(GROUP).create({ kind: "yjs" }).id;
    await alice.group(GROUP).synced();
    const a = new WeftProvider(alice.group(GROUP), docId, new Y.Doc(), SNAPSHOT_OFTEN);
    const b = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), SNAPSHOT_OFTEN);
    const errors: unknown[] = [];
    b.on("error", (error) => errors.push(error));
    await Promise.all([a.loaded, b.loaded]);
    await settle();
    const heard = await bothTyping(a, b);
    await b.doc!.synced();
    await until(() => heard.length > 0, 2_000);
    expect(new Set(heard)).toEqual(new Set([alice.session]));
    expect(errors).toEqual([]);
    expect(h.relay.transcript().filter((line) => line.includes("error"))).toEqual([]);
  });

  it("takes snapshots by itself once the log outgrows the state, only the leading editor, and never with snapshots: false", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice" });
    // Two editors that may both snapshot alice's document: its creator and an admin.
    await alice.group(GROUP).createMembers().synced();
    const bob = await h.client({ name: "bob" });
    await alice.group(GROUP).setRole(bob.identity.agent, "admin");
    const docId = alice.group(GROUP).create({ kind: "yjs" }).id;
    await alice.group(GROUP).synced();
    const options = { snapshots: { factor: 1, minLogBytes: 600 } };
    const a = new WeftProvider(alice.group(GROUP), docId, new Y.Doc(), options);
    const b = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), options);
    await Promise.all([a.loaded, b.loaded]);
    await settle();
    const leader = alice.session < bob.session ? alice.session : bob.session;
    const heard = await bothTyping(a, b);
    await settle();
    expect(heard.length).toBeGreaterThan(0);
    expect(new Set(heard)).toEqual(new Set([leader]));
    expect(b.doc!.lastSnapshotted?.session).toBe(leader);

    // Alone and with snapshots off, an editor never takes one, however long its log.
    const carol = await h.client({ name: "carol" });
    await alice.group(GROUP).setRole(carol.identity.agent, "writer");
    const soloId = carol.group(GROUP).create({ kind: "yjs" }).id;
    const solo = new WeftProvider(carol.group(GROUP), soloId, new Y.Doc(), { snapshots: false });
    await solo.loaded;
    for (let i = 0; i < 60; i++) {
      solo.ydoc.getText("body").insert(0, "c");
      await settle(2);
    }
    await solo.doc!.synced();
    await settle();
    expect(solo.doc!.lastSnapshotted).toBeUndefined();
  });

  it("counts each transaction's overhead, so with the defaults a log of a few hundred keystrokes is snapshotted", async () => {
    const h = setup();
    const alice = await h.client({ name: "alice" });
    const group = alice.group(GROUP);
    const docId = group.create({ kind: "yjs" }).id;
    await group.synced();
    const editor = new WeftProvider(group, docId, new Y.Doc());
    await editor.loaded;
    const text = editor.ydoc.getText("body");
    // 300 keystrokes of about 25 bytes each: 7.5 KB of data, short of the 64 KiB floor by data alone.
    for (let i = 0; i < 300; i++) {
      text.insert(text.length, "k");
      await settle(1);
    }
    await editor.doc!.synced();
    expect(countOf(editor.doc!.known, alice.session)).toBeGreaterThan(250); // one transaction each, or nearly
    await until(() => editor.doc!.lastSnapshotted !== undefined, 5_000);
  });

  it("after a large paste taken out again, measures the state again as the log grows: a snapshot follows once the log outgrows the smaller state", async () => {
    const editor = await soleEditor({ factor: 2, minLogBytes: 1024 });
    const text = editor.ydoc.getText("body");
    text.insert(0, random(150_000)); // the state measured now is as large as the log
    await editor.doc!.synced();
    await settle();
    expect(editor.doc!.lastSnapshotted).toBeUndefined();
    text.delete(0, text.length);
    // About 100 KB more of log: past the state (now tiny) twice over, short of twice the paste.
    for (let i = 0; i < 100; i++) {
      text.insert(0, random(1_000));
      text.delete(0, 1_000);
      await settle(2);
    }
    await editor.doc!.synced();
    await until(() => editor.doc!.lastSnapshotted !== undefined, 3_000);
    expect(Y.encodeStateAsUpdate(editor.ydoc).byteLength).toBeLessThan(10_000);
  });

  it("says once that the state has outgrown a snapshot (snapshot_too_large), and takes one again once it fits", async () => {
    const editor = await soleEditor({ factor: 0.5, minLogBytes: 1024 });
    const errors: Error[] = [];
    editor.on("error", (error) => errors.push(error));
    const text = editor.ydoc.getText("body");
    text.insert(0, random(MAX_SNAPSHOT_BYTES + 1_000));
    await editor.doc!.synced();
    await until(() => errors.length > 0, 5_000);
    expect(errors).toMatchObject([{ name: "LocalRefusalError", code: "snapshot_too_large" }]);
    expect(errors[0]!.message).toMatch(/over the 786432 a snapshot may hold/);
    // More edits, each making a snapshot due again: not said again.
    for (let i = 0; i < 3; i++) {
      text.insert(0, random(70_000));
      await editor.doc!.synced();
      await settle();
    }
    expect(errors).toHaveLength(1);
    expect(editor.doc!.lastSnapshotted).toBeUndefined();
    // Taken out again: the state fits, and a snapshot follows.
    text.delete(0, text.length);
    text.insert(0, random(70_000));
    await editor.doc!.synced();
    await until(() => editor.doc!.lastSnapshotted !== undefined, 5_000);
    expect(errors).toHaveLength(1);
  });

  it("never publishes edits the relay refused: the Y.Doc that holds them says so and takes no more snapshots", async () => {
    const { h, alice, a, bob, b, docId, errors } = await bobTypedAndRefused();
    expect(errors).toMatchObject([{ name: "RelayError", code: "quota_exceeded" }]);
    await bob.group(GROUP).discardRefused(b.doc!);
    await aliceTypesAndAFreshReaderHoldsOnlyHers(h, alice, a, docId);
    expect(b.ydoc.getText("body").toString()).toContain("[refused]");
  });

  it("nor does a provider bound to the document while its refused edits were held back, once they are discarded", async () => {
    const { h, alice, a, bob, b, docId } = await bobTypedAndRefused();
    b.destroy();
    const again = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), SNAPSHOT_OFTEN);
    await again.loaded;
    expect(again.ydoc.getText("body").toString()).toContain("[refused]");
    await bob.group(GROUP).discardRefused(again.doc!);
    await aliceTypesAndAFreshReaderHoldsOnlyHers(h, alice, a, docId);
  });
});

/** Alice (the creator) and bob (a writer whose session sorts first) on a new Yjs document of alice's; her provider snapshots often. */
async function aliceAndAnEarlierWriter() {
  const h = setup();
  const [first, second] = [createIdentity(), createIdentity()].sort((x, y) => (x.agent < y.agent ? -1 : 1));
  const [bob, alice] = [await h.client({ name: "bob", identity: first! }), await h.client({ name: "alice", identity: second! })];
  const docId = alice.group(GROUP).create({ kind: "yjs" }).id;
  await alice.group(GROUP).synced();
  const a = new WeftProvider(alice.group(GROUP), docId, new Y.Doc(), SNAPSHOT_OFTEN);
  await a.loaded;
  const bobDoc = await bob.group(GROUP).open(docId);
  return { alice, bob, a, bobDoc };
}

/** Pastes 10,000 characters and takes them out again, `rounds` times: the log grows by about 10 KB a round, the state hardly. */
async function churn(provider: WeftProvider, rounds: number): Promise<void> {
  const text = provider.ydoc.getText("body");
  for (let round = 0; round < rounds; round++) {
    text.insert(0, random(10_000));
    await settle();
    text.delete(0, 10_000);
    await settle();
  }
  await provider.doc!.synced();
  await settle();
}

describe("automatic snapshots held back by another member", () => {
  it("a writer offering to take them, which it may not, whose session sorts first, holds them back only until the log is overdue; then the creator takes one", async () => {
    const { alice, bob, a, bobDoc } = await aliceAndAnEarlierWriter();
    expect(bob.session < alice.session).toBe(true);
    bobDoc.presence.set({ [OFFERS_SNAPSHOTS]: true });
    await until(() => [...a.doc!.presence.peers.values()].some((peer) => peer.session === bob.session), 2_000);
    await churn(a, 5);
    expect(a.doc!.lastSnapshotted).toBeUndefined(); // due, and waiting on bob
    await churn(a, 25);
    await until(() => a.doc!.lastSnapshotted?.session === alice.session, 2_000);
  });

  it("an update of another writer whose last part never comes holds them back only until the log is overdue; the snapshot covers none of it", async () => {
    const { alice, bob, a, bobDoc } = await aliceAndAnEarlierWriter();
    const scratch = new Y.Doc();
    scratch.getText("body").insert(0, random(150_000));
    bobDoc.append(payloadToData(encodeUpdatePayloads(Y.encodeStateAsUpdate(scratch), 100_000)[0]!));
    await until(() => a.doc!.transactions().some((transaction) => transaction.session === bob.session), 2_000);
    await churn(a, 5);
    expect(a.doc!.lastSnapshotted).toBeUndefined(); // due, and waiting on bob's last part
    await churn(a, 25);
    await until(() => a.doc!.lastSnapshotted?.session === alice.session, 2_000);
    expect(a.doc!.lastSnapshotted!.covers[bob.session]).toBeUndefined();
  });
});

describe("a snapshot the app takes by hand (README: doc.snapshot(Y.encodeStateAsUpdate(ydoc)))", () => {
  it("while another writer's large paste is half received covers none of it: an editor that loads the snapshot gets all of the paste", async () => {
    const h = setup();
    const [alice, bob, carol] = [await h.client({ name: "alice" }), await h.client({ name: "bob" }), await h.client({ name: "carol" })];
    const groupA = alice.group(GROUP);
    const docId = groupA.create({ kind: "yjs" }).id;
    await groupA.synced();
    const a = new WeftProvider(groupA, docId, new Y.Doc(), { snapshots: false });
    await a.loaded;
    const errors: unknown[] = [];
    a.on("error", (error) => errors.push(error));
    a.ydoc.getText("body").insert(0, "hello ");
    await a.doc!.synced();

    // Bob's paste travels in 3 parts; alice takes her snapshot once the first 2 have reached her.
    const scratch = new Y.Doc();
    scratch.getText("body").insert(0, random(250_000));
    const parts = encodeUpdatePayloads(Y.encodeStateAsUpdate(scratch), 100_000);
    expect(parts).toHaveLength(3);
    const bobDoc = await bob.group(GROUP).open(docId);
    for (const part of parts.slice(0, 2)) bobDoc.append(payloadToData(part));
    await until(() => countOf(a.doc!.relayKnown, bob.session) === 2 && countOf(a.doc!.known, bob.session) === 2, 5_000);
    await a.doc!.snapshot(Y.encodeStateAsUpdate(a.ydoc));
    bobDoc.append(payloadToData(parts[2]!));
    await until(() => a.ydoc.getText("body").length === 6 + 250_000, 5_000);

    const c = new WeftProvider(carol.group(GROUP), docId, new Y.Doc(), { snapshots: false });
    c.on("error", (error) => errors.push(error));
    await c.loaded;
    expect(c.doc!.heldSnapshot?.session).toBe(alice.session);
    expect(c.ydoc.getText("body").toString()).toBe(a.ydoc.getText("body").toString());
    expect(errors).toEqual([]);
    // It covered alice's "hello " alone: bob's parts stay in the log, after it.
    expect(a.doc!.lastSnapshotted?.covers).toEqual({ [alice.session]: 1 });
  });

  it("is refused from a Y.Doc that holds edits the relay refused, which it would publish", async () => {
    const { bob, b, a } = await bobTypedAndRefused();
    // Alice's edit, which the relay confirmed and bob's Y.Doc holds: a snapshot would cover something.
    a.ydoc.getText("body").insert(0, "alice ");
    await until(() => b.ydoc.getText("body").toString().includes("alice"), 2_000);
    expect(() => b.doc!.snapshot(Y.encodeStateAsUpdate(b.ydoc))).toThrow(expect.objectContaining({ code: "snapshot_refused" }));
    await bob.group(GROUP).discardRefused(b.doc!);
    expect(b.diverged).toBe(true);
    expect(() => b.doc!.snapshot(Y.encodeStateAsUpdate(b.ydoc))).toThrow(expect.objectContaining({ code: "snapshot_refused" }));
  });
});

describe("a Y.Doc whose refused edits were discarded", () => {
  it("is replaced by a fresh one, which takes in the discarded edits another tab of the agent got stored meanwhile, as any replica does", async () => {
    const { h, alice, bob, b, docId } = await bobTypedAndRefused();
    // Cut off, bob's tab does not hear another tab of his, on the same store, get the refused edits stored.
    const reconnect = h.cutOff(bob);
    const other = await h.client({ name: "bob-other", identity: bob.identity, store: bob.store });
    await other.group(GROUP).open(docId);
    await until(() => countOf(h.relay.store.knownState(docId), bob.session) > 0, 5_000);
    await bob.group(GROUP).discardRefused(b.doc!);
    b.destroy();
    const fresh = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), { snapshots: false });
    await fresh.loaded;
    expect(fresh.ydoc.getText("body").toString()).not.toContain("[refused]");
    reconnect();
    await until(() => fresh.ydoc.getText("body").toString().includes("[refused]"), 5_000);
    const reader = await h.client({ name: "reader", identity: alice.identity });
    const c = new WeftProvider(reader.group(GROUP), docId, new Y.Doc(), { snapshots: false });
    await c.loaded;
    expect(fresh.ydoc.getText("body").toString()).toBe(c.ydoc.getText("body").toString());
  });

  it("sends none of its later edits, which would build on the discarded ones and no replica could apply, and says so once", async () => {
    const { h, alice, a, bob, b, docId, errors } = await bobTypedAndRefused();
    const held = transactionCount(b.doc!.known);
    expect(b.diverged).toBe(false);
    await bob.group(GROUP).discardRefused(b.doc!);
    expect(b.diverged).toBe(true);
    expect(errors).toHaveLength(2);
    expect(errors[1]).toBeInstanceOf(DivergedError);
    expect(errors[1]).toMatchObject({ doc: docId, name: "DivergedError" });

    // Typed after the discard, next to the discarded text: Yjs elsewhere would wait for the discarded edits for ever.
    b.ydoc.getText("body").insert(0, "[after] ");
    await settle();
    expect(transactionCount(b.doc!.known)).toBeLessThan(held);
    expect(b.doc!.hasUnsynced).toBe(false);
    expect(errors).toHaveLength(2);
    await aliceTypesAndAFreshReaderHoldsOnlyHers(h, alice, a, docId);
    expect(a.ydoc.store.pendingStructs).toBeNull();

    // A fresh Y.Doc bound to the document shows it as it is and edits it again.
    b.destroy();
    const fresh = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), { snapshots: false });
    await fresh.loaded;
    expect(fresh.diverged).toBe(false);
    expect(fresh.ydoc.getText("body").toString()).toBe(a.ydoc.getText("body").toString());
    fresh.ydoc.getText("body").insert(0, "bob ");
    await untilEvent(a.ydoc, "update", () => a.ydoc.getText("body").toString().startsWith("bob "));
    expect(a.ydoc.store.pendingStructs).toBeNull();
  });

  it("sent again instead (retryRefused), its edits count, and it takes snapshots again", async () => {
    const { bob, b, a, errors } = await bobTypedAndRefused();
    bob.group(GROUP).retryRefused(b.doc!);
    await b.doc!.synced();
    await untilEvent(a.ydoc, "update", () => a.ydoc.getText("body").toString() === "[refused] ");
    expect(b.diverged).toBe(false);
    expect(errors).toHaveLength(1);
    for (let i = 0; i < 60; i++) {
      b.ydoc.getText("body").insert(0, "b");
      await settle(2);
    }
    await b.doc!.synced();
    await until(() => b.doc!.lastSnapshotted?.session === bob.session, 2_000);
  });
});

describe("edits typed while the agent may not write the document", () => {
  it("wait in the provider, unsent and said once, and go once it may write: every Y.Doc converges, nothing is refused", async () => {
    const { alice, a, bob, b, errors } = await bobWrites();
    await alice.group(GROUP).setRole(bob.identity.agent, "reader");
    await until(() => bob.group(GROUP).role === "reader", 2_000);
    b.ydoc.getText("body").insert(0, "[waited] ");
    await settle();
    b.ydoc.getText("body").insert(0, "[twice] ");
    await settle();
    expect(b.waitingToWrite).toBe(true);
    expect(errors).toMatchObject([{ name: "LocalRefusalError", code: "forbidden" }]);
    expect(b.doc!.hasUnsynced).toBe(false);
    expect(bob.group(GROUP).refused()).toEqual([]);
    expect(a.ydoc.getText("body").toString()).toBe("");

    await alice.group(GROUP).setRole(bob.identity.agent, "writer");
    await untilEvent(a.ydoc, "update", () => a.ydoc.getText("body").toString() === "[twice] [waited] ");
    expect(b.waitingToWrite).toBe(false);
    expect(a.ydoc.store.pendingStructs).toBeNull();
    expect(errors).toHaveLength(1);
    expect(bob.group(GROUP).refused()).toEqual([]);
    await b.doc!.synced();
  });
});

describe("edits in flight when the agent is made a reader", () => {
  it("are refused, and go with everything typed after them once it may write again: every Y.Doc converges without retryRefused", async () => {
    const { h, alice, a, bob, b, docId } = await bobWrites();
    const refusedDocs: string[] = [];
    bob.group(GROUP).onRefused((refused) => refusedDocs.push(refused.doc.id));
    // Bob's edit is on its way when the relay hears he is a reader: it is refused, as the relay must.
    h.relay.refuseContent = (message) => {
      if (message.doc !== docId || !(bob.session in message.sessions)) return undefined;
      h.relay.refuseContent = undefined;
      void alice.group(GROUP).setRole(bob.identity.agent, "reader");
      return "forbidden";
    };
    b.ydoc.getText("body").insert(0, "[in flight] ");
    await until(() => refusedDocs.length === 1 && bob.group(GROUP).role === "reader", 2_000);
    expect(b.doc!.refused).toBe(true);

    await alice.group(GROUP).setRole(bob.identity.agent, "writer");
    await until(() => bob.group(GROUP).role === "writer", 2_000);
    b.ydoc.getText("body").insert(b.ydoc.getText("body").length, "[after]");
    await untilEvent(a.ydoc, "update", () => a.ydoc.getText("body").toString() === "[in flight] [after]");
    await b.doc!.synced();
    expect(b.doc!.refused).toBe(false);
    expect(bob.group(GROUP).refused()).toEqual([]);
    expect(Y.encodeStateVector(a.ydoc)).toEqual(Y.encodeStateVector(b.ydoc));
  });
});

describe("edits waiting for a writing role, when the provider is destroyed", () => {
  it("are dropped with it, as documented: nothing of them is appended once the agent may write", async () => {
    const { alice, a, bob, b } = await bobWrites();
    await alice.group(GROUP).setRole(bob.identity.agent, "reader");
    await until(() => bob.group(GROUP).role === "reader", 2_000);
    b.ydoc.getText("body").insert(0, "[dropped] ");
    await settle();
    expect(b.waitingToWrite).toBe(true);
    const held = b.doc!;
    b.destroy();
    await alice.group(GROUP).setRole(bob.identity.agent, "writer");
    await until(() => bob.group(GROUP).role === "writer", 2_000);
    await settle();
    expect(held.sessionTransactions(bob.session)).toEqual([]);
    expect(a.ydoc.getText("body").toString()).toBe("");
  });
});

/** Alice's group, where bob and his provider are writers. */
async function bobWrites() {
  const h = setup();
  const alice = await h.client({ name: "alice" });
  const groupA = alice.group(GROUP);
  await groupA.createMembers().synced();
  const bobIdentity = createIdentity();
  await groupA.setRole(bobIdentity.agent, "writer");
  const docId = groupA.create({ kind: "yjs" }).id;
  await groupA.synced();
  const a = new WeftProvider(groupA, docId, new Y.Doc(), { snapshots: false });
  const bob = await h.client({ name: "bob", identity: bobIdentity, url: CUT_OFF_URL });
  const b = new WeftProvider(bob.group(GROUP), docId, new Y.Doc(), SNAPSHOT_OFTEN);
  await Promise.all([a.loaded, b.loaded]);
  const errors: unknown[] = [];
  b.on("error", (error) => errors.push(error));
  return { h, alice, a, bob, b, docId, errors };
}

/**
 * Alice's group, where bob is an admin (a writer could not snapshot alice's document) whose provider leads
 * snapshots, and typed an edit the relay refused for a reason no role lifts (a quota): it is held back.
 */
async function bobTypedAndRefused() {
  const written = await bobWrites();
  const { h, alice, bob, b, docId } = written;
  await alice.group(GROUP).setRole(bob.identity.agent, "admin");
  await until(() => bob.group(GROUP).role === "admin", 2_000);
  h.relay.refuseContent = (message) => (message.doc === docId && bob.session in message.sessions ? "quota_exceeded" : undefined);
  b.ydoc.getText("body").insert(0, "[refused] ");
  await until(() => b.doc!.refused, 2_000);
  h.relay.refuseContent = undefined;
  return written;
}

/** Alice types 60 characters; then a fresh reader, from the relay, must hold exactly her text. */
async function aliceTypesAndAFreshReaderHoldsOnlyHers(h: ReturnType<typeof setup>, alice: Client, a: WeftProvider, docId: DocId) {
  for (let i = 0; i < 60; i++) {
    a.ydoc.getText("body").insert(a.ydoc.getText("body").length, "a");
    await settle(2);
  }
  await a.doc!.synced();
  await settle();
  expect(a.doc!.lastSnapshotted).toBeUndefined();
  const reader = await h.client({ name: "reader", identity: alice.identity });
  const c = new WeftProvider(reader.group(GROUP), docId, new Y.Doc(), { snapshots: false });
  await c.loaded;
  expect(c.ydoc.getText("body").toString()).toBe("a".repeat(60));
}
