// The group digest's sum, brought up to date lazily. A write does not touch the sum: the statements that
// already store its document row and session heads leave what the sum holds of them in the rows themselves
// (`sessions.digested`: the count the session is in the sum at, NULL when that is its count; `docs.digested`:
// 0 while a new document's header is not in the sum yet, NULL once it is, or once the document is deleted),
// and the document's cursor moves past `digest_cursor`. Folding reads the documents changed since, moves
// the sum from what it holds of them to what they are (protocol/digest.ts: one SHAKE128 per element that
// changed, however many writes it took), and marks them folded, all in the caller's SQLite transaction. So
// a session written a thousand times between two `dir`s costs two vectors instead of a thousand, and the
// sum on disk and the rows always agree, across hibernation and restarts.
import { knownStatesEqual, updateDigestSumAll, type DocId, type KnownState, type SessionId } from "../protocol/index.ts";

type FoldRow = {
  doc_num: number;
  doc: DocId;
  deleted: number;
  restricted: number;
  header_digested: number | null;
  session_num: number | null;
  session: SessionId | null;
  count: number | null;
  digested: number | null;
};

/** A document from what the sum held of it to what it is. */
export type DigestChange = [doc: DocId, before: KnownState, after: KnownState];

/**
 * Folds every change made after `fromCursor` into `sum`, marks the rows folded and returns the new sum with
 * the changes of the documents that limit their readers (the readers' sums move by them too), or undefined
 * when no document changed after `fromCursor`. Runs inside the caller's transaction: two reads of the rows
 * are never apart from the writes that rely on them.
 */
export function foldDigest(sql: SqlStorage, sum: string, fromCursor: number): { sum: string; restricted: DigestChange[] } | undefined {
  const rows = sql
    .exec<FoldRow>(
      `SELECT d.num AS doc_num, d.id AS doc, d.deleted, d.restricted, d.digested AS header_digested,
         s.num AS session_num, s.id AS session, s.count, s.digested
       FROM docs d LEFT JOIN sessions s ON s.doc_num = d.num AND s.digested IS NOT NULL
       WHERE d.cursor > ?`,
      fromCursor,
    )
    .toArray();
  if (rows.length === 0) return undefined;
  const changes = new Map<number, DigestChange>();
  const restrictedNums: number[] = [];
  const headers: number[] = [];
  const sessions: number[] = [];
  for (const row of rows) {
    let change = changes.get(row.doc_num);
    if (!change) {
      // A header is in the sum while its document is live, except a new one's until it is folded.
      const headerHeld = row.header_digested === null ? row.deleted === 0 : row.header_digested !== 0;
      change = [row.doc, { header: headerHeld, sessions: {} }, { header: row.deleted === 0, sessions: {} }];
      changes.set(row.doc_num, change);
      if (row.restricted) restrictedNums.push(row.doc_num);
      if (row.header_digested !== null) headers.push(row.doc_num);
    }
    if (row.session_num === null) continue;
    change[1].sessions[row.session!] = row.digested!;
    change[2].sessions[row.session!] = row.count!;
    sessions.push(row.session_num);
  }
  if (sessions.length > 0) sql.exec("UPDATE sessions SET digested = NULL WHERE num IN (SELECT value FROM json_each(?))", JSON.stringify(sessions));
  if (headers.length > 0) sql.exec("UPDATE docs SET digested = NULL WHERE num IN (SELECT value FROM json_each(?))", JSON.stringify(headers));
  const restricted = restrictedNums.map((num) => changes.get(num)!).filter(([, before, after]) => !knownStatesEqual(before, after));
  return { sum: updateDigestSumAll(sum, changes.values()), restricted };
}
