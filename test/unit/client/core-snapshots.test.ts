// Transcript tests of snapshots in the client core (client/core/snapshots.ts, doc-state.ts): publishing
// one (what it covers, what is refused locally, how its promise settles in every case), receiving one
// (the document then holds it plus the transactions after it), and going on from one after a restart.
import { describe, expect, it } from "vitest";
import { GENESIS_HASH, MEMBERS_KIND, chainHash, signSnapshot, verifyCheckpoint, type Content, type SessionCounts, type SnapshotMessage, type Transaction } from "../../../protocol/index.ts";
import { heldCount, knownOf, markDeleted, newDocState, unsavedOf } from "../../../client/core/doc-state.ts";
import { orderedTransactions } from "../../../client/core/ordered-view.ts";
import { coversOf, snapshotProblem } from "../../../client/core/snapshots.ts";
import { transactions } from "../../support/identity.ts";
import { ack, alice, bob, contentFrom, coreScenario, doc1, knownLoad } from "./core-transcript.ts";

const bobSays = transactions(6, "bob");

/** A snapshot signed by `who` (bob by default), as the relay sends it. */
function snapshotBy(covers: SessionCounts, data: SnapshotMessage["data"] = "state", who = bob): SnapshotMessage {
  return { type: "snapshot", doc: doc1.id, session: who.session, covers, data, signature: signSnapshot(who.secretKey, doc1.id, who.session, covers, data) };
}

/** Alice with doc1 open: 3 own transactions acked, 4 of bob's received. */
function aliceWithHistory() {
  const core = coreScenario(alice);
  core.start();
  core.connect();
  core.create(doc1);
  core.relay(knownLoad(doc1.id, false));
  for (const data of ["a0", "a1", "a2"]) core.append(doc1.id, data);
  core.pump();
  core.relay(ack(doc1.id, { [alice.session]: 3 }));
  core.relay(contentFrom(bob, doc1, 0, bobSays.slice(0, 4)));
  core.pump();
  core.transcript();
  return core;
}

