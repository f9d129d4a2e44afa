// GroupStore on Durable Object SQLite. Documents and sessions get integer keys so each transaction row
// carries two integers, not two long ids; reads stream through cursors, never a whole group at once.
import { EMPTY_DIGEST, EMPTY_DIGEST_SUM, agentOfSession, digestOfSum, digestSumOf, updateDigestSum } from "../protocol/index.ts";
import type { AgentId, DirEntry, DocHeader, DocId, KnownState, Role, SessionId } from "../protocol/index.ts";
import { ALL_DOCS, digestAfter, type AgentUsage, type ListedDoc, type GroupInfo, type GroupStore, type LogPosition, type PeerId, type SessionHead, type StoredTransaction, type Write } from "./core/store.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS docs (
  num INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  header TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  cursor INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  restricted INTEGER NOT NULL DEFAULT 0,
  sessions INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS docs_by_cursor ON docs (cursor);
CREATE TABLE IF NOT EXISTS sessions (
  num INTEGER PRIMARY KEY,
  doc_num INTEGER NOT NULL REFERENCES docs (num),
  id TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_hash TEXT NOT NULL,
  signature TEXT NOT NULL,
  UNIQUE (doc_num, id)
);
CREATE TABLE IF NOT EXISTS transactions (
  session_num INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  at INTEGER NOT NULL,
  data NOT NULL, -- TEXT for text, BLOB for bytes (a column without a type keeps each as it is)
  signature TEXT,
  PRIMARY KEY (session_num, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  doc TEXT NOT NULL,
  peer TEXT NOT NULL,
  PRIMARY KEY (doc, peer)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS subscriptions_by_peer ON subscriptions (peer);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (agent TEXT PRIMARY KEY, role TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agent_usage (agent TEXT PRIMARY KEY, docs INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0);
`;

/** Rows read per query when streaming a session log: bounded memory whatever the log's length. */
const PAGE_ROWS = 2_000;

/** Parsed headers kept in memory: read on every write to a document, never changed once stored. */
const HEADER_CACHE_SIZE = 1_000;
const ROW_CACHE_SIZE = 20_000;
/** Subscriber lists kept in memory (one per document, and the group-wide one): fan-out reads none. */
const SUBSCRIBER_CACHE_SIZE = 256;
/** Heads of the sessions written lately: a writer's next append reads nothing to find where its log ends. */
const HEAD_CACHE_SIZE = 10_000;

/** The bytes of a write's transactions of bytes, back to back, as one BLOB parameter. */
class BlobBuilder {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  /** Adds bytes; returns their 1-based offset, as SQLite's substr() counts. */
  add(bytes: Uint8Array): number {
    this.#parts.push(bytes);
    this.#length += bytes.byteLength;
    return this.#length - bytes.byteLength + 1;
  }

  build(): ArrayBuffer | null {
    if (this.#parts.length === 0) return null;
    const blob = new Uint8Array(this.#length);
    let offset = 0;
    for (const part of this.#parts) {
      blob.set(part, offset);
      offset += part.byteLength;
    }
    return blob.buffer;
  }
}

type DocRow = { num: number; deleted: boolean; sessions: number };
type DocListRow = { num: number; id: DocId; header: string; updated_at: number; cursor: number; deleted: number };
type HeadRow = SessionHead & { num: number };

/**
 * The object is the only writer of its storage, so group facts, roles and headers are cached in memory
 * between writes: a frame that changes nothing reads no metadata from SQLite.
 */
export class SqliteStore implements GroupStore {
  #info: GroupInfo | undefined;
  #memberRoles: Map<AgentId, Role> | undefined;
  readonly #headers = new Map<DocId, DocHeader>();
  /** Meta values, written through. */
  readonly #meta = new Map<string, string | undefined>();
  /** Each document's row number, tombstone flag and session count; a row number never changes once given. */
  readonly #rows = new Map<DocId, DocRow>();
  /** Subscribers by document (or ALL_DOCS), written through by subscribe and unsubscribe. */
  readonly #subscribers = new Map<string, Set<PeerId>>();
  /** Session heads by `<doc row> <session id>`, written through by every commit. */
  readonly #heads = new Map<string, HeadRow>();
  readonly sql: SqlStorage;
  readonly transactionSync: <T>(fn: () => T) => T;

  constructor(sql: SqlStorage, transactionSync: <T>(fn: () => T) => T) {
    this.sql = sql;
    this.transactionSync = transactionSync;
    // Objects created by an earlier version get the newer columns of `docs` first.
    const docColumns = sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('docs')").toArray().map((row) => row.name);
    const countsUsage = sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'agent_usage'").toArray().length > 0;
    if (docColumns.length > 0) {
      for (const column of ["cursor", "deleted", "restricted", "sessions"]) {
        if (!docColumns.includes(column)) sql.exec(`ALTER TABLE docs ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 0`);
      }
      if (!docColumns.includes("sessions")) sql.exec("UPDATE docs SET sessions = (SELECT count(*) FROM sessions WHERE doc_num = docs.num)");
    }
    sql.exec(SCHEMA);
    // Groups stored before agents' usage was counted: count it once.
    if (!countsUsage && docColumns.length > 0) {
      sql.exec(`INSERT INTO agent_usage (agent, docs) SELECT header ->> '$.creator', count(*) FROM docs WHERE deleted = 0 GROUP BY 1`);
      sql.exec(
        `INSERT INTO agent_usage (agent, sessions) SELECT substr(id, 1, instr(id, '~') - 1), count(*) FROM sessions WHERE true GROUP BY 1
         ON CONFLICT (agent) DO UPDATE SET sessions = excluded.sessions`,
      );
    }
    // Groups stored before the digest became a set hash have an XOR digest and no sum: rebuild both once.
    if (this.meta("digest") !== undefined && this.meta("digest_sum") === undefined) this.#rebuildDigest();
  }

  #rebuildDigest(): void {
    const live = function* (entries: Iterable<DirEntry>): Iterable<[DocId, KnownState]> {
      for (const entry of entries) if (!entry.deleted) yield [entry.id, entry.known];
    };
    const digestSum = digestSumOf(live(this.listDocuments(0)));
    this.transactionSync(() => {
      this.setMeta("digest_sum", digestSum);
      this.setMeta("digest", digestOfSum(digestSum));
    });
  }

  meta(key: string): string | undefined {
    if (!this.#meta.has(key)) {
      this.#meta.set(key, this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value);
    }
    return this.#meta.get(key);
  }

  setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
    this.#meta.set(key, value);
  }

  info(): GroupInfo {
    this.#info ??= this.#readInfo();
    return { ...this.#info };
  }

  #readInfo(): GroupInfo {
    const membersDoc = this.meta("members_doc") as DocId | undefined;
    return {
      membersDoc,
      membersLast: JSON.parse(this.meta("members_last") ?? '{"at":0,"session":""}') as LogPosition,
      cursor: Number(this.meta("cursor") ?? 0),
      digest: this.meta("digest") ?? EMPTY_DIGEST,
      digestSum: this.meta("digest_sum") ?? EMPTY_DIGEST_SUM,
    };
  }

  role(agent: AgentId): Role | undefined {
    return this.#members().get(agent);
  }

  members(): Map<AgentId, Role> {
    return new Map(this.#members());
  }

  #members(): Map<AgentId, Role> {
    this.#memberRoles ??= new Map(
      this.sql.exec<{ agent: AgentId; role: Role }>("SELECT agent, role FROM members").toArray().map((row) => [row.agent, row.role]),
    );
    return this.#memberRoles;
  }

  header(doc: DocId): DocHeader | undefined {
    const cached = this.#headers.get(doc);
    if (cached) return cached;
    const row = this.sql.exec<{ header: string }>("SELECT header FROM docs WHERE id = ? AND deleted = 0", doc).toArray()[0];
    if (!row) return undefined;
    const header = JSON.parse(row.header) as DocHeader;
    if (this.#headers.size >= HEADER_CACHE_SIZE) this.#headers.delete(this.#headers.keys().next().value!);
    this.#headers.set(doc, header);
    return header;
  }

  deleted(doc: DocId): boolean {
    return this.#row(doc)?.deleted ?? false;
  }

  hasRestrictedDocs(): boolean {
    return this.sql.exec("SELECT 1 FROM docs WHERE restricted = 1 AND deleted = 0 LIMIT 1").toArray().length > 0;
  }

  knownState(doc: DocId): KnownState {
    const row = this.#row(doc);
    if (!row || row.deleted) return { header: false, sessions: {} };
    const docNum = row.num;
    const sessions: KnownState["sessions"] = {};
    for (const row of this.sql.exec<{ id: SessionId; count: number }>("SELECT id, count FROM sessions WHERE doc_num = ?", docNum)) {
      sessions[row.id] = row.count;
    }
    return { header: true, sessions };
  }

  sessionHead(doc: DocId, session: SessionId): SessionHead | undefined {
    const row = this.#row(doc);
    if (!row || row.deleted) return undefined;
    const head = this.#head(row.num, session);
    return head ? { count: head.count, lastHash: head.lastHash } : undefined;
  }

  #head(docNum: number, session: SessionId): HeadRow | undefined {
    const key = `${docNum} ${session}`;
    const cached = this.#heads.get(key);
    if (cached) return cached;
    const row = this.sql
      .exec<{ num: number; count: number; last_hash: string }>("SELECT num, count, last_hash FROM sessions WHERE doc_num = ? AND id = ?", docNum, session)
      .toArray()[0];
    if (!row) return undefined;
    const head = { num: row.num, count: row.count, lastHash: row.last_hash };
    this.#remember(key, head);
    return head;
  }

  #remember(key: string, head: HeadRow): void {
    this.#heads.delete(key);
    if (this.#heads.size >= HEAD_CACHE_SIZE) this.#heads.delete(this.#heads.keys().next().value!);
    this.#heads.set(key, head);
  }

  usage(agent: AgentId): AgentUsage {
    const row = this.sql.exec<AgentUsage>("SELECT docs, sessions FROM agent_usage WHERE agent = ?", agent).toArray()[0];
    return row ? { docs: row.docs, sessions: row.sessions } : { docs: 0, sessions: 0 };
  }

  sessionCount(doc: DocId): number {
    const row = this.#row(doc);
    return row && !row.deleted ? row.sessions : 0;
  }

  subscribers(doc: DocId): PeerId[] {
    return [...new Set([...this.#subscribersOf(doc), ...this.#subscribersOf(ALL_DOCS)])];
  }

  #subscribersOf(doc: string): Set<PeerId> {
    let peers = this.#subscribers.get(doc);
    if (!peers) {
      peers = new Set(this.sql.exec<{ peer: string }>("SELECT peer FROM subscriptions WHERE doc = ?", doc).toArray().map((row) => row.peer));
      if (this.#subscribers.size >= SUBSCRIBER_CACHE_SIZE) this.#subscribers.delete(this.#subscribers.keys().next().value!);
      this.#subscribers.set(doc, peers);
    }
    return peers;
  }

  *readTransactions(doc: DocId, session: SessionId, from: number, to: number): Iterable<StoredTransaction> {
    const docNum = this.#row(doc)?.num;
    if (docNum === undefined) return;
    const row = this.sql.exec<{ num: number }>("SELECT num FROM sessions WHERE doc_num = ? AND id = ?", docNum, session).toArray()[0];
    if (!row) return;
    // A session's indexes are dense (0, 1, 2, …), so a page is a range of them and each row's index is
    // its position. Rows come as arrays (raw), not objects: a cold load reads thousands, and naming every
    // column of every row was the relay's largest cost in answering one. A page is read whole before
    // yielding, so no cursor stays open while the caller runs.
    for (let next = from; next < to; next += PAGE_ROWS) {
      const end = Math.min(to, next + PAGE_ROWS);
      const page = [
        ...this.sql
          .exec("SELECT at, data, signature FROM transactions WHERE session_num = ? AND idx >= ? AND idx < ? ORDER BY idx", row.num, next, end)
          .raw<[number, string | ArrayBuffer, string | null]>(),
      ];
      for (let i = 0; i < page.length; i++) {
        const [at, value, signature] = page[i]!;
        // Text is stored as TEXT, bytes as a BLOB: each comes back as it went in.
        const data = typeof value === "string" ? value : new Uint8Array(value);
        yield signature === null ? { index: next + i, at, data } : { index: next + i, at, data, signature };
      }
      if (page.length < end - next) return;
    }
  }

  *listDocuments(since = 0): Iterable<ListedDoc> {
    for (let after = since; ; ) {
      const page = this.sql
        .exec<DocListRow>("SELECT num, id, header, updated_at, cursor, deleted FROM docs WHERE cursor > ? ORDER BY cursor LIMIT ?", after, PAGE_ROWS)
        .toArray();
      if (page.length === 0) return;
      for (const doc of page) yield { ...this.#dirEntry(doc), cursor: doc.cursor };
      after = page[page.length - 1]!.cursor;
    }
  }

  *listDocumentsById(after?: DocId, through?: DocId): Iterable<DirEntry> {
    for (let from = after ?? ""; ; ) {
      const page = this.sql
        .exec<DocListRow>(
          "SELECT num, id, header, updated_at, cursor, deleted FROM docs WHERE id > ? AND (? IS NULL OR id <= ?) ORDER BY id LIMIT ?",
          from,
          through ?? null,
          through ?? null,
          PAGE_ROWS,
        )
        .toArray();
      if (page.length === 0) return;
      for (const doc of page) yield this.#dirEntry(doc);
      from = page[page.length - 1]!.id;
    }
  }

  #dirEntry(doc: DocListRow): DirEntry {
    const header = JSON.parse(doc.header) as DocHeader;
    if (doc.deleted) return { id: doc.id, header, known: { header: false, sessions: {} }, updatedAt: doc.updated_at, deleted: true };
    const sessions: KnownState["sessions"] = {};
    for (const row of this.sql.exec<{ id: SessionId; count: number }>("SELECT id, count FROM sessions WHERE doc_num = ?", doc.num)) {
      sessions[row.id] = row.count;
    }
    return { id: doc.id, header, known: { header: true, sessions }, updatedAt: doc.updated_at };
  }

  /**
   * Four statements whatever the write holds: the document row, every session head, every transaction
   * (SQLite unpacks them from one JSON parameter, so statements stay far under the 100 KB statement
   * limit and values under the 2 MB value limit), and the group's cursor and digest. The primary key
   * refuses a second row at the same index: a double append fails loudly and rolls back whole.
   */
  commit(write: Write): void {
    const known = this.#row(write.doc);
    const newSessions = write.appends.filter((append) => append.after === 0).length;
    const info = this.info();
    const cursor = info.cursor + 1;
    const digestSum = digestAfter(info.digestSum, write);
    const digest = digestOfSum(digestSum);
    let docRow: DocRow | undefined;
    const heads: [string, HeadRow][] = [];
    this.#write(() => {
      let docNum: number;
      if (write.header) {
        docNum = this.sql
          .exec<{ num: number }>(
            "INSERT INTO docs (id, header, updated_at, restricted, cursor, sessions) VALUES (?, ?, ?, ?, ?, ?) RETURNING num",
            write.doc,
            JSON.stringify(write.header),
            write.now,
            write.header.readers ? 1 : 0,
            cursor,
            newSessions,
          )
          .one().num;
        docRow = { num: docNum, deleted: false, sessions: newSessions };
      } else {
        if (!known || known.deleted) throw new Error(`commit: unknown document ${write.doc}`);
        docNum = known.num;
        this.sql.exec("UPDATE docs SET updated_at = ?, cursor = ?, sessions = sessions + ? WHERE num = ?", write.now, cursor, newSessions, docNum);
        docRow = { ...known, sessions: known.sessions + newSessions };
      }
      // Each append must start where its log ends (a new document's at 0): nothing is written past a gap.
      for (const append of write.appends) {
        const held = write.header ? 0 : (this.#head(docNum, append.session)?.count ?? 0);
        if (append.after !== held) throw new Error(`commit: ${append.session} has ${held}, not ${append.after}`);
      }
      if (write.appends.length > 0) {
        const nums = new Map<string, number>();
        const sessionRows = this.sql.exec<{ num: number; id: string }>(
          `INSERT INTO sessions (doc_num, id, count, last_hash, signature)
           SELECT ?, value ->> '$[0]', value ->> '$[1]', value ->> '$[2]', value ->> '$[3]' FROM json_each(?) WHERE true
           ON CONFLICT (doc_num, id) DO UPDATE SET count = excluded.count, last_hash = excluded.last_hash, signature = excluded.signature
           RETURNING num, id`,
          docNum,
          JSON.stringify(write.appends.map((append) => [append.session, append.after + append.transactions.length, append.lastHash, append.signature])),
        );
        for (const row of sessionRows) nums.set(row.id, row.num);
        // One flat row per transaction: a nested array would make SQLite parse a whole append's JSON again
        // for every transaction in it (quadratic in the append's size). Data of bytes cannot travel in
        // JSON: all of the write's bytes go as one BLOB parameter, and a row of bytes holds its offset and
        // length in it instead of text (within the frame limit, so far under the 2 MB per value). substr()
        // of an empty BLOB is NULL, so empty bytes are written as x'' directly.
        const rows: [number, number, number, string | null, string | null, number?, number?][] = [];
        const blobs = new BlobBuilder();
        for (const append of write.appends) {
          const num = nums.get(append.session)!;
          heads.push([`${docNum} ${append.session}`, { num, count: append.after + append.transactions.length, lastHash: append.lastHash }]);
          const last = append.transactions.length - 1;
          append.transactions.forEach(({ at, data }, i) => {
            const signature = i === last ? append.signature : null;
            if (typeof data === "string") rows.push([num, append.after + i, at, data, signature]);
            else rows.push([num, append.after + i, at, null, signature, blobs.add(data), data.byteLength]);
          });
        }
        this.sql.exec(
          `INSERT INTO transactions (session_num, idx, at, data, signature)
           SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]',
             CASE WHEN value ->> '$[5]' IS NULL THEN value ->> '$[3]' WHEN value ->> '$[6]' = 0 THEN x'' ELSE substr(?2, value ->> '$[5]', value ->> '$[6]') END,
             value ->> '$[4]'
           FROM json_each(?1)`,
          JSON.stringify(rows),
          blobs.build(),
        );
      }
      this.sql.exec(
        "INSERT INTO meta (key, value) VALUES ('cursor', ?), ('digest', ?), ('digest_sum', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        String(cursor),
        digest,
        digestSum,
      );
      if (write.header || newSessions > 0) {
        const agent = write.header?.creator ?? agentOfSession(write.appends[0]!.session);
        this.sql.exec(
          `INSERT INTO agent_usage (agent, docs, sessions) VALUES (?, ?, ?)
           ON CONFLICT (agent) DO UPDATE SET docs = docs + excluded.docs, sessions = sessions + excluded.sessions`,
          agent,
          write.header ? 1 : 0,
          newSessions,
        );
      }
      if (write.members) {
        if (write.members.genesis) this.setMeta("members_doc", write.doc);
        this.setMeta("members_last", JSON.stringify(write.members.last));
        for (const change of write.members.changes) {
          if (change.role) this.sql.exec("INSERT INTO members (agent, role) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET role = excluded.role", change.agent, change.role);
          else this.sql.exec("DELETE FROM members WHERE agent = ?", change.agent);
        }
      }
    }, write.members !== undefined);
    // Committed: what it wrote is what the caches now hold.
    this.#meta.set("cursor", String(cursor));
    this.#meta.set("digest", digest);
    this.#meta.set("digest_sum", digestSum);
    this.#rows.set(write.doc, docRow!);
    for (const [key, head] of heads) this.#remember(key, head);
  }

  deleteDoc(doc: DocId, now: number): void {
    const creator = this.header(doc)?.creator;
    this.#headers.delete(doc);
    this.#write(() => {
      const row = this.#row(doc);
      if (!row || row.deleted) return;
      const docNum = row.num;
      if (creator) this.sql.exec("UPDATE agent_usage SET docs = docs - 1 WHERE agent = ?", creator);
      this.sql.exec(
        `INSERT INTO agent_usage (agent, sessions) SELECT substr(id, 1, instr(id, '~') - 1), -count(*) FROM sessions WHERE doc_num = ? GROUP BY 1
         ON CONFLICT (agent) DO UPDATE SET sessions = sessions + excluded.sessions`,
        docNum,
      );
      const digestSum = updateDigestSum(this.info().digestSum, doc, this.knownState(doc), { header: false, sessions: {} });
      this.setMeta("digest_sum", digestSum);
      this.setMeta("digest", digestOfSum(digestSum));
      this.sql.exec("DELETE FROM transactions WHERE session_num IN (SELECT num FROM sessions WHERE doc_num = ?)", docNum);
      this.sql.exec("DELETE FROM sessions WHERE doc_num = ?", docNum);
      this.sql.exec("DELETE FROM subscriptions WHERE doc = ?", doc);
      this.#subscribers.delete(doc);
      this.sql.exec("UPDATE docs SET deleted = 1, updated_at = ?, cursor = ? WHERE num = ?", now, this.#bumpCursor(), docNum);
      this.#rows.set(doc, { num: docNum, deleted: true, sessions: 0 });
    });
    for (const key of [...this.#heads.keys()]) if (key.startsWith(`${this.#rows.get(doc)?.num} `)) this.#heads.delete(key);
  }

  /**
   * One write transaction. Group facts (and roles, when `membersChanged`) are dropped before and after
   * it; if it throws, SQLite rolls it back and every cache it may have written through is dropped too,
   * so the next read comes from storage.
   */
  #write(body: () => void, membersChanged = true): void {
    this.#info = undefined;
    if (membersChanged) this.#memberRoles = undefined;
    try {
      this.transactionSync(body);
    } catch (error) {
      this.#meta.clear();
      this.#rows.clear();
      this.#heads.clear();
      this.#memberRoles = undefined;
      throw error;
    } finally {
      this.#info = undefined;
      if (membersChanged) this.#memberRoles = undefined;
    }
  }

  #bumpCursor(): number {
    const cursor = Number(this.meta("cursor") ?? 0) + 1;
    this.setMeta("cursor", String(cursor));
    return cursor;
  }

  subscribe(peer: PeerId, doc: DocId | typeof ALL_DOCS): void {
    this.sql.exec("INSERT OR IGNORE INTO subscriptions (doc, peer) VALUES (?, ?)", doc, peer);
    this.#subscribers.get(doc)?.add(peer);
  }

  unsubscribe(peer: PeerId, doc: DocId): void {
    this.sql.exec("DELETE FROM subscriptions WHERE doc = ? AND peer = ?", doc, peer);
    this.#subscribers.get(doc)?.delete(peer);
  }

  forgetPeer(peer: PeerId): void {
    this.sql.exec("DELETE FROM subscriptions WHERE peer = ?", peer);
    for (const peers of this.#subscribers.values()) peers.delete(peer);
  }

  forgetPeersExcept(live: readonly PeerId[]): void {
    const keep = new Set(live);
    const stale = this.sql.exec<{ peer: string }>("SELECT DISTINCT peer FROM subscriptions").toArray().filter((row) => !keep.has(row.peer));
    for (const row of stale) this.forgetPeer(row.peer);
  }

  #row(doc: DocId): DocRow | undefined {
    const cached = this.#rows.get(doc);
    if (cached) return cached;
    const row = this.sql.exec<{ num: number; deleted: number; sessions: number }>("SELECT num, deleted, sessions FROM docs WHERE id = ?", doc).toArray()[0];
    if (!row) return undefined;
    if (this.#rows.size >= ROW_CACHE_SIZE) this.#rows.clear();
    const entry = { num: row.num, deleted: row.deleted === 1, sessions: row.sessions };
    this.#rows.set(doc, entry);
    return entry;
  }
}
