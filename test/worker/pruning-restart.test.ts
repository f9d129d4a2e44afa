// Pruning that a restart interrupts (issue 13): the object prunes a snapshot's covered rows over several
// alarm events, and it may be restarted between two of them (an eviction, a deploy). Nothing in memory
// survives that, so what is left to prune must come back from SQLite (the snapshot row's `prune_after`)
// and from the alarm the platform keeps: the fresh object finishes, deleting exactly the covered rows, and
// counts, digest, cursor and the writers' heads stay as they were.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { PRUNE_WORK_PER_EVENT, type SessionId, type Transaction } from "../../protocol/index.ts";
import { testAgent, testHeader } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, emptyKnown, groupStub, sqlRows, storedLog, uniqueGroup } from "./socket.ts";
import { prunedAll, snapshotOf } from "./snapshot-helpers.ts";

afterEach(closeAll);

const alice = testAgent(101);
const bob = testAgent(102);
const carol = testAgent(103);

/** Transactions of 16,000 characters: a stored chunk holds two of them. */
const large = (count: number, prefix: string, from = 0): Transaction[] =>
  Array.from({ length: count }, (_, i) => ({ at: 1_700_000_000_000 + from + i, data: `${prefix}-${from + i}-${"x".repeat(16_000)}` }));

type ChunkRow = { session: SessionId; first: number };

/** Every stored chunk row of the group, by session and first index. */
const chunkRows = (group: string) =>
  sqlRows<ChunkRow>(group, "SELECT s.id AS session, c.first AS first FROM chunks c JOIN sessions s ON s.num = c.session_num ORDER BY s.id, c.first");

/**
 * The chunk rows pruning `covers` must leave: a chunk goes only when the next one (or the session's open
 * chunk) starts at or before the covered count, so no transaction after it is lost.
 */
async function rowsLeftBy(group: string, covers: Record<SessionId, number>): Promise<ChunkRow[]> {
  const rows = await chunkRows(group);
  const tails = new Map((await sqlRows<{ session: SessionId; tail_first: number }>(group, "SELECT id AS session, tail_first FROM sessions")).map((row) => [row.session, row.tail_first]));
  return rows.filter((row, i) => {
    const next = rows[i + 1]?.session === row.session ? rows[i + 1]!.first : tails.get(row.session)!;
    return next > (covers[row.session] ?? 0);
  });
}

/**
 * Holds the object's alarm back: every alarm the relay asks for is set an hour later instead, so no alarm
 * event runs until the test runs one (`runDurableObjectAlarm`). Only this instance is changed; a restarted
 * object asks for its alarms as it always does. Returns the times the relay asked for.
 */
async function holdAlarms(group: string): Promise<number[]> {
  const asked: number[] = [];
  await runInDurableObject(groupStub(group), async (_instance, state) => {
    const storage = state.storage;
    const setAlarm = storage.setAlarm.bind(storage);
    await storage.deleteAlarm(); // the handshakes' deadline, which would run a pruning slice of its own
    storage.setAlarm = ((at: number | Date) => {
      asked.push(Number(at));
      return setAlarm(Date.now() + 3_600_000);
    }) as typeof storage.setAlarm;
  });
  return asked;
}

/** Tags the live instance; a rebuilt instance has no tag. */
const tagInstance = (group: string, tag: string) =>
  runInDurableObject(groupStub(group), (instance) => {
    const fields = instance as unknown as { testTag?: string };
    const before = fields.testTag;
    fields.testTag = tag;
    return before;
  });