describe("publishing a snapshot", () => {
  it("covers what the relay confirmed of what the client holds, resolves on snapshotted, and the document then starts from it", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    const ownBefore = ownLogOf(core);
    core.append(doc1.id, "a3"); // not acknowledged: not covered
    core.transcript();
    const covers = coversOf(doc);
    expect(covers).toEqual({ [alice.session]: 3, [bob.session]: 4 });
    expect(snapshotProblem(doc, "writer", alice.agent, covers)).toBeUndefined();
    core.feed({ type: "snapshot", doc: doc1.id, data: "a0..a2 b0..b3", covers });
    core.relay({ type: "snapshotted", doc: doc1.id, session: alice.session, covers });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | snapshot doc1 covers {alice:3, bob:4}",
        "c -> relay | snapshot doc1 by alice covers {alice:3, bob:4} text 13",
        "relay -> c | snapshotted doc1 by alice covers {alice:3, bob:4}",
        "c | snapshot:doc1:{"bob":4,"alice":3} resolves",
        "c | changed doc1 +0 snapshotted by alice",
        "c | flush doc1",
      ]
    `);
    // What it covers is no longer held; counts and indexes stay the session's.
    expect(doc.snapshot?.covers).toEqual(covers);
    expect(knownOf(doc).sessions).toEqual({ [alice.session]: 4, [bob.session]: 4 });
    expect(orderedTransactions(doc).map((transaction) => [transaction.data, transaction.index])).toEqual([["a3", 3]]);
    // The local store gets the snapshot (with where each log starts) and what follows it.
    const changes = unsavedOf(doc, alice.session)!;
    expect(changes.snapshot?.bases).toEqual(covers);
    expect(changes.snapshot?.baseHashes).toEqual({ [alice.session]: chainHash(GENESIS_HASH, ownBefore) });
    expect(changes.appends).toEqual([{ session: alice.session, after: 3, transactions: [expect.objectContaining({ data: "a3" })] }]);
  });

  it("goes on signing its own chain from the snapshot: pushes after it verify against the whole session", async () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    const ownBefore = [...doc.sessions.get(alice.session)!];
    const covers = coversOf(doc);
    core.feed({ type: "snapshot", doc: doc1.id, data: "state", covers });
    core.relay({ type: "snapshotted", doc: doc1.id, session: alice.session, covers });
    expect(doc.sessions.get(alice.session)).toEqual([]);
    core.append(doc1.id, "a3", 1_700_000_200_000);
    core.append(doc1.id, "a4", 1_700_000_200_001);
    core.transcript();
    const frame = pushed(core);
    expect(core.transcript().find((line) => line.startsWith("c -> relay | content"))).toBe("c -> relay | content doc1 alice after=3 n=2");
    const all: Transaction[] = [...ownBefore, ...ownLogOf(core)];
    const chunk = frame.sessions[alice.session]!;
    expect(await verifyCheckpoint(chunk.signature, doc1.id, alice.session, all.length, chainHash(GENESIS_HASH, all))).toBe(true);
  });

  it("is refused locally with the relay's code: nothing new to cover, the membership log, a reader, a writer its readers leave out, a deleted document", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    const covers = coversOf(doc);
    expect(snapshotProblem(doc, "reader", alice.agent, covers)?.[0]).toBe("forbidden");
    // A writer whose document's readers leave it out (held from when it was an admin); an admin may.
    const restricted = newDocState(doc1.id, { ...doc1.header, readers: [] });
    expect(snapshotProblem(restricted, "writer", bob.agent, covers)?.[0]).toBe("forbidden");
    expect(snapshotProblem(restricted, "admin", bob.agent, covers)).toBeUndefined();
    core.feed({ type: "snapshot", doc: doc1.id, data: "s", covers });
    // The same covers again while the first waits, or after it was stored: stale.
    expect(snapshotProblem(doc, "writer", alice.agent, covers)?.[0]).toBe("snapshot_refused");
    core.relay({ type: "snapshotted", doc: doc1.id, session: alice.session, covers });
    expect(snapshotProblem(doc, "writer", alice.agent, coversOf(doc))?.[0]).toBe("snapshot_refused");
    // Another writer's newer snapshot heard of: covering less than it is stale too.
    core.relay(contentFrom(bob, doc1, 4, bobSays.slice(4, 5)));
    core.relay({ type: "snapshotted", doc: doc1.id, session: bob.session, covers: { ...covers, [bob.session]: 5 } });
    expect(coversOf(doc)).toEqual({ ...covers, [bob.session]: 5 });
    expect(snapshotProblem(doc, "writer", alice.agent, coversOf(doc))?.[0]).toBe("snapshot_refused");
    const members = newDocState(doc1.id, { ...doc1.header, kind: MEMBERS_KIND });
    expect(snapshotProblem(members, "admin", alice.agent, { [alice.session]: 1 })?.[0]).toBe("snapshot_refused");
    const deleted = newDocState(doc1.id, doc1.header);
    markDeleted(deleted);
    expect(snapshotProblem(deleted, "admin", alice.agent, { [alice.session]: 1 })?.[0]).toBe("doc_deleted");
    const fresh = coreScenario(alice);
    fresh.start();
    fresh.create(doc1);
    expect(snapshotProblem(fresh.state.docs.get(doc1.id)!, "writer", alice.agent, coversOf(fresh.state.docs.get(doc1.id)!))?.[0]).toBe("snapshot_refused");
  });

  it("settles in every case: refused by the relay (writes untouched), forbidden, sent again after a reconnect, the group closed, the document deleted", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    core.feed({ type: "snapshot", doc: doc1.id, data: "s1", covers: coversOf(doc) });
    core.relay({ type: "error", code: "snapshot_refused", message: "stale", doc: doc1.id });
    // A forbidden while no write is in flight answers the snapshot, not the writes.
    core.relay(contentFrom(bob, doc1, 4, bobSays.slice(4, 5)));
    core.feed({ type: "snapshot", doc: doc1.id, data: "s2", covers: coversOf(doc) });
    core.relay({ type: "error", code: "forbidden", message: "not a writer", doc: doc1.id });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | snapshot doc1 covers {alice:3, bob:4}",
        "c -> relay | snapshot doc1 by alice covers {alice:3, bob:4} text 2",
        "relay -> c | error snapshot_refused doc1 "stale"",
        "c | snapshot:doc1:{"bob":4,"alice":3} rejects snapshot_refused",
        "c | report snapshot_refused doc1",
        "relay -> c | content doc1 bob after=4 n=1",
        "c | changed doc1 +1",
        "c | flush doc1",
        "app | snapshot doc1 covers {alice:3, bob:5}",
        "c -> relay | snapshot doc1 by alice covers {alice:3, bob:5} text 2",
        "relay -> c | error forbidden doc1 "not a writer"",
        "c | snapshot:doc1:{"bob":5,"alice":3} rejects forbidden",
        "c | report forbidden doc1",
      ]
    `);
    expect(doc.refusal).toBeUndefined();
    // Offline: kept, sent once the next socket is ready; closing rejects it.
    core.feed({ type: "down" });
    core.feed({ type: "snapshot", doc: doc1.id, data: "s3", covers: coversOf(doc) });
    core.connect();
    core.close("not a member");
    expect(core.transcript().filter((line) => line.includes("snapshot"))).toEqual([
      "app | snapshot doc1 covers {alice:3, bob:5}",
      "c -> relay | snapshot doc1 by alice covers {alice:3, bob:5} text 2",
      'c | snapshot:doc1:{"bob":5,"alice":3} rejects ClosedError',
    ]);
    const other = aliceWithHistory();
    other.feed({ type: "snapshot", doc: doc1.id, data: "s", covers: coversOf(other.state.docs.get(doc1.id)!) });
    other.relay({ type: "deleted", doc: doc1.id });
    expect(other.transcript()).toContain('c | snapshot:doc1:{"bob":4,"alice":3} rejects doc_deleted');
  });

  it("a frame refused without a document named while no write is in flight refuses the snapshots sent, so they are not sent again at every connection", () => {
    const core = aliceWithHistory();
    core.feed({ type: "snapshot", doc: doc1.id, data: "s1", covers: coversOf(core.state.docs.get(doc1.id)!) });
    core.relay({ type: "error", code: "frame_too_large", message: "frame exceeds 1000000 bytes" });
    core.feed({ type: "down" });
    core.connect();
    expect(core.transcript().filter((line) => /snapshot|drop/.test(line))).toEqual([
      "app | snapshot doc1 covers {alice:3, bob:4}",
      "c -> relay | snapshot doc1 by alice covers {alice:3, bob:4} text 2",
      'c | snapshot:doc1:{"bob":4,"alice":3} rejects frame_too_large',
      "c | drop: the relay refused a frame: frame_too_large: frame exceeds 1000000 bytes",
    ]);
  });

  it("a quota_exceeded while no write is in flight answers the snapshot (the relay counts its data against the quota), not the writes", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    core.feed({ type: "snapshot", doc: doc1.id, data: "s".repeat(100), covers: coversOf(doc) });
    core.relay({ type: "error", code: "quota_exceeded", message: "an agent may store at most 1073741824 bytes", doc: doc1.id });
    expect(core.transcript().slice(-3)).toEqual([
      'relay -> c | error quota_exceeded doc1 "an agent may store at most 1073741824 bytes"',
      'c | snapshot:doc1:{"bob":4,"alice":3} rejects quota_exceeded',
      "c | report quota_exceeded doc1",
    ]);
    expect(doc.pendingSnapshots).toEqual([]);
    expect(doc.refusal).toBeUndefined();
    // Its writes go on being pushed.
    core.append(doc1.id, "a3");
    core.pump();
    expect(core.transcript()).toContain("c -> relay | content doc1 alice after=3 n=1");
  });
});

