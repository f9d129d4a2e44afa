// Counts what a Durable Object's SQLite work costs: statements run, and the rows SQLite read and wrote
// (each cursor's rowsRead / rowsWritten, what Cloudflare bills). Off unless WEFT_SQL_STATS is "true":
// the bench turns it on and reads the totals at /v1/groups/<group>/sql-stats.

export type SqlStats = { statements: number; rowsRead: number; rowsWritten: number };

export class SqlMeter {
  readonly totals: SqlStats = { statements: 0, rowsRead: 0, rowsWritten: 0 };
  /** Cursors of the current event: their counts are final once the event has consumed them. */
  #pending: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    const exec = sql.exec.bind(sql);
    const metered = Object.create(sql) as SqlStorage;
    metered.exec = (<T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]) => {
      this.totals.statements++;
      const cursor = exec<T>(query, ...bindings);
      this.#pending.push(cursor as unknown as SqlStorageCursor<Record<string, SqlStorageValue>>);
      return cursor;
    }) as SqlStorage["exec"];
    this.sql = metered;
  }

  /** Adds up the cursors opened so far (call when an event is done with them). */
  settle(): SqlStats {
    for (const cursor of this.#pending) {
      this.totals.rowsRead += cursor.rowsRead;
      this.totals.rowsWritten += cursor.rowsWritten;
    }
    this.#pending = [];
    return { ...this.totals };
  }
}
