// Helpers for the snapshot and pruning tests: signed snapshots, waiting for the alarm to finish pruning, and
// the statements the group's object runs (to count what one of them costs while the alarm prunes beside it).
import { signSnapshot, type DocId, type SessionCounts, type SnapshotMessage } from "../../protocol/index.ts";
import type { TestAgent } from "../support/identity.ts";
import { runInDurableObject } from "cloudflare:test";
import { groupStub, sqlRows } from "./socket.ts";

/** A snapshot of `doc` signed by `who` (as `session`, its own by default), with its author's newest time if `at` is given. */
export function snapshotOf(who: TestAgent, doc: DocId, covers: SessionCounts, data: SnapshotMessage["data"], session = who.session, at?: number): SnapshotMessage {
  const signature = signSnapshot(who.secretKey, doc, session, covers, data, at);
  return { type: "snapshot", doc, session, covers, data, ...(at === undefined ? {} : { at }), signature };
}

/** Waits until every snapshot of the group has been pruned (the alarm does it in slices). */
export async function prunedAll(group: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const left = await sqlRows<{ n: number }>(group, "SELECT count(*) AS n FROM snapshots WHERE prune_after IS NOT NULL");
    if (left[0]!.n === 0) return;
    if (Date.now() > deadline) throw new Error("pruning did not finish");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export type Statement = { query: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> };

/** Records every statement the group's object runs from now on; `stop` puts exec back. */
export async function recordStatements(group: string): Promise<{ statements: Statement[]; stop: () => Promise<void> }> {
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

/** Rows read and written by the recorded statements whose text includes `text`. */
export function costOf(statements: readonly Statement[], text: string): { statements: number; rowsRead: number; rowsWritten: number } {
  const matching = statements.filter((statement) => statement.query.includes(text));
  return {
    statements: matching.length,
    rowsRead: matching.reduce((sum, { cursor }) => sum + cursor.rowsRead, 0),
    rowsWritten: matching.reduce((sum, { cursor }) => sum + cursor.rowsWritten, 0),
  };
}
