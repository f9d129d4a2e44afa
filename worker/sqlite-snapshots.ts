// SqliteStore's snapshots: one row per document (the newest snapshot replaces the one before), its head cached
// so a load or an open reads none, and pruning: deleting the chunks a snapshot covers once its retention has
// passed, in slices of bounded work that the object's alarm takes up one after another.
import { dataBytes, type DocId, type SessionCounts, type SessionId } from "../protocol/index.ts";
import type { PruneSlice, SnapshotHead, StoredSnapshot } from "./core/store.ts";

/** Documents whose snapshot head (or that they have none) is kept in memory: a load or open reads none. */
const SNAPSHOT_CACHE_SIZE = 1_000;

/** Where a session of a document is stored: its row, and the first index of its open chunk. */
export type SessionPlace = { num: number; tailFirst: number };

export class SnapshotRows {
  readonly #sql: SqlStorage;
  readonly #transactionSync: <T>(fn: () => T) => T;
  readonly #sessionOf: (docNum: number, session: SessionId) => SessionPlace | undefined;
  /** Snapshot heads by document (null: none), written through by put. */
  readonly #heads = new Map<DocId, SnapshotHead | null>();
  /** When the oldest snapshot with pruning still to do was taken (null: none); undefined until read. */
  #pruneNext: number | null | undefined;

  constructor(sql: SqlStorage, transactionSync: <T>(fn: () => T) => T, sessionOf: (docNum: number, session: SessionId) => SessionPlace | undefined) {
    this.#sql = sql;
    this.#transactionSync = transactionSync;
    this.#sessionOf = sessionOf;
  }

  head(docNum: number, doc: DocId): SnapshotHead | undefined {
    const cached = this.#heads.get(doc);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.#sql
      .exec<{ session: SessionId; covers: string; bytes: number; taken_at: number }>("SELECT session, covers, bytes, taken_at FROM snapshots WHERE doc_num = ?", docNum)
      .toArray()[0];
    const head = found ? { session: found.session, covers: JSON.parse(found.covers) as SessionCounts, bytes: found.bytes, takenAt: found.taken_at } : null;
    this.#remember(doc, head);
    return head ?? undefined;
  }

  /** A listing found that the document has no snapshot: a load of it then reads none. */
  noneFor(doc: DocId): void {
    if (!this.#heads.has(doc)) this.#remember(doc, null);
  }

  read(docNum: number, doc: DocId): StoredSnapshot | undefined {
    const found = this.#sql
      .exec<{ session: SessionId; covers: string; data: string | ArrayBuffer; signature: string; taken_at: number; at: number | null }>(
        "SELECT session, covers, signature, taken_at, at, data FROM snapshots WHERE doc_num = ?",
        docNum,
      )
      .toArray()[0];
    if (!found) return undefined;
    const data = typeof found.data === "string" ? found.data : new Uint8Array(found.data);
    const at = found.at === null ? {} : { at: found.at };
    return { doc, session: found.session, covers: JSON.parse(found.covers) as SessionCounts, data, ...at, signature: found.signature, takenAt: found.taken_at };
  }

  /** One statement: the document's snapshot row, replaced whole, with its pruning still to do (`prune_after` ''). */
  put(docNum: number, snapshot: StoredSnapshot): void {
    const data = typeof snapshot.data === "string" ? snapshot.data : (snapshot.data.slice().buffer as ArrayBuffer);
    const bytes = dataBytes(snapshot.data);
    this.#sql.exec(
      `INSERT INTO snapshots (doc_num, session, covers, data, bytes, signature, taken_at, at, prune_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '')
       ON CONFLICT (doc_num) DO UPDATE SET session = excluded.session, covers = excluded.covers, data = excluded.data, bytes = excluded.bytes,
         signature = excluded.signature, taken_at = excluded.taken_at, at = excluded.at, prune_after = ''`,
      docNum,
      snapshot.session,
      JSON.stringify(snapshot.covers),
      data,
      bytes,
      snapshot.signature,
      snapshot.takenAt,
      snapshot.at ?? null,
    );
    this.#remember(snapshot.doc, { session: snapshot.session, covers: { ...snapshot.covers }, bytes, takenAt: snapshot.takenAt });
    this.#pruneNext = undefined;
  }

