// How SqliteStore lays a write out in rows: a document's row, its sessions' rows (each with its open chunk,
// transaction-chunks.ts) and closed chunks, in as few statements as the rows allow. These run inside the
// store's write transaction and return what they stored, for its caches; they read nothing but what SQLite
// returns from the inserts.
import type { DocId, SessionId } from "../protocol/index.ts";
import type { SessionAppend, SessionHead, Write } from "./core/store.ts";
import { encodeItem, planAppend, type Tail } from "./transaction-chunks.ts";

/** A document's row number (never changes once given), tombstone flag and session count. */
export type DocRow = { num: number; deleted: boolean; sessions: number };
/** A session's head with its row number and open chunk. */
export type HeadRow = SessionHead & { num: number; tail: Tail };
/** What a write stored: documents' rows, and sessions' heads by `<doc row> <session id>`. */
export type Stored = { rows: [DocId, DocRow][]; heads: [string, HeadRow][] };

const EMPTY_TAIL: Tail = { first: 0, count: 0, chars: 0 };

/** An append's transactions as a chunk stores them, its signature on the last. */
function encodeAppend(append: SessionAppend): string[] {
  const last = append.transactions.length - 1;
  return append.transactions.map((transaction, i) => encodeItem(transaction, i === last ? append.signature : undefined));
}

/** Characters of JSON one statement of a multi-row insert carries: far under the 2 MB a bound value may hold. */
const CREATE_PAGE_CHARS = 256 * 1024;

/** Rows as one JSON array per page of at most about CREATE_PAGE_CHARS (a larger row goes alone). */
function jsonPages(rows: readonly unknown[][]): string[] {
  const pages: string[] = [];
  let page: string[] = [];
  let chars = 0;
  for (const row of rows) {
    const text = JSON.stringify(row);
    if (page.length > 0 && chars + text.length > CREATE_PAGE_CHARS) {
      pages.push(`[${page.join(",")}]`);
      page = [];
      chars = 0;
    }
    page.push(text);
    chars += text.length + 1;
  }
  if (page.length > 0) pages.push(`[${page.join(",")}]`);
  return pages;
}

/**
 * New documents (each write's header and sessions, all starting at 0), each with its cursor: their rows,
 * their sessions' rows and any full chunks, each in one statement per CREATE_PAGE_CHARS of JSON rather
 * than per document.
 */
export function insertNewDocs(sql: SqlStorage, writes: readonly (readonly [Write, number])[], folded: boolean): Stored {
  const stored: Stored = { rows: [], heads: [] };
  const nums = new Map<DocId, number>();
  for (const page of jsonPages(writes.map(([write, cursor]) => [write.doc, JSON.stringify(write.header), write.now, write.header!.readers ? 1 : 0, cursor, write.appends.length]))) {
    const rows = sql.exec<{ id: DocId; num: number }>(
      `INSERT INTO docs (id, header, updated_at, restricted, cursor, sessions, digested)
       SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]', value ->> '$[3]', value ->> '$[4]', value ->> '$[5]', ? FROM json_each(?) WHERE true
       RETURNING id, num`,
      folded ? null : 0,
      page,
    );
    for (const row of rows) nums.set(row.id, row.num);
  }
  const sessionRows: unknown[][] = [];
  const opens = new Map<string, { num: number; session: SessionId; head: Omit<HeadRow, "num"> }>();
  const closed: { key: string; first: number; text: string }[] = [];
  for (const [write] of writes) {
    const docNum = nums.get(write.doc)!;
    stored.rows.push([write.doc, { num: docNum, deleted: false, sessions: write.appends.length }]);
    for (const append of write.appends) {
      if (append.after !== 0) throw new Error(`commit: ${append.session} has 0, not ${append.after}`);
      const packed = planAppend(EMPTY_TAIL, 0, encodeAppend(append));
      const key = `${docNum} ${append.session}`;
      const count = append.transactions.length;
      opens.set(key, { num: 0, session: append.session, head: { count, lastHash: append.lastHash, tail: packed.tail } });
      for (const chunk of packed.closed) closed.push({ key, ...chunk });
      sessionRows.push([docNum, append.session, count, append.lastHash, append.signature, packed.open.first, packed.open.text, append.bytes]);
    }
  }
  for (const page of jsonPages(sessionRows)) {
    const rows = sql.exec<{ num: number; doc_num: number; id: SessionId }>(
      `INSERT INTO sessions (doc_num, id, count, last_hash, signature, tail_first, tail, bytes, digested)
       SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]', value ->> '$[3]', value ->> '$[4]', value ->> '$[5]', value ->> '$[6]', value ->> '$[7]', ? FROM json_each(?) WHERE true
       RETURNING num, doc_num, id`,
      folded ? null : 0,
      page,
    );
    for (const row of rows) opens.get(`${row.doc_num} ${row.id}`)!.num = row.num;
  }
  for (const page of jsonPages(closed.map((chunk) => [opens.get(chunk.key)!.num, chunk.first, chunk.text]))) {
    sql.exec("INSERT INTO chunks (session_num, first, body) SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]' FROM json_each(?)", page);
  }
  for (const [key, { num, head }] of opens) stored.heads.push([key, { num, ...head }]);
  return stored;
}

