// GroupStore on Durable Object SQLite. Documents and sessions get integer keys; a session's transactions
// are stored many to a row (transaction-chunks.ts): closed chunks in `chunks`, the open one (the tail) in
// the session's own row, so a small write updates three rows and a load reads one row per chunk. Reads
// stream page by page, never a whole group or a whole log at once. This class reads, and keeps what it
// read in bounded caches; its parts: the tables and the upgrade of earlier storage (sqlite-schema.ts), how
// a write is laid out in rows (sqlite-writes.ts), snapshots and pruning (sqlite-snapshots.ts), who is
// subscribed to what (sqlite-subscriptions.ts), members and their roles (sqlite-members.ts).
import {
  EMPTY_DIGEST,
  EMPTY_DIGEST_SUM,
  agentOfSession,
  dataBytes,
  digestOfSum,
  digestSumOf,
  fromWireData,
  logOrder,
  parseMemberOp,
  replayMembership,
  updateDigestSumAll,
  type MemberOp,
} from "../protocol/index.ts";
import { foldDigest, type DigestChange } from "./digest-fold.ts";
import { foldReaderSums, leaveReaderSums, readerSum, type ReaderSumsHost } from "./reader-sums.ts";
import { BARE_TOMBSTONE_HEADER, openSchema, REMOVED_SCHEMA, SCHEMA_MARK, schemaMark, storesGroupData } from "./sqlite-schema.ts";
import { SnapshotRows } from "./sqlite-snapshots.ts";
import { SubscriptionRows } from "./sqlite-subscriptions.ts";
import { MemberRows } from "./sqlite-members.ts";
import { insertNewDocs, writeToDoc, type DocRow, type HeadRow, type Stored } from "./sqlite-writes.ts";
import type { AgentId, DirEntry, DocHeader, DocId, KnownState, Role, SessionId } from "../protocol/index.ts";
import { readChunk } from "./transaction-chunks.ts";
import { LISTED_PAGE, listedColumns, listedSessions, sessionCounts, type DocListRow, type ListedSession } from "./listed-documents.ts";
import {
  ALL_DOCS,
  appendQuotaBytes,
  digestChangeOf,
  type AgentUsage,
  type ListedDoc,
  type GroupInfo,
  type GroupStore,
  type LogPosition,
  type PeerId,
  type PruneSlice,
  type SessionExtent,
  type SessionHead,
  type SnapshotHead,
  type StoredSnapshot,
  type StoredTransaction,
  type TransactionRun,
  type Write,
} from "./core/store.ts";

/** Documents read per query when listing: bounded memory whatever the group's size. */
const PAGE_ROWS = 2_000;
/** Chunks read per query when streaming a session log (at most ~2,000 transactions): bounded memory. */
const PAGE_CHUNKS = 8;
/** Most characters of open chunks one prefetch for loads keeps until they are sent. */
const PREFETCHED_TAIL_CHARS = 1024 * 1024;
/** Parsed headers kept in memory: read on every write to a document, never changed once stored. */
const HEADER_CACHE_SIZE = 1_000;
const ROW_CACHE_SIZE = 20_000;
/**
 * Elements of the group digest (a new document's header, a session appended to) that may wait unfolded
 * (digest-fold.ts): a commit that leaves more folds them, so a `dir` never folds more than this many.
 */
const UNFOLDED_ELEMENTS = 64;

/** Documents whose rows one prefetch query reads. */
const PREFETCH_DOCS = 500;
/** Heads of the sessions written lately: a writer's next append reads nothing to find where its log ends. */
const HEAD_CACHE_SIZE = 10_000;
/** Agents whose usage is kept in memory: a writer's quota check and a document's creation read none. */
const USAGE_CACHE_SIZE = 1_000;

/**
 * The object is the only writer of its storage, so group facts, roles and headers are cached in memory
 * between writes: a frame that changes nothing reads no metadata from SQLite.
 */
export class SqliteStore implements GroupStore {
  #info: GroupInfo | undefined;
  /**
   * The group's cursor. Every change gives its document the new cursor, so the group's is the largest
   * document cursor (an index seek, once per instance) and no write stores it again; groups stored before
   * that kept it in `meta`.
   */
  #cursor: number | undefined;
  readonly #headers = new Map<DocId, DocHeader>();
  /** Meta values, written through. */
  readonly #meta = new Map<string, string | undefined>();
  /**
   * Each document's row number, tombstone flag and session count (a row number never changes once given),
   * or null for a document that is not stored: only a commit stores one, and it writes through.
   */
  readonly #rows = new Map<DocId, DocRow | null>();
  /** Agents' usage, written through by commits; dropped by a delete (which recounts in SQL). */
  readonly #usage = new Map<AgentId, AgentUsage>();
  /** Session heads by `<doc row> <session id>`, written through by every commit. */
  readonly #heads = new Map<string, HeadRow>();
  /**
   * The open chunks of the sessions of the document an open's listing is at (by session row number, with
   * the count and first index they were read at): sending that document reads them from here.
   */
  readonly #listedTails = new Map<number, { count: number; first: number; text: string }>();
  /** Known states of the documents a frame's loads asked for, read with their rows; a commit to one drops it. */
  readonly #listedKnown = new Map<DocId, KnownState>();
  readonly #snapshots: SnapshotRows;
  readonly #subscriptions: SubscriptionRows;
  readonly #members: MemberRows;
  /**
   * The digest elements written since the last fold (`<doc>` for a new header, `<doc> <session>`), or
   * undefined when not known (a fresh instance, a rolled-back write): then the next commit folds.
   */
  #unfolded: Set<string> | undefined;
  /** Set once the storage was found to hold something of the group: nothing the relay does takes all of it away again. */
  #holdsGroupData = false;
  readonly sql: SqlStorage;
  /** What the readers' sums read and write (reader-sums.ts). */
  readonly #readerSums: ReaderSumsHost;
  readonly transactionSync: <T>(fn: () => T) => T;