describe("a snapshot and a delete of its document waiting together", () => {
  it("each takes its own answer: the delete's refusal does not settle a snapshot sent after it", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    const covers = coversOf(doc);
    // Demoted from admin at the relay, before the delete arrives: it is refused, the snapshot stored.
    core.feed({ type: "delete", doc: doc1.id });
    core.feed({ type: "snapshot", doc: doc1.id, data: "s", covers });
    core.relay({ type: "error", code: "forbidden", message: "only admins delete", doc: doc1.id });
    core.relay({ type: "snapshotted", doc: doc1.id, session: alice.session, covers });
    const settled = core.transcript().filter((line) => line.startsWith("c | delete:") || line.startsWith("c | snapshot:"));
    expect(settled).toEqual(["c | delete:doc1 rejects forbidden", 'c | snapshot:doc1:{"bob":4,"alice":3} resolves']);
  });

  it("and a refusal of a snapshot sent before the delete settles the snapshot, then the delete's its delete", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    core.feed({ type: "snapshot", doc: doc1.id, data: "s", covers: coversOf(doc) });
    core.feed({ type: "delete", doc: doc1.id });
    core.relay({ type: "error", code: "forbidden", message: "not a writer", doc: doc1.id });
    core.relay({ type: "error", code: "forbidden", message: "only admins delete", doc: doc1.id });
    const settled = core.transcript().filter((line) => line.startsWith("c | delete:") || line.startsWith("c | snapshot:"));
    expect(settled).toEqual(['c | snapshot:doc1:{"bob":4,"alice":3} rejects forbidden', "c | delete:doc1 rejects forbidden"]);
  });
});

