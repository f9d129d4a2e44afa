// Snapshots at the real relay, through real sockets (issue 13): every check of a snapshot, what it costs to
// store, and what a loader gets with one stored (the snapshot, or the stored delta when that is smaller;
// a resume at or after what it covers gets only the delta). This project runs the relay with
// WEFT_SNAPSHOT_RETENTION_SECONDS=0 (vitest.config.ts), so what a snapshot covers is pruned at the next alarm.
import { afterEach, describe, expect, it } from "vitest";
import { verifySnapshot, type DocId, type ServerMessage, type SessionId, type SnapshotMessage } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { admit, changeMembers, closedGroup, docHeader, nextOf, setRole } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, documentWithBystander, emptyKnown, sqlRows, uniqueGroup, type Peer } from "./socket.ts";
import { costOf, prunedAll, recordStatements, snapshotOf } from "./snapshot-helpers.ts";

afterEach(closeAll);

const alice = testAgent(91);
const bob = testAgent(92);
const carol = testAgent(93);

const storedSnapshots = (group: string) => sqlRows<{ session: string; covers: string; bytes: number }>(group, "SELECT session, covers, bytes FROM snapshots");

/** The next frame that is the answer to a snapshot of `doc`: `snapshotted` or an `error`. */
const answer = (peer: Peer, doc: DocId): Promise<ServerMessage> => nextOf(peer, (m) => (m.type === "snapshotted" || m.type === "error") && m.doc === doc);

/** The types of the messages a peer received, in order, from the inbox (taking them). */
const takeTypes = (peer: Peer): string[] => peer.inbox.splice(0).map((message) => (message.type === "content" && message.header ? "content+header" : message.type));