describe("pruning across a restart", () => {
  it("pruning interrupted by a restart after its first slice finishes after it: exactly the covered rows go; counts, digest, cursor unchanged; writers append after", async () => {
    const group = uniqueGroup("prune-restart");
    const { id, header } = testHeader(alice, group, "long");
    const aliceLog = new SessionWriter(alice, id);
    const bobLog = new SessionWriter(bob, id);
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    // Alice 300 transactions (about 150 chunk rows), Bob 100 (about 50): more than two slices' work.
    for (let i = 0; i < 12; i++) {
      a.send(aliceLog.content(large(25, "a", 25 * i), i === 0 ? header : undefined));
      await a.next("known", (k) => k.reason === "ack");
    }
    for (let i = 0; i < 4; i++) {
      b.send(bobLog.content(large(25, "b", 25 * i)));
      await b.next("known", (k) => k.reason === "ack");
    }
    b.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 300, [bob.session]: 100 } } });
    const known = await b.next("known", (k) => k.reason === "load");
    b.send({ type: "dir" });
    const dirBefore = await b.next("dir");
    const aliceBefore = await storedLog(group, id, alice.session);
    const bobBefore = await storedLog(group, id, bob.session);

    // The snapshot covers most of both sessions, not all: what follows it must stay.
    const covers = { [alice.session]: 251, [bob.session]: 77 };
    const expectedLeft = await rowsLeftBy(group, covers);
    const rowsBefore = (await chunkRows(group)).length;
    expect(rowsBefore - expectedLeft.length).toBeGreaterThan(PRUNE_WORK_PER_EVENT);

    const asked = await holdAlarms(group);
    a.send(snapshotOf(alice, id, covers, "the state"));
    await a.next("snapshotted");
    expect(asked.length).toBeGreaterThan(0); // the relay asked to prune, and nothing ran yet
    expect(await chunkRows(group)).toHaveLength(rowsBefore);

    // One alarm event: one slice, then the object restarts, its sockets closed (as a deploy does).
    expect(await runDurableObjectAlarm(groupStub(group))).toBe(true);
    const halfway = (await chunkRows(group)).length;
    expect(halfway).toBeLessThan(rowsBefore);
    expect(halfway).toBeGreaterThan(expectedLeft.length);
    expect(await tagInstance(group, "before the restart")).toBeUndefined();
    await evictDurableObject(groupStub(group), { webSockets: "close" });

    // The fresh object holds the alarm the platform kept; from it, pruning goes on to the end.
    expect(await tagInstance(group, "after the restart")).toBeUndefined();
    expect(await runInDurableObject(groupStub(group), (_instance, state) => state.storage.getAlarm())).not.toBeNull();
    expect(await runDurableObjectAlarm(groupStub(group))).toBe(true);
    await prunedAll(group);
    expect(await chunkRows(group)).toEqual(expectedLeft);

    // Every transaction after the covered rows is stored as it was; only covered ones went.
    const aliceAfter = await storedLog(group, id, alice.session);
    const bobAfter = await storedLog(group, id, bob.session);
    expect(aliceAfter).toEqual(aliceBefore.slice(aliceAfter[0]!.idx));
    expect(bobAfter).toEqual(bobBefore.slice(bobAfter[0]!.idx));
    expect(aliceAfter[0]!.idx).toBeGreaterThan(0);
    expect(aliceAfter[0]!.idx).toBeLessThanOrEqual(251);
    expect(bobAfter[0]!.idx).toBeGreaterThan(0);
    expect(bobAfter[0]!.idx).toBeLessThanOrEqual(77);

    // Peers come back: the directory, its digest and cursor, and the known state are what they were.
    const a2 = await connect(group, alice);
    const b2 = await connect(group, bob);
    b2.send({ type: "dir" });
    const dirAfter = await b2.next("dir");
    expect({ cursor: dirAfter.cursor, digest: dirAfter.digest, docs: dirAfter.docs }).toEqual({ cursor: dirBefore.cursor, digest: dirBefore.digest, docs: dirBefore.docs });
    b2.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 300, [bob.session]: 100 } } });
    expect((await b2.next("known", (k) => k.reason === "load")).sessions).toEqual(known.sessions);

    // The writer appends after what was pruned; the reader gets it live.
    a2.send(aliceLog.content([{ at: 1_700_000_001_000, data: "after the restart" }]));
    expect(await a2.next("known", (k) => k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 301 } });
    expect(await b2.next("content")).toMatchObject({ sessions: { [alice.session]: { after: 300, transactions: [{ data: "after the restart" }] } } });

    // A peer that held nothing gets the snapshot, then exactly what follows it.
    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: emptyKnown });
    await c.next("known", (k) => k.reason === "load");
    const messages = c.inbox.splice(0);
    expect(messages.slice(0, 2).map((message) => message.type)).toEqual(["content", "snapshot"]);
    expect(messages[1]).toMatchObject({ type: "snapshot", covers, data: "the state" });
    // What follows comes in content messages of bounded size, each session's in order from what the snapshot covers.
    const received = new Map<SessionId, { next: number; data: unknown[] }>(Object.entries(covers).map(([session, count]) => [session as SessionId, { next: count, data: [] }]));
    for (const message of messages.slice(2)) {
      expect(message.type).toBe("content");
      for (const [session, chunk] of Object.entries((message as { sessions: Record<SessionId, { after: number; transactions: Transaction[] }> }).sessions)) {
        const log = received.get(session as SessionId)!;
        expect(chunk.after).toBe(log.next);
        log.next += chunk.transactions.length;
        log.data.push(...chunk.transactions.map((tx) => tx.data));
      }
    }
    expect(received.get(alice.session)!.data).toEqual([...large(49, "a", 251).map((tx) => tx.data), "after the restart"]);
    expect(received.get(bob.session)!.data).toEqual(large(23, "b", 77).map((tx) => tx.data));
  });
});
