// Transcript tests of snapshots at the relay: taking one (every check, in order), serving it on load and
// open (snapshot or stored delta, whichever is right), and pruning what it covers after the retention.
import { describe, expect, it } from "vitest";
import { MEMBERS_KIND, docIdOf } from "../../protocol/index.ts";
import { testHeader, transactions } from "../support/identity.ts";
import { GROUP, NOW, alice, bob, carol, doc1, doc2, nothingKnown, scenario, snapshotOf, writer } from "./relay-transcript.ts";

/** Carol, connected with a token that makes her an admin: she may snapshot documents she did not create. */
const carolAdmin = { id: "carol", phase: "ready" as const, agent: carol.agent, session: carol.session, token: { role: "admin" as const, expiresAt: NOW + 60_000 } };

/** Alice has written `count` transactions to doc1 and bob has loaded it (he is subscribed); `peers` were connected before. */
async function written(count = 3, options: Parameters<typeof scenario>[1] = {}, peers: Parameters<typeof scenario>[0] = []) {
  const setup = scenario(peers, options);
  await setup.connect("alice", alice);
  await setup.connect("bob", bob);
  const write = writer(alice, doc1);
  await setup.send("alice", write(transactions(count), { header: true }));
  await setup.send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
  setup.transcript();
  return { ...setup, write };
}