describe("taking a snapshot", () => {
  it("stores it (one statement, three rows written), acks the author with snapshotted and tells the subscribers", async () => {
    const { group, id, a, b } = await documentWithBystander("snap-store", alice, bob);
    // Recorded statement by statement: the alarm that prunes (at once in this project) may run meanwhile.
    const recorder = await recordStatements(group);
    a.send(snapshotOf(alice, id, { [alice.session]: 3 }, Uint8Array.of(1, 2, 3)));
    expect(await answer(a, id)).toEqual({ type: "snapshotted", doc: id, session: alice.session, covers: { [alice.session]: 3 } });
    await recorder.stop();
    expect(await b.next("snapshotted")).toEqual({ type: "snapshotted", doc: id, session: alice.session, covers: { [alice.session]: 3 } });
    expect(await storedSnapshots(group)).toEqual([{ session: alice.session, covers: JSON.stringify({ [alice.session]: 3 }), bytes: 3 }]);
    // One statement: the snapshot's row (and its entry in the index of snapshots still to prune), and by its
    // trigger its author's usage row.
    const storing = costOf(recorder.statements, "INSERT INTO snapshots");
    expect(storing.statements).toBe(1);
    expect(storing.rowsWritten).toBeLessThanOrEqual(3);
  });

  it("refuses each bad snapshot with its code and the document, keeps the connection, stores nothing and tells no one", async () => {
    const { group, id, a, b, log } = await documentWithBystander("snap-refuse", alice, bob);
    const cases: [SnapshotMessage, string, RegExp][] = [
      [{ ...snapshotOf(alice, id, { [alice.session]: 3 }, "state"), data: "forged" }, "bad_signature", /signature/],
      [{ ...snapshotOf(alice, id, { [alice.session]: 3 }, "state", alice.session, 1_000), at: 2_000 }, "bad_signature", /signature/],
      [snapshotOf(alice, id, { [alice.session]: 4 }, "state"), "snapshot_refused", /does not hold/],
      [snapshotOf(alice, id, {}, "state"), "snapshot_refused", /at least one transaction/],
      [snapshotOf(alice, id, { [alice.session]: 0 }, "state"), "snapshot_refused", /at least one transaction/],
      [snapshotOf(alice, id, { [alice.session]: 3 }, "state", bob.session), "forbidden", /session/],
      [snapshotOf(alice, testHeader(alice, group, "never-written").id, {}, "state"), "unknown_doc", /no such document/],
    ];
    for (const [snapshot, code, reason] of cases) {
      a.send(snapshot);
      const refused = await answer(a, snapshot.doc);
      expect(refused).toMatchObject({ type: "error", code, doc: snapshot.doc });
      expect((refused as Extract<ServerMessage, { type: "error" }>).message).toMatch(reason);
    }
    await a.sync();
    expect(await storedSnapshots(group)).toEqual([]);
    // An older one than the stored snapshot is not stored: its author hears which is (a lost answer's case).
    a.send(log.content(transactions(2, "more")));
    await a.next("known", (k) => k.reason === "ack");
    a.send(snapshotOf(alice, id, { [alice.session]: 5 }, "five"));
    expect(await answer(a, id)).toMatchObject({ type: "snapshotted" });
    a.send(snapshotOf(alice, id, { [alice.session]: 4 }, "four"));
    expect(await answer(a, id)).toEqual({ type: "snapshotted", doc: id, session: alice.session, covers: { [alice.session]: 5 } });
    // A stale one: neither newer nor covered by the stored snapshot.
    const bobLog = new SessionWriter(bob, id);
    b.send(bobLog.content(transactions(1, "bob")));
    await b.next("known", (k) => k.reason === "ack");
    a.send(snapshotOf(alice, id, { [alice.session]: 4, [bob.session]: 1 }, "apart"));
    expect(await answer(a, id)).toMatchObject({ type: "error", code: "snapshot_refused", message: expect.stringMatching(/stale/) });
    expect(await storedSnapshots(group)).toMatchObject([{ covers: JSON.stringify({ [alice.session]: 5 }) }]);
    await b.sync();
    expect(b.inbox.filter((m) => m.type === "snapshotted")).toHaveLength(1);
    expect(b.inbox.filter((m) => m.type === "error")).toEqual([]);
  });

  it("refuses a reader (forbidden), the membership log (snapshot_refused) and a deleted document (doc_deleted)", async () => {
    const { group, membersDoc, log: members, adminPeer } = await closedGroup("snap-roles", alice, [[bob, "reader"]]);
    const { id, header } = docHeader(alice, group, "roles-doc");
    const writer = new SessionWriter(alice, id);
    adminPeer.send(writer.content(transactions(2), header));
    await adminPeer.next("known", (k) => k.doc === id && k.reason === "ack");
    const { peer: reader } = await admit(group, bob);
    reader.send(snapshotOf(bob, id, { [alice.session]: 2 }, "x"));
    expect(await answer(reader, id)).toMatchObject({ type: "error", code: "forbidden" });
    adminPeer.send(snapshotOf(alice, membersDoc, { [alice.session]: members.writer.count }, "x"));
    expect(await answer(adminPeer, membersDoc)).toMatchObject({ type: "error", code: "snapshot_refused", message: expect.stringMatching(/membership/) });
    adminPeer.send({ type: "delete", doc: id });
    await adminPeer.next("deleted");
    adminPeer.send(snapshotOf(alice, id, { [alice.session]: 2 }, "x"));
    expect(await answer(adminPeer, id)).toMatchObject({ type: "error", code: "doc_deleted" });
    await reader.sync();
    expect(await storedSnapshots(group)).toEqual([]);
  });

  it("takes one only from the document's creator or an admin: another writer's is refused with forbidden, nothing stored nor pruned; an admin made a writer is judged as its snapshot arrives", async () => {
    // Carol, a writer, created the document; bob, a writer too, writes to it; alice is the group's admin.
    const { group, log: members, adminPeer } = await closedGroup("snap-who", alice, [[bob, "writer"], [carol, "writer"]]);
    const { id, header } = docHeader(carol, group, "who-doc");
    const carolLog = new SessionWriter(carol, id);
    const { peer: c } = await admit(group, carol);
    c.send(carolLog.content(transactions(3, "carol"), header));
    await c.next("known", (k) => k.doc === id && k.reason === "ack");
    const bobLog = new SessionWriter(bob, id);
    const { peer: b } = await admit(group, bob);
    b.send(bobLog.content(transactions(1, "bob")));
    await b.next("known", (k) => k.doc === id && k.reason === "ack");

    // Bob's claim about everyone's transactions: it would replace carol's for every loader once pruned.
    b.send(snapshotOf(bob, id, { [carol.session]: 3, [bob.session]: 1 }, "EVIL"));
    expect(await answer(b, id)).toMatchObject({ type: "error", code: "forbidden", doc: id, message: expect.stringMatching(/creator or an admin/) });
    await b.sync();
    expect(await storedSnapshots(group)).toEqual([]);
    // Pruning runs at the next alarm in this project: with nothing stored, a fresh loader still gets every transaction.
    adminPeer.inbox.length = 0;
    adminPeer.send({ type: "load", doc: id, known: emptyKnown });
    await adminPeer.next("known", (k) => k.doc === id && k.reason === "load");
    const loaded = adminPeer.inbox.splice(0).filter((m) => (m.type === "content" || m.type === "snapshot") && m.doc === id);
    expect(loaded.map((m) => m.type)).toEqual(["content"]);
    expect(loaded[0]).toMatchObject({ sessions: { [carol.session]: { after: 0, transactions: transactions(3, "carol") }, [bob.session]: { after: 0, transactions: transactions(1, "bob") } } });

    // Its creator may, though a writer; so may an admin, with a newer one.
    c.send(snapshotOf(carol, id, { [carol.session]: 3, [bob.session]: 1 }, "carol's state"));
    expect(await answer(c, id)).toMatchObject({ type: "snapshotted", session: carol.session });
    await adminPeer.next("snapshotted", (m) => m.session === carol.session); // a subscriber since its load
    c.send(carolLog.content(transactions(1, "carol-more")));
    await c.next("known", (k) => k.doc === id && k.reason === "ack");
    adminPeer.send(snapshotOf(alice, id, { [carol.session]: 4, [bob.session]: 1 }, "alice's state"));
    expect(await answer(adminPeer, id)).toMatchObject({ type: "snapshotted", session: alice.session });

    // Bob made an admin, then a writer again before his snapshot arrives: the relay judges the role it has then.
    expect(await changeMembers(adminPeer, members, [setRole(bob, "admin")])).toMatchObject({ type: "known" });
    await b.next("welcome", (w) => w.role === "admin");
    expect(await changeMembers(adminPeer, members, [setRole(bob, "writer")])).toMatchObject({ type: "known" });
    await b.next("welcome", (w) => w.role === "writer");
    b.send(bobLog.content(transactions(1, "bob-more")));
    await b.next("known", (k) => k.doc === id && k.reason === "ack");
    b.send(snapshotOf(bob, id, { [carol.session]: 4, [bob.session]: 2 }, "EVIL"));
    expect(await answer(b, id)).toMatchObject({ type: "error", code: "forbidden" });
    expect(await storedSnapshots(group)).toMatchObject([{ session: alice.session }]);
  });

  it("refuses covers naming a session at 0, or more sessions than the document holds, before looking any of them up", async () => {
    const { group, id, a } = await documentWithBystander("snap-covers", alice, bob);
    /** What alice's snapshot covers, padded with `n` sessions the relay has never heard of, at `count`. */
    const padded = (n: number, count: number): Record<SessionId, number> => {
      const covers: Record<SessionId, number> = { [alice.session]: 3 };
      for (let i = 0; i < n; i++) covers[`${bob.agent}~ffffffff${i}` as SessionId] = count;
      return covers;
    };
    const cases: [Record<SessionId, number>, RegExp][] = [
      [padded(8_000, 0), /count of 0/],
      [padded(8_000, 1), /does not hold/],
      [{ [alice.session]: 3, [bob.session]: 0 }, /count of 0/],
      [{ [alice.session]: 3, [bob.session]: 1 }, /does not hold/],
    ];
    for (const [covers, reason] of cases) {
      // Recorded statement by statement: each entry looked up would be one (8,000 entries were 8,001).
      const recorder = await recordStatements(group);
      a.send(snapshotOf(alice, id, covers, "state"));
      const refused = await answer(a, id);
      await recorder.stop();
      expect(refused).toMatchObject({ type: "error", code: "snapshot_refused", doc: id, message: expect.stringMatching(reason) });
      expect(recorder.statements.length).toBeLessThanOrEqual(2);
    }
    expect(await storedSnapshots(group)).toEqual([]);
    // Covering every session the document holds is still taken.
    a.send(snapshotOf(alice, id, { [alice.session]: 3 }, "state"));
    expect(await answer(a, id)).toMatchObject({ type: "snapshotted" });
  });
});