  /** Inside the transaction that deletes the document: its snapshot goes with it. */
  deleteFor(docNum: number, doc: DocId): void {
    this.#sql.exec("DELETE FROM snapshots WHERE doc_num = ?", docNum);
    this.#heads.delete(doc);
    this.#pruneNext = undefined;
  }

  /** A write transaction was rolled back: what was written through may not be stored. */
  forgetAll(): void {
    this.#heads.clear();
    this.#pruneNext = undefined;
  }

  /**
   * Deletes the chunks each due snapshot covers entirely, sessions in id order, remembering in the
   * snapshot's row the last session done (`prune_after`; NULL once all are), so a slice that runs out of
   * budget is taken up by the next. A chunk is covered entirely when a later chunk, or the open one,
   * starts at or before the covered count; the open chunk itself is never deleted. Per session visited:
   * one statement, which deletes at most what is left of the budget.
   */
  prune(takenBy: number, budget: number): PruneSlice {
    let work = 0;
    // Nothing due (known without a query): most alarms are for other things.
    if (this.#pruneNext === null) return { work, next: undefined };
    if (this.#pruneNext !== undefined && this.#pruneNext > takenBy) return { work, next: this.#pruneNext };
    return this.#transactionSync(() => {
      for (;;) {
        const due = this.#sql
          .exec<{ doc_num: number; covers: string; taken_at: number; prune_after: string }>(
            "SELECT doc_num, covers, taken_at, prune_after FROM snapshots WHERE prune_after IS NOT NULL ORDER BY taken_at LIMIT 1",
          )
          .toArray()[0];
        this.#pruneNext = due?.taken_at ?? null;
        if (!due) return { work, next: undefined };
        if (due.taken_at > takenBy || work >= budget) return { work, next: due.taken_at };
        const covers = JSON.parse(due.covers) as SessionCounts;
        const sessions = (Object.keys(covers) as SessionId[]).filter((session) => session > due.prune_after).sort();
        let done = due.prune_after;
        for (const session of sessions) {
          if (work >= budget) break;
          const place = this.#sessionOf(due.doc_num, session);
          work++;
          if (place) {
            const covered = covers[session]!;
            const limit = Math.max(1, budget - work);
            const deleted = this.#pruneSession(place, covered, limit);
            work += deleted;
            if (deleted === limit) break; // perhaps more of this session: the next slice goes on with it
          }
          done = session;
        }
        if (done === sessions.at(-1) || sessions.length === 0) {
          this.#sql.exec("UPDATE snapshots SET prune_after = NULL WHERE doc_num = ?", due.doc_num);
          this.#pruneNext = undefined;
          continue;
        }
        if (done !== due.prune_after) this.#sql.exec("UPDATE snapshots SET prune_after = ? WHERE doc_num = ?", done, due.doc_num);
        return { work, next: due.taken_at };
      }
    });
  }

  /**
   * Deletes at most `limit` chunks of a session that end at or before `covered`; how many it deleted. Three
   * index seeks, and a range delete rather than `IN (…)` or `RETURNING`, which SQLite bills as reading each
   * deleted row two or three times more.
   */
  #pruneSession({ num, tailFirst }: SessionPlace, covered: number, limit: number): number {
    const start = this.#sql.exec<{ first: number | null }>("SELECT max(first) AS first FROM chunks WHERE session_num = ? AND first <= ?", num, covered).one().first;
    let end = Math.max(start ?? 0, tailFirst <= covered ? tailFirst : 0);
    const beyond = this.#sql.exec<{ first: number }>("SELECT first FROM chunks WHERE session_num = ? AND first < ? ORDER BY first LIMIT 1 OFFSET ?", num, end, limit).toArray()[0];
    if (beyond) end = beyond.first;
    const cursor = this.#sql.exec("DELETE FROM chunks WHERE session_num = ? AND first < ?", num, end);
    cursor.toArray();
    return cursor.rowsWritten;
  }

  #remember(doc: DocId, head: SnapshotHead | null): void {
    this.#heads.delete(doc);
    if (this.#heads.size >= SNAPSHOT_CACHE_SIZE) this.#heads.delete(this.#heads.keys().next().value!);
    this.#heads.set(doc, head);
  }
}
