// Counts what the group's SQLite storage does while a test runs: the statements its object executes and the
// rows they read and write (Cloudflare bills rows), from each cursor's own counters.
import { runInDurableObject } from "cloudflare:test";
import { groupStub } from "./socket.ts";

export interface SqlCount {
  statements: number;
  rowsRead: number;
  rowsWritten: number;
}

/** SQL statements the group's object runs, and rows they read and write, while `body` runs. */
export async function countSql(group: string, body: () => Promise<void>): Promise<SqlCount> {
  let statements = 0;
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  const restore = await runInDurableObject(groupStub(group), (_instance, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec;
    sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
      statements++;
      const cursor = exec.call(sql, query, ...bindings);
      cursors.push(cursor);
      return cursor;
    }) as typeof sql.exec;
    return () => void (sql.exec = exec);
  });
  try {
    await body();
  } finally {
    await runInDurableObject(groupStub(group), () => restore());
  }
  return {
    statements,
    rowsRead: cursors.reduce((sum, cursor) => sum + cursor.rowsRead, 0),
    rowsWritten: cursors.reduce((sum, cursor) => sum + cursor.rowsWritten, 0),
  };
}