describe("loading with a snapshot", () => {
  it("a fresh loader gets the header, the snapshot, the transactions after it, then known; a peer at what it covers gets only the delta", async () => {
    const group = uniqueGroup("snap-load");
    const { id, header } = testHeader(alice, group, "load");
    const log = new SessionWriter(alice, id);
    const a = await connect(group, alice);
    a.send(log.content(transactions(50, "before"), header));
    await a.next("known", (k) => k.reason === "ack");
    a.send(snapshotOf(alice, id, { [alice.session]: 50 }, Uint8Array.of(7, 7, 7), alice.session, 1_780_000_000_000));
    await answer(a, id);
    a.send(log.content(transactions(3, "after")));
    await a.next("known", (k) => k.reason === "ack");

    const fresh = await connect(group, carol);
    fresh.send({ type: "load", doc: id, known: emptyKnown });
    await fresh.next("known", (k) => k.reason === "load");
    const [first, second, third] = fresh.inbox.slice();
    expect(takeTypes(fresh)).toEqual(["content+header", "snapshot", "content"]);
    expect(first).toMatchObject({ type: "content", doc: id, header, sessions: {} });
    expect(second).toMatchObject({ type: "snapshot", doc: id, session: alice.session, covers: { [alice.session]: 50 }, data: Uint8Array.of(7, 7, 7), at: 1_780_000_000_000 });
    expect(await verifySnapshot(second as SnapshotMessage)).toBe(true);
    expect(third).toMatchObject({ type: "content", sessions: { [alice.session]: { after: 50, transactions: transactions(3, "after") } } });

    const resumed = await connect(group, bob);
    resumed.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 51 } } });
    const known = await resumed.next("known", (k) => k.reason === "load");
    expect(known.sessions).toEqual({ [alice.session]: 53 });
    expect(takeTypes(resumed)).toEqual(["content"]);
  });

  it("a peer behind gets the stored delta when it is smaller than the snapshot, and the snapshot when the range it lacks was pruned", async () => {
    const group = uniqueGroup("snap-behind");
    const { id, header } = testHeader(alice, group, "behind");
    const log = new SessionWriter(alice, id);
    const a = await connect(group, alice);
    // 600 transactions: stored chunks of up to 256, and the open one; the last ones stay stored after pruning.
    for (let i = 0; i < 3; i++) {
      a.send(log.content(transactions(200, `t${i}`), i === 0 ? header : undefined));
      await a.next("known", (k) => k.reason === "ack");
    }
    a.send(snapshotOf(alice, id, { [alice.session]: 600 }, "s".repeat(5_000)));
    await answer(a, id);
    await prunedAll(group);

    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 598 } } });
    await c.next("known", (k) => k.reason === "load");
    expect(takeTypes(c)).toEqual(["content"]);
    c.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 10 } } });
    await c.next("known", (k) => k.reason === "load");
    const messages = c.inbox.slice();
    expect(takeTypes(c)).toEqual(["snapshot"]);
    expect(messages[0]).toMatchObject({ type: "snapshot", covers: { [alice.session]: 600 } });
  });

  it("an open serves the snapshot the same way", async () => {
    const group = uniqueGroup("snap-open");
    const { id, header } = testHeader(alice, group, "open");
    const log = new SessionWriter(alice, id);
    const a = await connect(group, alice);
    a.send(log.content(transactions(20), header));
    await a.next("known", (k) => k.reason === "ack");
    a.send(snapshotOf(alice, id, { [alice.session]: 20 }, "S"));
    await answer(a, id);
    const c = await connect(group, carol);
    c.send({ type: "open", known: {} });
    await c.next("opened");
    expect(takeTypes(c)).toEqual(["content+header", "snapshot", "known"]);
  });
});
