// Pruning at the real relay (issue 13): with WEFT_SNAPSHOT_RETENTION_SECONDS=0 (vitest.config.ts) the
// transactions a snapshot covers are deleted from the object's alarm, in slices of bounded work, while the
// counts, the directory digest and cursor stay as they were and the writer goes on appending.
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { PRUNE_WORK_PER_EVENT, type Transaction } from "../../protocol/index.ts";
import { testAgent, testHeader } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, emptyKnown, groupStub, sqlRows, storedLog, uniqueGroup } from "./socket.ts";
import { prunedAll, snapshotOf } from "./snapshot-helpers.ts";

afterEach(closeAll);

const alice = testAgent(95);
const bob = testAgent(96);
const carol = testAgent(97);

/** Transactions of 16,000 characters: a stored chunk holds two of them, so 300 make about 150 chunk rows. */
const large = (count: number, prefix: string): Transaction[] => Array.from({ length: count }, (_, i) => ({ at: 1_700_000_000_000 + i, data: `${prefix}-${i}-${"x".repeat(16_000)}` }));

type Statement = { query: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> };

/** Records every statement the group's object runs from now on; `stop` puts exec back. */
async function recordStatements(group: string): Promise<{ statements: Statement[]; stop: () => Promise<void> }> {
  const statements: Statement[] = [];
  const restore = await runInDurableObject(groupStub(group), (_instance, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec;
    sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
      const cursor = exec.call(sql, query, ...bindings);
      statements.push({ query, cursor });
      return cursor;
    }) as typeof sql.exec;
    return () => void (sql.exec = exec);
  });
  return { statements, stop: () => runInDurableObject(groupStub(group), () => restore()) };
}

describe("pruning", () => {
  it("deletes the covered chunk rows over several alarm events, each bounded; counts, digest and cursor are unchanged; the writer appends after", async () => {
    const group = uniqueGroup("prune-slices");
    const { id, header } = testHeader(alice, group, "long");
    const log = new SessionWriter(alice, id);
    const a = await connect(group, alice);
    for (let i = 0; i < 12; i++) {
      a.send(log.content(large(25, `b${i}`), i === 0 ? header : undefined));
      await a.next("known", (k) => k.reason === "ack");
    }
    const b = await connect(group, bob);
    b.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 300 } } });
    const known = await b.next("known", (k) => k.reason === "load");
    b.send({ type: "dir" });
    const dirBefore = await b.next("dir");
    const chunksBefore = (await sqlRows<{ n: number }>(group, "SELECT count(*) AS n FROM chunks"))[0]!.n;
    expect(chunksBefore).toBeGreaterThan(PRUNE_WORK_PER_EVENT);

    const recorder = await recordStatements(group);
    a.send(snapshotOf(alice, id, { [alice.session]: 300 }, "the state"));
    await a.next("snapshotted");
    await prunedAll(group);
    await recorder.stop();

    // Each slice starts by finding the oldest snapshot still to prune; what it writes up to the next is one slice's work.
    const slices: { read: number; written: number }[] = [];
    for (const { query, cursor } of recorder.statements) {
      const pruning = query.includes("FROM snapshots WHERE prune_after IS NOT NULL ORDER BY taken_at");
      if (pruning) slices.push({ read: 0, written: 0 });
      // Everything the object runs meanwhile is pruning, but for this test's own polling (prunedAll).
      if (slices.length > 0 && !query.includes("count(*) AS n FROM snapshots")) {
        slices.at(-1)!.read += cursor.rowsRead;
        slices.at(-1)!.written += cursor.rowsWritten;
      }
    }
    const working = slices.filter((slice) => slice.written > 0);
    expect(working.length).toBeGreaterThanOrEqual(2);
    // Billed rows per slice: each chunk row deleted is written once and read twice (counted off, then deleted).
    expect(Math.max(...working.map((slice) => slice.written))).toBeLessThanOrEqual(PRUNE_WORK_PER_EVENT + 2);
    expect(Math.max(...working.map((slice) => slice.read))).toBeLessThanOrEqual(2 * PRUNE_WORK_PER_EVENT + 10);
    const chunksAfter = (await sqlRows<{ n: number }>(group, "SELECT count(*) AS n FROM chunks"))[0]!.n;
    expect(chunksAfter).toBe(0); // every closed chunk ended at or before 300; the open one (the tail) stays

    b.send({ type: "dir" });
    const dirAfter = await b.next("dir");
    expect({ cursor: dirAfter.cursor, digest: dirAfter.digest, docs: dirAfter.docs }).toEqual({ cursor: dirBefore.cursor, digest: dirBefore.digest, docs: dirBefore.docs });
    b.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 300 } } });
    expect((await b.next("known", (k) => k.reason === "load")).sessions).toEqual(known.sessions);

    // The session's head stays: the writer appends after what was pruned, and readers get it live.
    a.send(log.content([{ at: 1_700_000_001_000, data: "after pruning" }]));
    expect(await a.next("known", (k) => k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 301 } });
    expect(await b.next("content")).toMatchObject({ sessions: { [alice.session]: { after: 300, transactions: [{ data: "after pruning" }] } } });
    const stored = await storedLog(group, id, alice.session);
    expect(stored.at(-1)).toMatchObject({ idx: 300, data: "after pruning" });
    expect(stored[0]!.idx).toBeGreaterThan(0);

    // A peer that held nothing (it lacks the pruned range) gets the snapshot, then what follows it.
    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: emptyKnown });
    await c.next("known", (k) => k.reason === "load");
    const messages = c.inbox.splice(0);
    expect(messages.map((message) => message.type)).toEqual(["content", "snapshot", "content"]);
    expect(messages[1]).toMatchObject({ type: "snapshot", covers: { [alice.session]: 300 }, data: "the state" });
    expect(messages[2]).toMatchObject({ type: "content", sessions: { [alice.session]: { after: 300, transactions: [{ data: "after pruning" }] } } });
  });
});