/**
 * One write's document row, session heads and chunks, given the document's row (`known`: none if it is
 * new, or not stored, or deleted) and its sessions' heads as they stand (`headOf`); also how many sessions
 * it started.
 */
export function writeToDoc(
  sql: SqlStorage,
  write: Write,
  cursor: number,
  folded: boolean,
  known: DocRow | undefined,
  headOf: (docNum: number, session: SessionId) => HeadRow | undefined,
): Stored & { newSessions: number } {
  const newSessions = write.appends.filter((append) => append.after === 0).length;
  let docRow: DocRow;
  const heads: [string, HeadRow][] = [];
  let docNum: number;
  if (write.header) {
    docNum = sql
      .exec<{ num: number }>(
        "INSERT INTO docs (id, header, updated_at, restricted, cursor, sessions, digested) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING num",
        write.doc,
        JSON.stringify(write.header),
        write.now,
        write.header.readers ? 1 : 0,
        cursor,
        newSessions,
        folded ? null : 0,
      )
      .one().num;
    docRow = { num: docNum, deleted: false, sessions: newSessions };
  } else {
    if (!known) throw new Error(`commit: unknown document ${write.doc}`);
    docNum = known.num;
    sql.exec("UPDATE docs SET updated_at = ?, cursor = ?, sessions = sessions + ? WHERE num = ?", write.now, cursor, newSessions, docNum);
    docRow = { ...known, sessions: known.sessions + newSessions };
  }
  if (write.appends.length > 0) {
    // Each append must start where its log ends (a new document's at 0): nothing is written past a gap.
    const planned = write.appends.map((append) => {
      const head = write.header ? undefined : headOf(docNum, append.session);
      const held = head?.count ?? 0;
      if (append.after !== held) throw new Error(`commit: ${append.session} has ${held}, not ${append.after}`);
      return { append, head, ...planAppend(head?.tail ?? EMPTY_TAIL, append.after, encodeAppend(append)) };
    });
    // A full open chunk is closed as it is, and the new transactions start chunks of their own.
    const sealed = planned.flatMap((plan) => (plan.sealsTail ? [plan.head!.num] : []));
    if (sealed.length > 0) {
      sql.exec("INSERT INTO chunks (session_num, first, body) SELECT num, tail_first, tail FROM sessions WHERE num IN (SELECT value FROM json_each(?))", JSON.stringify(sealed));
    }
    const nums = new Map<string, number>();
    const sessionRows = sql.exec<{ num: number; id: string }>(
      `INSERT INTO sessions (doc_num, id, count, last_hash, signature, tail_first, tail, bytes, digested)
       SELECT ?, value ->> '$[0]', value ->> '$[1]', value ->> '$[2]', value ->> '$[3]', value ->> '$[4]', value ->> '$[5]', value ->> '$[6]', ? FROM json_each(?) WHERE true
       ON CONFLICT (doc_num, id) DO UPDATE SET count = excluded.count, last_hash = excluded.last_hash, signature = excluded.signature,
         digested = CASE WHEN excluded.digested IS NULL THEN NULL ELSE coalesce(sessions.digested, sessions.count) END,
         tail = CASE WHEN excluded.tail_first <> sessions.tail_first OR sessions.tail = '' THEN excluded.tail ELSE sessions.tail || ',' || excluded.tail END,
         tail_first = excluded.tail_first, bytes = bytes + excluded.bytes
       RETURNING num, id`,
      docNum,
      folded ? null : 0,
      JSON.stringify(
        planned.map(({ append, open }) => [append.session, append.after + append.transactions.length, append.lastHash, append.signature, open.first, open.text, append.bytes]),
      ),
    );
    for (const row of sessionRows) nums.set(row.id, row.num);
    const closed = planned.flatMap(({ append, closed }) => closed.map((chunk) => [nums.get(append.session)!, chunk.first, chunk.text]));
    if (closed.length > 0) {
      sql.exec(
        "INSERT INTO chunks (session_num, first, body) SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]' FROM json_each(?)",
        JSON.stringify(closed),
      );
    }
    for (const { append, tail } of planned) {
      const num = nums.get(append.session)!;
      heads.push([`${docNum} ${append.session}`, { num, count: append.after + append.transactions.length, lastHash: append.lastHash, tail }]);
    }
  }
  return { rows: [[write.doc, docRow]], heads, newSessions };
}