  constructor(sql: SqlStorage, transactionSync: <T>(fn: () => T) => T) {
    this.sql = sql;
    this.#readerSums = {
      sql,
      meta: (key) => this.meta(key),
      setMeta: (key, value) => this.setMeta(key, value),
      header: (doc) => this.header(doc),
      restricted: () => this.#listRestricted(),
    };
    this.transactionSync = transactionSync;
    this.#subscriptions = new SubscriptionRows(sql);
    this.#members = new MemberRows(sql);
    this.#snapshots = new SnapshotRows(sql, transactionSync, (docNum, session) => {
      const head = this.#head(docNum, session);
      return head && { num: head.num, tailFirst: head.tail.first };
    });
    const pending = openSchema(sql, transactionSync);
    if (pending.foldFromCursor) this.setMeta("digest_cursor", String(this.#groupCursor()));
    // Groups stored before the digest became a set hash have an XOR digest and no sum: rebuild both once.
    if (this.meta("digest") !== undefined && this.meta("digest_sum") === undefined) this.#rebuildDigest();
    // Groups stored before removals were remembered learn them from their membership log, once.
    if (pending.rememberRemovals) {
      transactionSync(() => {
        sql.exec(REMOVED_SCHEMA);
        const membersDoc = this.meta("members_doc") as DocId | undefined;
        if (membersDoc !== undefined) this.#rememberPastRemovals(membersDoc);
      });
    }
    // Only now, with the tables as this code makes them and what openSchema left done: a wake that finds
    // the mark does none of the above.
    if (!pending.marked) this.setMeta(SCHEMA_MARK, schemaMark());
  }

  /**
   * Replays the membership log as every client does (by `at`, then session, then index; its creator the
   * first admin) and records each agent whose last operation that took effect removed it. The log is
   * never snapshotted (snapshot-taking.ts), so none of it was pruned.
   */
  #rememberPastRemovals(membersDoc: DocId): void {
    const header = this.header(membersDoc);
    if (!header) return;
    const ops: { at: number; session: SessionId; index: number; author: AgentId; op: MemberOp }[] = [];
    for (const [session, count] of Object.entries(this.knownState(membersDoc).sessions) as [SessionId, number][]) {
      for (const transaction of this.readTransactions(membersDoc, session, 0, count)) {
        const op = parseMemberOp(transaction.data);
        if (op) ops.push({ at: transaction.at, session, index: transaction.index, author: agentOfSession(session), op });
      }
    }
    const { removed } = replayMembership(header.creator, ops.sort(logOrder));
    this.#members.rememberRemoved(removed);
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

  /**
   * Whether anything of the group is stored: a document, a member, a snapshot, usage, meta beyond what
   * opening the store and `visitKeys` wrote (sqlite-schema.ts's storesGroupData). Subscriptions are not:
   * they are the peers'. A deleted document leaves its tombstone, so once true it stays true.
   */
  holdsGroupData(visitKeys: readonly string[]): boolean {
    return (this.#holdsGroupData ||= storesGroupData(this.sql, visitKeys));
  }

  info(): GroupInfo {
    // One view of the group's facts until a write drops it: a frame asks for them many times.
    return (this.#info ??= this.#infoView(this.#readInfo()));
  }

  #infoView(info: Omit<GroupInfo, "digest" | "digestSum" | "removed">): GroupInfo {
    // The sum is folded and the digest (its SHA-256) taken only when asked for (a `dir`): every frame
    // reads the group's facts, few need its digest (digestOfSum keeps the last).
    const digestSum = () => this.#foldedSum();
    const removed = () => this.#members.removed();
    return {
      ...info,
      // Read when asked: only a peer the log does not name needs it.
      get removed() {
        return removed();
      },
      get digest() {
        const sum = digestSum();
        return sum === EMPTY_DIGEST_SUM ? EMPTY_DIGEST : digestOfSum(sum);
      },
      get digestSum() {
        return digestSum();
      },
    };
  }

  #readInfo(): Omit<GroupInfo, "digest" | "digestSum" | "removed"> {
    return {
      membersDoc: this.meta("members_doc") as DocId | undefined,
      membersLast: JSON.parse(this.meta("members_last") ?? '{"at":0,"session":""}') as LogPosition,
      cursor: this.#groupCursor(),
    };
  }

  /** The digest sum with every change folded in: a transaction of its own when something is unfolded. */
  #foldedSum(): string {
    if (this.#unfolded === undefined || this.#unfolded.size > 0) this.#write(() => this.#fold(this.#groupCursor()), false);
    return this.meta("digest_sum") ?? EMPTY_DIGEST_SUM;
  }

  /** Folds the changes made since the last fold into the sum, inside the caller's transaction (digest-fold.ts). */
  #fold(cursor: number): void {
    const from = Number(this.meta("digest_cursor") ?? 0);
    const folded = from < cursor ? foldDigest(this.sql, this.meta("digest_sum") ?? EMPTY_DIGEST_SUM, from) : undefined;
    foldReaderSums(this.#readerSums, folded?.restricted ?? []);
    if (folded !== undefined) {
      const { sum } = folded;
      this.sql.exec(
        "INSERT INTO meta (key, value) VALUES ('digest_sum', ?), ('digest_cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        sum,
        String(cursor),
      );
      this.#meta.set("digest_sum", sum);
      this.#meta.set("digest_cursor", String(cursor));
    }
    this.#unfolded = new Set();
  }

  #groupCursor(): number {
    this.#cursor ??= Math.max(
      Number(this.meta("cursor") ?? 0),
      this.sql.exec<{ cursor: number | null }>("SELECT max(cursor) AS cursor FROM docs").one().cursor ?? 0,
    );
    return this.#cursor;
  }

  role(agent: AgentId): Role | undefined {
    return this.#members.roles().get(agent);
  }

  members(): Map<AgentId, Role> {
    return new Map(this.#members.roles());
  }

  header(doc: DocId): DocHeader | undefined {
    const cached = this.#headers.get(doc);
    if (cached) return cached;
    // A document the store knows is missing or deleted has no header: no query.
    if (!this.#liveRow(doc)) return undefined;
    const fetched = this.#headers.get(doc);
    if (fetched) return fetched;
    const row = this.sql.exec<{ header: string }>("SELECT header FROM docs WHERE id = ? AND deleted = 0", doc).toArray()[0];
    if (!row) return undefined;
    return this.#rememberHeader(doc, row.header);
  }

  #rememberHeader(doc: DocId, text: string): DocHeader {
    const header = JSON.parse(text) as DocHeader;
    if (this.#headers.size >= HEADER_CACHE_SIZE) this.#headers.delete(this.#headers.keys().next().value!);
    this.#headers.set(doc, header);
    return header;
  }

  deleted(doc: DocId): boolean {
    return this.#row(doc)?.deleted ?? false;
  }

  /** Read when asked (a tombstone is asked about rarely): not cached. */
  tombstone(doc: DocId): DocHeader | undefined {
    if (!this.deleted(doc)) return undefined;
    const row = this.sql.exec<{ header: string }>("SELECT header FROM docs WHERE id = ?", doc).toArray()[0];
    return row && (JSON.parse(row.header) as DocHeader);
  }

  hasRestrictedDocs(): boolean {
    return this.sql.exec("SELECT 1 FROM docs WHERE restricted = 1 AND deleted = 0 LIMIT 1").toArray().length > 0;
  }

  knownState(doc: DocId): KnownState {
    const row = this.#liveRow(doc);
    if (!row) return { header: false, sessions: {} };
    const listed = this.#listedKnown.get(doc);
    if (listed) return { header: true, sessions: { ...listed.sessions } };
    const docNum = row.num;
    const sessions: KnownState["sessions"] = {};
    for (const row of this.sql.exec<{ id: SessionId; count: number }>("SELECT id, count FROM sessions WHERE doc_num = ?", docNum)) {
      sessions[row.id] = row.count;
    }
    return { header: true, sessions };
  }

  sessionHead(doc: DocId, session: SessionId): SessionHead | undefined {
    const row = this.#liveRow(doc);
    if (!row) return undefined;
    const head = this.#head(row.num, session);
    return head ? { count: head.count, lastHash: head.lastHash } : undefined;
  }

  #head(docNum: number, session: SessionId): HeadRow | undefined {
    const key = `${docNum} ${session}`;
    const cached = this.#heads.get(key);
    if (cached) return cached;
    const row = this.sql
      .exec<{ num: number; count: number; last_hash: string; tail_first: number; tail_chars: number }>(
        "SELECT num, count, last_hash, tail_first, length(tail) AS tail_chars FROM sessions WHERE doc_num = ? AND id = ?",
        docNum,
        session,
      )
      .toArray()[0];
    if (!row) return undefined;
    const head = { num: row.num, count: row.count, lastHash: row.last_hash, tail: { first: row.tail_first, count: row.count - row.tail_first, chars: row.tail_chars } };
    this.#remember(key, head);
    return head;
  }

  #remember(key: string, head: HeadRow): void {
    this.#heads.delete(key);
    if (this.#heads.size >= HEAD_CACHE_SIZE) this.#heads.delete(this.#heads.keys().next().value!);
    this.#heads.set(key, head);
  }

  usage(agent: AgentId): AgentUsage {
    let usage = this.#usage.get(agent);
    if (!usage) {
      const row = this.sql.exec<AgentUsage>("SELECT docs, sessions, bytes FROM agent_usage WHERE agent = ?", agent).toArray()[0];
      usage = row ? { docs: row.docs, sessions: row.sessions, bytes: row.bytes } : { docs: 0, sessions: 0, bytes: 0 };
      if (this.#usage.size >= USAGE_CACHE_SIZE) this.#usage.delete(this.#usage.keys().next().value!);
      this.#usage.set(agent, usage);
    }
    return { ...usage };
  }

  sessionCount(doc: DocId): number {
    return this.#liveRow(doc)?.sessions ?? 0;
  }

  /** One statement over the document's sessions index: the agent's ids sort together (`<agent>~…`). */
  agentSessionCount(doc: DocId, agent: AgentId): number {
    const row = this.#liveRow(doc);
    if (!row) return 0;
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM sessions WHERE doc_num = ? AND id > ? AND id < ?", row.num, `${agent}~`, `${agent}\u007f`).one().n;
  }

  subscribers(doc: DocId): PeerId[] {
    return this.#subscriptions.of(doc);
  }

  docSubscribers(doc: DocId): PeerId[] {
    return this.#subscriptions.ofDoc(doc);
  }

  /**
   * What sending documents to loads will read, LISTED_PAGE per query, as an open's listing reads it: each
   * document's row and header, its sessions' counts and heads, whether it has a snapshot, and its small open
   * chunks (up to PREFETCHED_TAIL_CHARS in all). Kept until the frame is done (forgetPrefetched); a commit
   * drops a document's known state, and an open chunk is used only at the count it was read at.
   */
  #prefetchReads(docs: readonly DocId[]): void {
    this.forgetPrefetched();
    const unique = [...new Set(docs)];
    let tailChars = 0;
    for (let start = 0; start < unique.length; start += LISTED_PAGE) {
      const page = unique.slice(start, start + LISTED_PAGE);
      if (this.#rows.size + page.length > ROW_CACHE_SIZE) this.#rows.clear();
      const found = new Set<DocId>();
      for (const doc of this.sql.exec<DocListRow>(`SELECT ${listedColumns(true)} FROM docs WHERE id IN (SELECT value FROM json_each(?))`, JSON.stringify(page))) {
        found.add(doc.id);
        const sessions = listedSessions(doc);
        tailChars += this.#rememberListed(doc, sessions, tailChars < PREFETCHED_TAIL_CHARS);
        if (!doc.deleted && sessions) this.#listedKnown.set(doc.id, { header: true, sessions: sessionCounts(sessions) });
      }
      // Not stored: the rows' prefetch need not look for them again.
      for (const doc of page) if (!found.has(doc) && !this.#rows.has(doc)) this.#rows.set(doc, null);
    }
  }

  forgetPrefetched(): void {
    this.#listedKnown.clear();
    this.#listedTails.clear();
  }

  /**
   * Reads the rows (with headers) and subscribers of documents not cached yet, a page per query:
   * a frame of many writes then reads two statements' worth instead of two per document.
   */
  prefetch(docs: readonly DocId[], reading: readonly DocId[] = []): void {
    this.#prefetchReads(reading);
    const rows = [...new Set(docs.filter((doc) => !this.#rows.has(doc)))];
    for (let start = 0; start < rows.length; start += PREFETCH_DOCS) {
      const page = rows.slice(start, start + PREFETCH_DOCS);
      if (this.#rows.size + page.length > ROW_CACHE_SIZE) this.#rows.clear();
      for (const doc of page) this.#rows.set(doc, null);
      const found = this.sql.exec<{ id: DocId; num: number; deleted: number; sessions: number; header: string | null }>(
        "SELECT id, num, deleted, sessions, CASE WHEN deleted = 0 THEN header END AS header FROM docs WHERE id IN (SELECT value FROM json_each(?))",
        JSON.stringify(page),
      );
      for (const row of found) {
        if (row.header !== null && !this.#headers.has(row.id)) this.#rememberHeader(row.id, row.header);
        this.#rows.set(row.id, { num: row.num, deleted: row.deleted === 1, sessions: row.sessions });
      }
    }
    this.#subscriptions.prefetch(docs);
  }

  *readTransactions(doc: DocId, session: SessionId, from: number, to: number): Iterable<StoredTransaction> {
    for (const run of this.readRuns(doc, session, from, to)) {
      for (let i = 0; i < run.at.length; i++) {
        const transaction: StoredTransaction = { index: run.first + i, at: run.at[i]!, data: fromWireData(run.data[i]!) };
        if (run.signatures[i] !== undefined) transaction.signature = run.signatures[i];
        yield transaction;
      }
    }
  }

  *readRuns(doc: DocId, session: SessionId, from: number, to: number, limit = Infinity): Iterable<TransactionRun> {
    const docNum = this.#row(doc)?.num;
    if (docNum === undefined) return;
    const head = this.#head(docNum, session);
    if (!head) return;
    const { num, tail } = head;
    to = Math.min(to, head.count);
    // Closed chunks first, a page of them at a time, starting with the one that holds `from`. Each page is
    // read whole before yielding, so no cursor stays open while the caller runs; rows come as arrays (raw).
    // A chunk is read (scanned: transaction-chunks.ts) only when the caller gets to it.
    let left = limit;
    for (let next = from; next < Math.min(to, tail.first) && left > 0; ) {
      const page = [
        ...this.sql
          .exec(
            `SELECT first, body FROM chunks WHERE session_num = ?1 AND first < ?3
               AND first >= coalesce((SELECT max(first) FROM chunks WHERE session_num = ?1 AND first <= ?2), 0)
             ORDER BY first LIMIT ?4`,
            num,
            next,
            Math.min(to, tail.first),
            PAGE_CHUNKS,
          )
          .raw<[number, string]>(),
      ];
      if (page.length === 0) break; // none left before the open chunk (the rest may have been pruned)
      for (const [first, body] of page) {
        if (left <= 0) return;
        const run = readChunk(body, first, next, to, left);
        if (run.at.length === 0) continue;
        left -= run.at.length;
        next = run.first + run.at.length;
        yield run;
      }
      if (page.length < PAGE_CHUNKS) break;
    }
    if (to <= tail.first || tail.count === 0 || left <= 0) return;
    const listed = this.#listedTails.get(num);
    const body = listed && listed.count === head.count && listed.first === tail.first ? listed.text : this.sql.exec<{ tail: string }>("SELECT tail FROM sessions WHERE num = ?", num).one().tail;
    const run = readChunk(body, tail.first, Math.max(from, tail.first), to, left);
    if (run.at.length > 0) yield run;
  }

  snapshotHead(doc: DocId): SnapshotHead | undefined {
    const row = this.#liveRow(doc);
    return row && this.#snapshots.head(row.num, doc);
  }

  readSnapshot(doc: DocId): StoredSnapshot | undefined {
    const row = this.#liveRow(doc);
    return row && this.#snapshots.read(row.num, doc);
  }

  /**
   * A session's first stored index is its first chunk's (or, with none left, its open chunk's): pruning
   * deletes chunks from the start, so what is stored is always a suffix of the log.
   */
  sessionExtents(doc: DocId): Map<SessionId, SessionExtent> {
    const extents = new Map<SessionId, SessionExtent>();
    const row = this.#liveRow(doc);
    if (!row) return extents;
    const rows = this.sql.exec<{ id: SessionId; count: number; bytes: number; first_stored: number }>(
      "SELECT id, count, bytes, coalesce((SELECT min(first) FROM chunks WHERE session_num = sessions.num), tail_first) AS first_stored FROM sessions WHERE doc_num = ?",
      row.num,
    );
    for (const { id, count, bytes, first_stored } of rows) extents.set(id, { count, bytes, firstStored: first_stored });
    return extents;
  }

  /**
   * One statement: the snapshot's row (its triggers move its bytes to its author, from the replaced one's).
   * The replaced one's head is cached when the relay stores one (it checked the snapshot against it).
   */
  putSnapshot(snapshot: StoredSnapshot): void {
    const row = this.#liveRow(snapshot.doc);
    if (!row) throw new Error(`putSnapshot: unknown document ${snapshot.doc}`);
    const replaced = this.#snapshots.head(row.num, snapshot.doc);
    this.#snapshots.put(row.num, snapshot);
    // Stored: the cached usage follows what the triggers did.
    if (replaced) this.#addBytes(agentOfSession(replaced.session), -replaced.bytes);
    this.#addBytes(agentOfSession(snapshot.session), dataBytes(snapshot.data));
  }

  #addBytes(agent: AgentId, added: number): void {
    const usage = this.#usage.get(agent);
    if (usage) usage.bytes += added;
  }

  prune(takenBy: number, budget: number): PruneSlice {
    return this.#snapshots.prune(takenBy, budget);
  }

  *listDocuments(since = 0, pageSize = PAGE_ROWS): Iterable<ListedDoc> {
    for (let after = since; ; ) {
      const page = this.sql.exec<DocListRow>(`SELECT ${listedColumns(false)} FROM docs WHERE cursor > ? ORDER BY cursor LIMIT ?`, after, Math.min(pageSize, PAGE_ROWS)).toArray();
      if (page.length === 0) return;
      for (const doc of page) yield { ...this.#dirEntry(doc, listedSessions(doc)), cursor: doc.cursor };
      after = page[page.length - 1]!.cursor;
    }
  }

  readerSum(agent: AgentId): string {
    const groupSum = this.#foldedSum();
    // A transaction: an agent's share is taken and stored the first time it is asked for.
    let sum = EMPTY_DIGEST_SUM;
    this.#write(() => void (sum = readerSum(this.#readerSums, groupSum, agent)), false);
    return sum;
  }


  *#listRestricted(): Iterable<DirEntry> {
    for (let after = 0; ; ) {
      const page = this.sql.exec<DocListRow>(`SELECT ${listedColumns(false)} FROM docs WHERE restricted = 1 AND deleted = 0 AND num > ? ORDER BY num LIMIT ?`, after, PAGE_ROWS).toArray();
      if (page.length === 0) return;
      for (const doc of page) yield this.#dirEntry(doc, listedSessions(doc));
      after = page[page.length - 1]!.num;
    }
  }

  /**
   * Documents by id, for an open: what is listed of each (its row and header, its sessions' heads, whether it
   * has a snapshot, and its small open chunks) is remembered, so sending it reads only what the listing did not.
   */
  *listDocumentsById(after?: DocId, through?: DocId, pageSize = LISTED_PAGE + 1, live = false): Iterable<DirEntry> {
    for (let from = after ?? ""; ; ) {
      const page = this.sql
        .exec<DocListRow>(
          `SELECT ${listedColumns(true)} FROM docs WHERE id > ? AND (? IS NULL OR id <= ?)${live ? " AND deleted = 0" : ""} ORDER BY id LIMIT ?`,
          from,
          through ?? null,
          through ?? null,
          Math.min(pageSize, LISTED_PAGE + 1),
        )
        .toArray();
      if (page.length === 0) return;
      try {
        for (const doc of page) {
          this.#listedTails.clear();
          const sessions = listedSessions(doc);
          this.#rememberListed(doc, sessions);
          yield this.#dirEntry(doc, sessions);
        }
      } finally {
        this.#listedTails.clear();
      }
      from = page[page.length - 1]!.id;
    }
  }

  /**
   * Caches what a listing read of a document (`sessions`: its listed sessions, parsed); keeps their small
   * open chunks if `tails`. Returns their characters kept.
   */
  #rememberListed(doc: DocListRow, sessions: readonly ListedSession[] | undefined, tails = true): number {
    if (!this.#rows.has(doc.id)) {
      if (this.#rows.size >= ROW_CACHE_SIZE) this.#rows.clear();
      this.#rows.set(doc.id, { num: doc.num, deleted: doc.deleted === 1, sessions: doc.sessions });
    }
    if (doc.deleted) return 0;
    if (!this.#headers.has(doc.id)) this.#rememberHeader(doc.id, doc.header);
    if (!doc.snapshotted) this.#snapshots.noneFor(doc.id);
    let kept = 0;
    for (const [session, count, num, lastHash, tailFirst, tailChars, tail] of sessions ?? []) {
      if (num === undefined) continue;
      if (tails && typeof tail === "string") {
        this.#listedTails.set(num, { count, first: tailFirst!, text: tail });
        kept += tail.length;
      }
      const key = `${doc.num} ${session}`;
      if (!this.#heads.has(key)) this.#remember(key, { num, count, lastHash: lastHash!, tail: { first: tailFirst!, count: count - tailFirst!, chars: tailChars! } });
    }
    return kept;
  }

  /** A listed document as a directory entry (`listed`: its listed sessions, parsed; else they are read here). */
  #dirEntry(doc: DocListRow, listed: readonly ListedSession[] | undefined): DirEntry {
    const header = (!doc.deleted && this.#headers.get(doc.id)) || (JSON.parse(doc.header) as DocHeader);
    if (doc.deleted) return { id: doc.id, header, known: { header: false, sessions: {} }, updatedAt: doc.updated_at, deleted: true };
    let sessions: KnownState["sessions"];
    if (listed) sessions = sessionCounts(listed);
    else {
      sessions = {};
      for (const row of this.sql.exec<{ id: SessionId; count: number }>("SELECT id, count FROM sessions WHERE doc_num = ?", doc.num)) sessions[row.id] = row.count;
    }
    return { id: doc.id, header, known: { header: true, sessions }, updatedAt: doc.updated_at };
  }

  /**
   * Three statements for a write that fits its sessions' open chunks (most do): the document row, every
   * session head with its open chunk extended (SQLite unpacks them from one JSON parameter, so statements
   * stay far under the 100 KB statement limit and values under the 2 MB value limit), and the group's
   * cursor and digest. A write that fills an open chunk first moves it, as it is, into `chunks` (one more
   * statement), and a write larger than a chunk stores its full chunks with one more. The heads' counts
   * are checked against each append's `after`, so nothing is written past a gap, and the chunks' primary
   * key refuses a second chunk at the same index: a double append fails loudly and rolls back whole.
   */
  commit(write: Write): void {
    this.commitAll([write]);
  }

  /**
   * Several writes (the contents of one frame) in one SQLite transaction: each write's document row and
   * session heads as commit() writes them, and once for them all the group's digest and the agents'
   * counts. Each write starts from where the one before left its document, so two writes may append to
   * the same session in turn. A write that fails rolls back every one of them.
   */
  commitAll(writes: readonly Write[]): void {
    if (writes.length === 0) return;
    for (const write of writes) this.#listedKnown.delete(write.doc);
    const info = this.info();
    const cursor = info.cursor + writes.length;
    const counts = new Map<AgentId, { docs: number; sessions: number }>();
    const bytes = new Map<AgentId, number>();
    // Documents each created by one write that no other write of these touches: created all together.
    const writesTo = new Map<DocId, number>();
    for (const write of writes) writesTo.set(write.doc, (writesTo.get(write.doc) ?? 0) + 1);
    const created = new Set(writes.filter((write) => write.header && !write.members && writesTo.get(write.doc) === 1));
    if (created.size < 2) created.clear();
    // The digest waits (digest-fold.ts), unless more than UNFOLDED_ELEMENTS of it would: then what waits is
    // folded first, and these writes go into the sum as they are stored (no row written twice).
    const elements = this.#unfolded === undefined ? undefined : new Set(this.#unfolded);
    for (const write of writes) {
      if (write.header) elements?.add(write.doc);
      for (const append of write.appends) elements?.add(`${write.doc} ${append.session}`);
    }
    const folded = elements === undefined || elements.size > UNFOLDED_ELEMENTS;
    this.#write(() => {
      if (folded && this.#unfolded?.size !== 0) this.#fold(info.cursor);
      if (created.size > 0) this.#cacheStored(insertNewDocs(this.sql, writes.flatMap((write, i) => (created.has(write) ? [[write, info.cursor + 1 + i] as const] : [])), folded));
      for (const [i, write] of writes.entries()) {
        let newSessions = write.appends.length;
        if (!created.has(write)) {
          // Cached at once, for the next write of the same transaction (a rollback drops every cache).
          const stored = writeToDoc(this.sql, write, info.cursor + 1 + i, folded, this.#liveRow(write.doc), (docNum, session) => this.#head(docNum, session));
          this.#cacheStored(stored);
          newSessions = stored.newSessions;
        }
        for (const append of write.appends) {
          const agent = agentOfSession(append.session);
          // As the session row's triggers count it (sqlite-schema.ts).
          bytes.set(agent, (bytes.get(agent) ?? 0) + appendQuotaBytes(append));
        }
        if (write.header || newSessions > 0) {
          const agent = write.header?.creator ?? agentOfSession(write.appends[0]!.session);
          const count = counts.get(agent) ?? { docs: 0, sessions: 0 };
          count.docs += write.header ? 1 : 0;
          count.sessions += newSessions;
          counts.set(agent, count);
        }
      }
      if (counts.size > 0) {
        this.sql.exec(
          `INSERT INTO agent_usage (agent, docs, sessions) SELECT value ->> '$[0]', value ->> '$[1]', value ->> '$[2]' FROM json_each(?) WHERE true
           ON CONFLICT (agent) DO UPDATE SET docs = docs + excluded.docs, sessions = sessions + excluded.sessions`,
          JSON.stringify([...counts].map(([agent, count]) => [agent, count.docs, count.sessions])),
        );
      }
      for (const write of writes) {
        if (!write.members) continue;
        if (write.members.genesis) this.setMeta("members_doc", write.doc);
        this.setMeta("members_last", JSON.stringify(write.members.last));
        this.#members.apply(write.members.changes);
      }
      if (folded) {
        // Every session these writes append to was folded at its count, which is each append's `after`.
        const changes = writes.map(digestChangeOf);
        const digestSum = updateDigestSumAll(this.meta("digest_sum") ?? EMPTY_DIGEST_SUM, changes);
        // The readers' sums move with it (reader-sums.ts), by the writes to documents that limit their readers.
        const headers = new Map(writes.flatMap((write) => {
          const header = write.header ?? this.header(write.doc);
          return header?.readers ? [[write.doc, header] as const] : [];
        }));
        foldReaderSums(this.#readerSums, changes.filter(([doc]) => headers.has(doc)), headers);
        this.sql.exec(
          "INSERT INTO meta (key, value) VALUES ('digest_sum', ?), ('digest_cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          digestSum,
          String(cursor),
        );
        this.#meta.set("digest_sum", digestSum);
        this.#meta.set("digest_cursor", String(cursor));
      }
      this.#unfolded = folded ? new Set() : elements;
    }, writes.some((write) => write.members !== undefined));
    // Committed: the document rows and heads were cached as they were written; the group facts now.
    this.#cursor = cursor;
    for (const [agent, added] of bytes) {
      const usage = this.#usage.get(agent);
      if (usage) usage.bytes += added;
    }
    for (const [agent, count] of counts) {
      const usage = this.#usage.get(agent);
      if (usage) {
        usage.docs += count.docs;
        usage.sessions += count.sessions;
      }
    }
  }

  #cacheStored({ rows, heads }: Stored): void {
    for (const [doc, row] of rows) this.#rows.set(doc, row);
    for (const [key, head] of heads) this.#remember(key, head);
  }

  deleteDoc(doc: DocId, now: number): void {
    const header = this.header(doc);
    const creator = header?.creator;
    this.#headers.delete(doc);
    this.#listedKnown.delete(doc);
    this.#usage.clear();
    this.#write(() => {
      const row = this.#liveRow(doc);
      if (!row) return;
      const docNum = row.num;
      if (creator) this.sql.exec("UPDATE agent_usage SET docs = docs - 1 WHERE agent = ?", creator);
      this.sql.exec(
        `INSERT INTO agent_usage (agent, sessions) SELECT substr(id, 1, instr(id, '~') - 1), -count(*) FROM sessions WHERE doc_num = ? GROUP BY 1
         ON CONFLICT (agent) DO UPDATE SET sessions = sessions + excluded.sessions`,
        docNum,
      );
      // Folded first, the sum holds the document as it is: it leaves whole.
      this.#fold(this.#groupCursor());
      const leaving: DigestChange = [doc, this.knownState(doc), { header: false, sessions: {} }];
      this.setMeta("digest_sum", updateDigestSumAll(this.meta("digest_sum") ?? EMPTY_DIGEST_SUM, [leaving]));
      if (header?.readers) leaveReaderSums(this.#readerSums, header, leaving);
      this.sql.exec("DELETE FROM chunks WHERE session_num IN (SELECT num FROM sessions WHERE doc_num = ?)", docNum);
      this.sql.exec("DELETE FROM sessions WHERE doc_num = ?", docNum);
      this.#snapshots.deleteFor(docNum, doc);
      this.#subscriptions.deleteFor(doc);
      this.sql.exec(`UPDATE docs SET deleted = 1, header = ${BARE_TOMBSTONE_HEADER}, updated_at = ?, cursor = ? WHERE num = ?`, now, this.#bumpCursor(), docNum);
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
    if (membersChanged) this.#members.forget();
    try {
      this.transactionSync(body);
    } catch (error) {
      this.#cursor = undefined;
      this.#meta.clear();
      this.#rows.clear();
      this.#heads.clear();
      this.#usage.clear();
      this.#snapshots.forgetAll();
      this.#members.forget();
      this.#unfolded = undefined;
      throw error;
    } finally {
      this.#info = undefined;
      if (membersChanged) this.#members.forget();
    }
  }

  #bumpCursor(): number {
    this.#cursor = this.#groupCursor() + 1;
    return this.#cursor;
  }

  subscribe(peer: PeerId, doc: DocId | typeof ALL_DOCS): void {
    this.#subscriptions.subscribe(peer, doc);
  }

  subscribeAll(peer: PeerId, docs: readonly (DocId | typeof ALL_DOCS)[]): void {
    this.#subscriptions.subscribeAll(peer, docs);
  }

  unsubscribe(peer: PeerId, doc: DocId): void {
    this.#subscriptions.unsubscribe(peer, doc);
  }

  unsubscribeAll(peer: PeerId, docs: readonly DocId[]): void {
    this.#subscriptions.unsubscribeAll(peer, docs);
  }

  forgetAllPeers(): void {
    this.#subscriptions.forgetAll();
  }

  forgetPeer(peer: PeerId): void {
    this.#subscriptions.forgetPeer(peer);
  }

  /** The document's row, unless it is not stored or deleted. */
  #liveRow(doc: DocId): DocRow | undefined {
    const row = this.#row(doc);
    return row && !row.deleted ? row : undefined;
  }

  #row(doc: DocId): DocRow | undefined {
    const cached = this.#rows.get(doc);
    if (cached !== undefined) return cached ?? undefined;
    const row = this.sql
      .exec<{ num: number; deleted: number; sessions: number; header: string | null }>(
        "SELECT num, deleted, sessions, CASE WHEN deleted = 0 AND ?2 THEN header END AS header FROM docs WHERE id = ?1",
        doc,
        this.#headers.has(doc) ? 0 : 1,
      )
      .toArray()[0];
    if (this.#rows.size >= ROW_CACHE_SIZE) this.#rows.clear();
    if (!row) {
      this.#rows.set(doc, null);
      return undefined;
    }
    // The header comes along (it is read on every write to a document), unless already held.
    if (row.header !== null) this.#rememberHeader(doc, row.header);
    const entry = { num: row.num, deleted: row.deleted === 1, sessions: row.sessions };
    this.#rows.set(doc, entry);
    return entry;
  }
}