describe("taking a snapshot", () => {
  it("stores a valid one and tells its author and the document's subscribers; an identical re-send is answered again", async () => {
    const { send, transcript, store } = await written();
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "state-3"));
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "state-3"));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | snapshot doc1 by alice covers {alice:3} text 7
      relay -> alice | snapshotted doc1 by alice covers {alice:3}
      relay -> bob | snapshotted doc1 by alice covers {alice:3}
      alice -> relay | snapshot doc1 by alice covers {alice:3} text 7
      relay -> alice | snapshotted doc1 by alice covers {alice:3}"
    `);
    expect(store.readSnapshot(doc1.id)).toMatchObject({ session: alice.session, covers: { [alice.session]: 3 }, data: "state-3", takenAt: NOW });
  });

  it("refuses, without closing, a snapshot of another agent's session, of an unknown or deleted document, of the membership log", async () => {
    const { send, transcript, connect } = await written();
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "x", bob.session));
    await send("alice", snapshotOf(alice, doc2.id, {}, "x"));
    const members = { group: GROUP, kind: MEMBERS_KIND, creator: carol.agent, createdAt: NOW, nonce: "m", meta: {} };
    const membersDoc = { id: docIdOf(members), header: members };
    await connect("carol", carol);
    await send("carol", writer(carol, membersDoc)([{ at: NOW, data: JSON.stringify({ op: "set", agent: alice.agent, role: "writer" }) }], { header: true }));
    await send("carol", snapshotOf(carol, membersDoc.id, { [carol.session]: 1 }, "x"));
    await send("carol", { type: "delete", doc: doc1.id });
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "x"));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | snapshot doc1 by bob covers {alice:3} text 1
      relay -> alice | error forbidden doc1 "a snapshot's session must be the sending agent's"
      alice -> relay | snapshot doc2 by alice covers {} text 1
      relay -> alice | error unknown_doc doc2 "no such document"
      relay -> carol | challenge v=4 nonce=nonce-carol
      carol -> relay | hello v=4 carol g1
      relay -> carol | welcome v=4 role=writer
      carol -> relay | content doc__JujpykuQ1d2BvEZKsw2RS3hsatCZ09Mwd4yULtIfn0 +header carol after=0 n=1
      relay -> bob | error unauthorized "this agent is not a member of the group: its membership log was just created"
      relay -x bob | close 1008 unauthorized
      relay -> carol | known doc__JujpykuQ1d2BvEZKsw2RS3hsatCZ09Mwd4yULtIfn0 {carol:1} ack
      relay -> carol | welcome v=4 role=admin members=doc__JujpykuQ1d2BvEZKsw2RS3hsatCZ09Mwd4yULtIfn0
      carol -> relay | snapshot doc__JujpykuQ1d2BvEZKsw2RS3hsatCZ09Mwd4yULtIfn0 by carol covers {carol:1} text 1
      relay -> carol | error snapshot_refused doc__JujpykuQ1d2BvEZKsw2RS3hsatCZ09Mwd4yULtIfn0 "the membership log cannot be snapshotted"
      carol -> relay | delete doc1
      relay -> carol | deleted doc1
      relay -> alice | deleted doc1
      alice -> relay | snapshot doc1 by alice covers {alice:3} text 1
      relay -> alice | error doc_deleted doc1 "this document was deleted""
    `);
  });

  it("refuses a snapshot covering transactions the relay does not hold, a stale one, and a forged one; one the stored snapshot covers is answered with it; nothing is stored", async () => {
    const { send, transcript, store } = await written(5, {}, [carolAdmin]);
    await send("bob", writer(bob, doc1)(transactions(2, "b")));
    transcript();
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 6 }, "ahead"));
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3, [bob.session]: 3 }, "more than bob wrote"));
    await send("alice", { ...snapshotOf(alice, doc1.id, { [alice.session]: 4 }, "signed"), data: "changed" });
    await send("alice", { ...snapshotOf(alice, doc1.id, { [alice.session]: 4 }, "signed"), covers: { [alice.session]: 3 } });
    expect(store.readSnapshot(doc1.id)).toBeUndefined();
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 4 }, "four"));
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "older"));
    await send("carol", snapshotOf(carol, doc1.id, { [alice.session]: 4 }, "same covers, another author"));
    await send("carol", snapshotOf(carol, doc1.id, { [alice.session]: 5 }, "newer"));
    // Not newer, nor covered by the stored one: each covers transactions the other does not.
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 4, [bob.session]: 2 }, "apart"));
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | snapshot doc1 by alice covers {alice:6} text 5
      relay -> alice | error snapshot_refused doc1 "the snapshot covers transactions the relay does not hold"
      alice -> relay | snapshot doc1 by alice covers {alice:3, bob:3} text 19
      relay -> alice | error snapshot_refused doc1 "the snapshot covers transactions the relay does not hold"
      alice -> relay | snapshot doc1 by alice covers {alice:4} text 7
      relay -> alice | error bad_signature doc1 "the snapshot's signature does not match its document, covered state and data; it was not stored"
      alice -> relay | snapshot doc1 by alice covers {alice:3} text 6
      relay -> alice | error bad_signature doc1 "the snapshot's signature does not match its document, covered state and data; it was not stored"
      alice -> relay | snapshot doc1 by alice covers {alice:4} text 4
      relay -> alice | snapshotted doc1 by alice covers {alice:4}
      relay -> bob | snapshotted doc1 by alice covers {alice:4}
      alice -> relay | snapshot doc1 by alice covers {alice:3} text 5
      relay -> alice | snapshotted doc1 by alice covers {alice:4}
      carol -> relay | snapshot doc1 by carol covers {alice:4} text 27
      relay -> carol | snapshotted doc1 by alice covers {alice:4}
      carol -> relay | snapshot doc1 by carol covers {alice:5} text 5
      relay -> carol | snapshotted doc1 by carol covers {alice:5}
      relay -> alice | snapshotted doc1 by carol covers {alice:5}
      relay -> bob | snapshotted doc1 by carol covers {alice:5}
      alice -> relay | snapshot doc1 by alice covers {alice:4, bob:2} text 5
      relay -> alice | error snapshot_refused doc1 "the snapshot is stale: it is not newer than the stored snapshot (each covers transactions the other does not)""
    `);
    expect(store.readSnapshot(doc1.id)).toMatchObject({ session: carol.session, data: "newer" });
  });

  it("refuses a snapshot from a writer who did not create the document with forbidden: it would stand for the creator's transactions", async () => {
    const { send, transcript, store } = await written(3);
    await send("bob", snapshotOf(bob, doc1.id, { [alice.session]: 3 }, "EVIL"));
    expect(transcript()).toMatchInlineSnapshot(`
      "bob -> relay | snapshot doc1 by bob covers {alice:3} text 4
      relay -> bob | error forbidden doc1 "only the document's creator or an admin may snapshot it: a snapshot stands for every writer's transactions, which the relay cannot check it against""
    `);
    expect(store.readSnapshot(doc1.id)).toBeUndefined();
  });

  it("refuses a snapshot from a reader (a token role) with forbidden", async () => {
    const reader = { id: "reader", phase: "ready" as const, agent: carol.agent, session: carol.session, token: { role: "reader" as const, expiresAt: NOW + 60_000 } };
    const { connect, send, transcript } = scenario([reader]);
    await connect("alice", alice);
    await send("alice", writer(alice, doc1)(transactions(2), { header: true }));
    transcript();
    await send("reader", snapshotOf(carol, doc1.id, { [alice.session]: 2 }, "x"));
    expect(transcript()).toMatchInlineSnapshot(`
      "reader -> relay | snapshot doc1 by carol covers {alice:2} text 1
      relay -> reader | error forbidden doc1 "a reader may not snapshot this document""
    `);
  });
});

describe("serving a snapshot", () => {
  it("a fresh loader gets the header, the snapshot, then the transactions after it, then known", async () => {
    const { send, transcript, connect, write } = await written(3);
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "S"));
    await send("alice", write(transactions(2, "later")));
    await connect("carol", carol);
    transcript();
    await send("carol", { type: "load", doc: doc1.id, known: nothingKnown });
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | load doc1 (no header) {}
      relay -> carol | content doc1 +header 
      relay -> carol | snapshot doc1 by alice covers {alice:3} text 1
      relay -> carol | content doc1 alice after=3 n=2
      relay -> carol | known doc1 {alice:5} load"
    `);
  });

  it("a peer behind gets the smaller of the snapshot and the covered transactions it lacks", async () => {
    const { send, transcript, connect } = await written(40);
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 40 }, "s".repeat(200)));
    await connect("carol", carol);
    transcript();
    // 2 transactions lacked (~50 bytes on the wire) are smaller than 200 bytes of snapshot: the delta.
    await send("carol", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 38 } } });
    // 30 lacked (~750 bytes) are larger: the snapshot.
    await send("carol", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 10 } } });
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | load doc1 {alice:38}
      relay -> carol | content doc1 alice after=38 n=2
      relay -> carol | known doc1 {alice:40} load
      carol -> relay | load doc1 {alice:10}
      relay -> carol | snapshot doc1 by alice covers {alice:40} text 200
      relay -> carol | known doc1 {alice:40} load"
    `);
  });

  it("a peer at or after what the snapshot covers gets only the delta (resume unchanged)", async () => {
    const { send, transcript, connect, write } = await written(3);
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "S"));
    await send("alice", write(transactions(2, "later")));
    await connect("carol", carol);
    transcript();
    await send("carol", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 3 } } });
    await send("carol", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 4 } } });
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | load doc1 {alice:3}
      relay -> carol | content doc1 alice after=3 n=2
      relay -> carol | known doc1 {alice:5} load
      carol -> relay | load doc1 {alice:4}
      relay -> carol | content doc1 alice after=4 n=1
      relay -> carol | known doc1 {alice:5} load"
    `);
  });

  it("an open serves each document the same way", async () => {
    const { send, transcript, connect } = await written(3);
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 3 }, "S"));
    await connect("carol", carol);
    transcript();
    await send("carol", { type: "open", known: {} });
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | open 0 docs
      relay -> carol | content doc1 +header 
      relay -> carol | snapshot doc1 by alice covers {alice:3} text 1
      relay -> carol | known doc1 {alice:3} load
      relay -> carol | opened docs=1 cursor=1"
    `);
  });
});

describe("bounded work", () => {
  it("an open of documents with large snapshots sends a few per event (a snapshot weighs a row per KiB), the rest in later events", async () => {
    const { connect, send, transcript, fireDueAlarms } = scenario([], { snapshotRetentionSeconds: 0 });
    await connect("alice", alice);
    for (let i = 0; i < 10; i++) {
      const doc = testHeader(alice, GROUP, `large-${i}`);
      await send("alice", writer(alice, doc)(transactions(1), { header: true }));
      await send("alice", snapshotOf(alice, doc.id, { [alice.session]: 1 }, "s".repeat(700 * 1024)));
    }
    await fireDueAlarms(); // prunes every covered transaction: the snapshots are all a loader can get
    await connect("carol", carol);
    transcript();
    await send("carol", { type: "open", known: {} });
    const first = transcript().split("\n").filter((line) => line.includes("| snapshot ")).length;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(10);
    // From the alarm, and as carol echoes the marks of its window (answer-window.ts).
    await fireDueAlarms();
    const rest = transcript().split("\n");
    expect(rest.filter((line) => line.includes("| snapshot ")).length).toBe(10 - first);
    expect(rest.filter((line) => line.startsWith("relay ")).at(-1)).toBe("relay -> carol | opened docs=10 cursor=10");
  });
});

describe("pruning", () => {
  it("waits for the retention, then prunes what the snapshot covers; counts and the digest are unchanged, and a peer lacking the pruned range gets the snapshot", async () => {
    const { send, transcript, connect, relay, store, transport, fireDueAlarms } = await written(40, { snapshotRetentionSeconds: 60 });
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 30 }, "s".repeat(2_000)));
    const before = { known: store.knownState(doc1.id), info: store.info() };
    expect(transport.alarms).toContain(NOW + 60_000);
    await relay.dispatch({ type: "alarm", now: NOW + 59_999 });
    expect([...store.readTransactions(doc1.id, alice.session, 0, 40)]).toHaveLength(40);
    expect(await fireDueAlarms(NOW + 60_000)).toBeGreaterThan(0);
    expect([...store.readTransactions(doc1.id, alice.session, 0, 40)].map((transaction) => transaction.index)).toEqual(Array.from({ length: 10 }, (_, i) => 30 + i));
    expect({ known: store.knownState(doc1.id), info: store.info() }).toEqual(before);
    await connect("carol", carol);
    transcript();
    // 2 lacked transactions are far smaller than the snapshot, but they were pruned: the snapshot.
    await send("carol", { type: "load", doc: doc1.id, known: { header: true, sessions: { [alice.session]: 28 } } });
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | load doc1 {alice:28}
      relay -> carol | snapshot doc1 by alice covers {alice:30} text 2000
      relay -> carol | content doc1 alice after=30 n=10
      relay -> carol | known doc1 {alice:40} load"
    `);
  });

  it("never prunes without a retention (the default of the in-process relay)", async () => {
    const { send, store, fireDueAlarms, relay } = await written(10);
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 10 }, "S"));
    await fireDueAlarms(NOW + 1e12);
    await relay.dispatch({ type: "alarm", now: NOW + 1e12 });
    expect([...store.readTransactions(doc1.id, alice.session, 0, 10)]).toHaveLength(10);
  });

  it("a writer appends to a pruned session, and a new peer gets the snapshot and every transaction after it", async () => {
    const { send, transcript, connect, store, fireDueAlarms, write } = await written(5, { snapshotRetentionSeconds: 0 });
    await send("alice", snapshotOf(alice, doc1.id, { [alice.session]: 5 }, "S"));
    await fireDueAlarms();
    expect([...store.readTransactions(doc1.id, alice.session, 0, 5)]).toEqual([]);
    await send("alice", write(transactions(2, "after")));
    await connect("carol", carol);
    await send("carol", { type: "load", doc: doc1.id, known: nothingKnown });
    expect(transcript()).toMatchInlineSnapshot(`
      "alice -> relay | snapshot doc1 by alice covers {alice:5} text 1
      relay -> alice | snapshotted doc1 by alice covers {alice:5}
      relay -> bob | snapshotted doc1 by alice covers {alice:5}
      alice -> relay | content doc1 alice after=5 n=2
      relay -> alice | known doc1 {alice:7} ack
      relay -> bob | content doc1 alice after=5 n=2
      relay -> carol | challenge v=4 nonce=nonce-carol
      carol -> relay | hello v=4 carol g1
      relay -> carol | welcome v=4 role=writer
      carol -> relay | load doc1 (no header) {}
      relay -> carol | content doc1 +header 
      relay -> carol | snapshot doc1 by alice covers {alice:5} text 1
      relay -> carol | content doc1 alice after=5 n=2
      relay -> carol | known doc1 {alice:7} load"
    `);
  });
});