describe("a snapshot whose answer was lost", () => {
  it("resolves when the relay answers its re-send with a newer snapshot it stored meanwhile (another writer's), and the document starts from its own", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    const covers = coversOf(doc);
    core.feed({ type: "snapshot", doc: doc1.id, data: "a0..a2 b0..b3", covers });
    // The relay stored it, then the connection dropped before its answer arrived.
    core.feed({ type: "down" });
    core.transcript();
    core.connect();
    // Meanwhile bob stored a snapshot covering more: the relay answers the re-send with that one.
    const bobs = { [alice.session]: 3, [bob.session]: 5 };
    core.relay({ type: "snapshotted", doc: doc1.id, session: bob.session, covers: bobs });
    const lines = core.transcript().filter((line) => line.includes("snapshot") || line.includes("report"));
    expect(lines).toMatchInlineSnapshot(`
      [
        "c -> relay | snapshot doc1 by alice covers {alice:3, bob:4} text 13",
        "relay -> c | snapshotted doc1 by bob covers {alice:3, bob:5}",
        "c | snapshot:doc1:{"bob":4,"alice":3} resolves",
        "c | changed doc1 +0 snapshotted by bob",
      ]
    `);
    expect(doc.pendingSnapshots).toEqual([]);
    // Whose snapshot is stored is what the app reads; here the document starts from its own (what it covers is stored).
    expect(doc.snapshotted).toEqual({ session: bob.session, covers: bobs });
    expect(doc.snapshot?.covers).toEqual(covers);
    expect(orderedTransactions(doc)).toEqual([]);
  });

  it("two of its own, both stored and both answers lost: the first re-sent is answered with the second, and both resolve", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    core.feed({ type: "snapshot", doc: doc1.id, data: "s1", covers: coversOf(doc) });
    core.relay(contentFrom(bob, doc1, 4, bobSays.slice(4, 5)));
    core.feed({ type: "snapshot", doc: doc1.id, data: "s2", covers: coversOf(doc) });
    core.feed({ type: "down" });
    core.transcript();
    core.connect();
    const second = { [alice.session]: 3, [bob.session]: 5 };
    core.relay({ type: "snapshotted", doc: doc1.id, session: alice.session, covers: second });
    core.relay({ type: "snapshotted", doc: doc1.id, session: alice.session, covers: second });
    expect(core.transcript().filter((line) => line.includes("snapshot"))).toEqual([
      "c -> relay | snapshot doc1 by alice covers {alice:3, bob:4} text 2",
      "c -> relay | snapshot doc1 by alice covers {alice:3, bob:5} text 2",
      "relay -> c | snapshotted doc1 by alice covers {alice:3, bob:5}",
      'c | snapshot:doc1:{"bob":4,"alice":3} resolves',
      'c | snapshot:doc1:{"bob":5,"alice":3} resolves',
      "c | changed doc1 +0 snapshotted by alice",
      "relay -> c | snapshotted doc1 by alice covers {alice:3, bob:5}",
      "c | changed doc1 +0 snapshotted by alice",
    ]);
    expect(doc.snapshot?.data).toBe("s2");
  });

  it("resolves when another writer's snapshot covering it is stored while its answer is on the way; a snapshot neither newer nor covered is still refused", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    core.feed({ type: "snapshot", doc: doc1.id, data: "s1", covers: coversOf(doc) });
    core.relay({ type: "snapshotted", doc: doc1.id, session: bob.session, covers: { [alice.session]: 3, [bob.session]: 4 } });
    // The relay's own answer to it comes after, naming the stored one again: nothing more happens.
    core.relay({ type: "snapshotted", doc: doc1.id, session: bob.session, covers: { [alice.session]: 3, [bob.session]: 4 } });
    core.relay(contentFrom(bob, doc1, 4, bobSays.slice(4, 6)));
    core.relay(ack(doc1.id, { [alice.session]: 3 }));
    core.feed({ type: "snapshot", doc: doc1.id, data: "s2", covers: coversOf(doc) });
    core.relay({ type: "snapshotted", doc: doc1.id, session: bob.session, covers: { [alice.session]: 2, [bob.session]: 6 } });
    core.relay({ type: "error", code: "snapshot_refused", message: "stale", doc: doc1.id });
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | snapshot doc1 covers {alice:3, bob:4}",
        "c -> relay | snapshot doc1 by alice covers {alice:3, bob:4} text 2",
        "relay -> c | snapshotted doc1 by bob covers {alice:3, bob:4}",
        "c | snapshot:doc1:{"bob":4,"alice":3} resolves",
        "c | changed doc1 +0 snapshotted by bob",
        "c | flush doc1",
        "relay -> c | snapshotted doc1 by bob covers {alice:3, bob:4}",
        "c | changed doc1 +0 snapshotted by bob",
        "relay -> c | content doc1 bob after=4 n=2",
        "c | changed doc1 +2",
        "c | flush doc1",
        "relay -> c | known doc1 {alice:3} ack",
        "c | flush doc1",
        "app | snapshot doc1 covers {alice:3, bob:6}",
        "c -> relay | snapshot doc1 by alice covers {alice:3, bob:6} text 2",
        "relay -> c | snapshotted doc1 by bob covers {alice:2, bob:6}",
        "c | changed doc1 +0 snapshotted by bob",
        "relay -> c | error snapshot_refused doc1 "stale"",
        "c | snapshot:doc1:{"bob":6,"alice":3} rejects snapshot_refused",
        "c | report snapshot_refused doc1",
      ]
    `);
  });
});

describe("receiving a snapshot", () => {
  it("a fresh load gets the header, the snapshot and what follows it: the document holds exactly that", () => {
    const core = coreScenario(alice);
    core.start();
    core.connect();
    core.feed({ type: "open", doc: doc1.id });
    const snapshot = snapshotBy({ [bob.session]: 4 }, Uint8Array.of(1, 2, 3));
    core.relay({ type: "content", doc: doc1.id, header: doc1.header, sessions: {} });
    core.feed({ type: "snapshotReceived", snapshot, verified: true });
    core.relay(contentFrom(bob, doc1, 4, bobSays.slice(4, 6)));
    core.relay(knownLoad(doc1.id, true, { [bob.session]: 6 }));
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "store | restored ",
        "socket | hello sent",
        "relay -> c | welcome v=1 role=writer",
        "c | keep role writer",
        "c | status live",
        "app | open doc1",
        "c | status syncing",
        "c -> relay | load doc1 (no header) {}",
        "relay -> c | content doc1 +header ",
        "c | changed doc1 +0",
        "c | flush doc1",
        "relay -> c | snapshot doc1 by bob covers {bob:4} bytes 3",
        "c | changed doc1 +0 snapshot covers {bob:4} snapshotted by bob",
        "c | flush doc1",
        "relay -> c | content doc1 bob after=4 n=2",
        "c | changed doc1 +2",
        "c | flush doc1",
        "relay -> c | known doc1 {bob:6} load",
        "c | loaded:doc1 resolves",
        "c | open:doc1 resolves",
        "c | status live",
        "c | flush doc1",
      ]
    `);
    const doc = core.state.docs.get(doc1.id)!;
    expect(doc.snapshot?.data).toEqual(Uint8Array.of(1, 2, 3));
    expect(knownOf(doc)).toEqual({ header: true, sessions: { [bob.session]: 6 } });
    expect(orderedTransactions(doc).map((transaction) => transaction.index)).toEqual([4, 5]);
    const changes = unsavedOf(doc, alice.session)!;
    expect(changes.snapshot?.bases).toEqual({ [bob.session]: 4 });
    expect(changes.appends).toEqual([{ session: bob.session, after: 4, transactions: bobSays.slice(4, 6) }]);
  });

  it("a peer behind the snapshot drops what it covers and keeps what follows; an older or repeated one changes nothing", () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    core.feed({ type: "snapshotReceived", snapshot: snapshotBy({ [alice.session]: 2, [bob.session]: 5 }), verified: true });
    expect(doc.bases).toEqual(new Map([[alice.session, 2], [bob.session, 5]]));
    expect(heldCount(doc, bob.session)).toBe(5);
    expect(heldCount(doc, alice.session)).toBe(3);
    expect(orderedTransactions(doc).map((transaction) => transaction.data)).toEqual(["a2"]);
    core.transcript();
    core.feed({ type: "snapshotReceived", snapshot: snapshotBy({ [alice.session]: 1 }), verified: true });
    core.feed({ type: "snapshotReceived", snapshot: snapshotBy({ [alice.session]: 2, [bob.session]: 5 }), verified: true });
    expect(core.transcript()).toEqual([
      "relay -> c | snapshot doc1 by bob covers {alice:1} text 5",
      "relay -> c | snapshot doc1 by bob covers {alice:2, bob:5} text 5",
    ]);
    // The content after it continues the session from the snapshot on.
    core.relay(contentFrom(bob, doc1, 5, bobSays.slice(5, 6)));
    expect(core.transcript()).toEqual(["relay -> c | content doc1 bob after=5 n=1", "c | changed doc1 +1", "c | flush doc1"]);
  });

  it("a forged snapshot is dropped and reported, and the gap after it does not load again on this socket", () => {
    const core = coreScenario(alice);
    core.start();
    core.connect();
    core.feed({ type: "open", doc: doc1.id });
    core.relay({ type: "content", doc: doc1.id, header: doc1.header, sessions: {} });
    core.transcript();
    const forged = { ...snapshotBy({ [bob.session]: 4 }), data: "not what was signed" };
    core.feed({ type: "snapshotReceived", snapshot: forged, verified: false });
    core.relay(contentFrom(bob, doc1, 4, bobSays.slice(4, 6)));
    expect(core.transcript()).toEqual([
      "relay -> c | snapshot doc1 by bob covers {bob:4} text 19 (does not verify)",
      "c | report bad_signature doc1",
      "relay -> c | content doc1 bob after=4 n=2",
      "c | flush doc1",
    ]);
    expect(core.state.docs.get(doc1.id)!.snapshot).toBeUndefined();
  });

  it("a restart from a stored snapshot says what it holds from it, and own pushes go on from its chain hash", async () => {
    const core = aliceWithHistory();
    const doc = core.state.docs.get(doc1.id)!;
    const ownBefore = [...doc.sessions.get(alice.session)!];
    core.feed({ type: "snapshotReceived", snapshot: snapshotBy({ [alice.session]: 3, [bob.session]: 4 }), verified: true });
    core.append(doc1.id, "a3", 1_700_000_200_000);
    const stored = { id: doc1.id, header: doc1.header, ...unsavedOf(doc, alice.session)! };
    expect(stored.snapshot?.baseHashes[alice.session]).toBe(chainHash(GENESIS_HASH, ownBefore));
    const restarted = coreScenario(alice);
    restarted.start([{ id: doc1.id, header: doc1.header, sessions: { [alice.session]: stored.appends.find((append) => append.session === alice.session)!.transactions }, snapshot: stored.snapshot! }]);
    restarted.connect();
    expect(restarted.transcript().find((line) => line.includes("load"))).toBe("c -> relay | load doc1 {alice:4, bob:4}");
    restarted.relay(knownLoad(doc1.id, true, { [alice.session]: 3, [bob.session]: 4 }));
    const frame = pushed(restarted);
    const all = [...ownBefore, { at: 1_700_000_200_000, data: "a3" }];
    expect(frame.sessions[alice.session]!.after).toBe(3);
    expect(await verifyCheckpoint(frame.sessions[alice.session]!.signature, doc1.id, alice.session, 4, chainHash(GENESIS_HASH, all))).toBe(true);
  });
});

function ownLogOf(core: ReturnType<typeof coreScenario>): Transaction[] {
  return [...core.state.docs.get(doc1.id)!.sessions.get(alice.session)!];
}

/** Saves and pushes like the shell; the content frame it pushed. */
function pushed(core: ReturnType<typeof coreScenario>): Content {
  const sent = core.pump().flatMap((effect) => (effect.type === "send" && effect.message.type === "content" ? [effect.message] : []));
  expect(sent).toHaveLength(1);
  return sent[0]!;
}
