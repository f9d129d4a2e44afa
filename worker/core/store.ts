// The storage the relay core reads and its driver writes, kept small so the core never sees SQL.
// Implemented on Durable Object SQLite (../sqlite-store.ts) and in memory (memory-store.ts) for tests.
import { STORED_BYTES_PER_TRANSACTION, jsonStringBytes, updateDigestSumAll, type TransactionData } from "../../protocol/index.ts";
import type { AgentId, DirEntry, DocHeader, DocId, KnownState, Role, SessionCounts, SessionId, Snapshot, Transaction, WireData } from "../../protocol/index.ts";

export type PeerId = string;

/** A transaction as stored: its index in the session log, and the checkpoint signature if a batch ended here. */
export type StoredTransaction = Transaction & { index: number; signature?: string };

/**
 * Consecutive transactions of a session as the relay reads them to send: from index `first` on, each one's
 * time, data in wire form (text as its JSON literal: protocol/transaction-columns.ts's WireData), the bytes
 * that data takes in a frame (encodedDataBytes) and the checkpoint signature if a batch ended on it.
 */
export type TransactionRun = { first: number; at: number[]; data: WireData[]; bytes: number[]; signatures: (string | undefined)[] };

export type SessionHead = { count: number; lastHash: string };

/** Transactions to append to one session, already checked against the hash chain and signature. */
export type SessionAppend = {
  session: SessionId;
  after: number;
  transactions: Transaction[];
  signature: string;
  lastHash: string;
  /** Bytes of the transactions' data as stored (storedDataBytes; counted against MAX_BYTES_PER_AGENT with their overhead: quotaBytes). */
  bytes: number;
};

/**
 * Bytes a transaction's data takes as the relay stores it (../transaction-chunks.ts), beside what
 * STORED_BYTES_PER_TRANSACTION counts (an empty text's quotes among it): text as its JSON literal, escapes
 * included (a NUL takes 6 bytes, so text of control characters counts up to 6 times its UTF-8 size), and
 * bytes as base64 in a list. Counted by UTF-8 alone, text of NULs stored six times what its agent was counted.
 */
export const storedDataBytes = (data: TransactionData): number => (typeof data === "string" ? jsonStringBytes(data) - 2 : Math.ceil((data.byteLength * 4) / 3) + 2);

/**
 * What transactions count against their agent's MAX_BYTES_PER_AGENT: their data's bytes, and
 * STORED_BYTES_PER_TRANSACTION each for what one takes stored beyond its data. Every store counts a
 * session this way, from its data's bytes and its count (the SQLite store in its triggers, ../sqlite-schema.ts),
 * so deleting a document gives back exactly what its writes took.
 */
export const quotaBytes = (dataBytes: number, transactions: number): number => dataBytes + transactions * STORED_BYTES_PER_TRANSACTION;

/** What an append counts against its agent's MAX_BYTES_PER_AGENT. */
export const appendQuotaBytes = (append: SessionAppend): number => quotaBytes(append.bytes, append.transactions.length);

/**
 * A change of one agent's role from the membership log; `null`: removed, which the store remembers (see
 * GroupInfo's `removed`) until a later change sets a role for the agent again.
 */
export type MemberChange = { agent: AgentId; role: Role | null };

/** Everything one `content` message changes, committed atomically: its header (if new) and every append. */
export type Write = {
  doc: DocId;
  header?: DocHeader;
  appends: SessionAppend[];
  now: number;
  /** Set when the write is to the membership log: the roles it changes, and its genesis. */
  members?: { changes: MemberChange[]; genesis: boolean; last: LogPosition };
};

/** Where a transaction sorts when a log is replayed: by `at`, then session (then index within a session). */
export type LogPosition = { at: number; session: string };

/** What `write` changes of its document's known state: the header, and the new count of each session it appends to. */
export function knownChanged(write: Write): KnownState {
  const sessions: KnownState["sessions"] = {};
  for (const append of write.appends) sessions[append.session] = append.after + append.transactions.length;
  return { header: true, sessions };
}

/**
 * The group's digest sum once `write` is committed (protocol/digest.ts): one update over the sessions it
 * changes, whose earlier counts are their `after`; the document's other sessions are not read.
 */
export function digestAfter(digestSum: string, write: Write): string {
  return digestAfterAll(digestSum, [write]);
}

/** The group's digest sum once every one of `writes` is committed, in order. */
export function digestAfterAll(digestSum: string, writes: readonly Write[]): string {
  return updateDigestSumAll(digestSum, writes.map(digestChangeOf));
}

/** What a write moves in a digest sum: its document from what it held before to what it holds after. */
export function digestChangeOf(write: Write): [DocId, KnownState, KnownState] {
  const sessions: KnownState["sessions"] = {};
  for (const append of write.appends) sessions[append.session] = append.after;
  return [write.doc, { header: write.header === undefined, sessions }, knownChanged(write)];
}

/** A directory entry with the cursor of its last change, where a listing sliced after it resumes. */
export type ListedDoc = DirEntry & { cursor: number };

/** One agent's share of a group, held against MAX_DOCS_PER_AGENT, MAX_SESSIONS_PER_AGENT and MAX_BYTES_PER_AGENT. */
export type AgentUsage = { docs: number; sessions: number; bytes: number };

/** Group-wide facts, cheap to read. */
export type GroupInfo = {
  /** The membership log, once the group has one; until then every authenticated agent may write. */
  membersDoc: DocId | undefined;
  /** The newest membership operation: a later one must sort after it, so enforcement and replay agree. */
  membersLast: LogPosition;
  /**
   * Agents the membership log removed and has not set a role for since: a token no longer lets them in
   * (access.ts). Here rather than behind a method of StoreReader so that every view of the store that
   * passes `info()` through (staged-writes.ts) carries it.
   */
  removed: ReadonlySet<AgentId>;
  /** Bumped by every change; documents remember the value of their last change. */
  cursor: number;
  /** Digest of every live document's known state (protocol/digest.ts): the SHA-256 of `digestSum`. */
  digest: string;
  /** The set hash the digest is taken of, kept current element by element (protocol/digest.ts). */
  digestSum: string;
};

/** A document's stored snapshot without its data: what checking a new one and choosing what to serve need. */
export type SnapshotHead = {
  session: SessionId;
  covers: SessionCounts;
  /** UTF-8 bytes of its data (text), or its byte length. */
  bytes: number;
  /** When the relay stored it (ms): pruning waits for the retention after this. */
  takenAt: number;
};

/** A stored snapshot, data included. */
export type StoredSnapshot = Snapshot & { takenAt: number };

/** What a store holds of one session's log, for choosing between a snapshot and the stored transactions. */
export type SessionExtent = {
  count: number;
  /** UTF-8 bytes of all its transactions' data, pruned ones included. */
  bytes: number;
  /** Transactions before this index were pruned (covered by the document's snapshot); 0 if none were. */
  firstStored: number;
};

/** What one pruning slice did: the work it spent, and when the oldest snapshot still to prune was taken. */
export type PruneSlice = { work: number; next: number | undefined };

/** Every document a group subscription covers. */
export const ALL_DOCS = "*";

/** What the relay core may read. Reads are synchronous: Durable Object SQLite answers in-process. */
export interface StoreReader {
  info(): GroupInfo;
  /** A member's role per the membership log. */
  role(agent: AgentId): Role | undefined;
  /** The current members and their roles (removed agents are not members). */
  members(): Map<AgentId, Role>;
  /** Header of a live document (undefined if missing or deleted). */
  header(doc: DocId): DocHeader | undefined;
  deleted(doc: DocId): boolean;
  /** A deleted document's header, as its tombstone keeps it (without meta); undefined for any other. */
  tombstone(doc: DocId): DocHeader | undefined;
  /** Whether any live document limits its readers (then a reader's digest differs from the group's). */
  hasRestrictedDocs(): boolean;
  knownState(doc: DocId): KnownState;
  sessionHead(doc: DocId, session: SessionId): SessionHead | undefined;
  /** How many sessions a live document has (0 if missing or deleted), without reading them. */
  sessionCount(doc: DocId): number;
  /** How many of a live document's sessions are `agent`'s (read when a write starts new ones). */
  agentSessionCount(doc: DocId, agent: AgentId): number;
  /**
   * What an agent holds in the group: live documents it created, its sessions in live documents, and the
   * bytes their transactions count (quotaBytes) with the data of the stored snapshots it took (of live documents).
   */
  usage(agent: AgentId): AgentUsage;
  /** Peers subscribed to this document, or to the whole group (`ALL_DOCS`). */
  subscribers(doc: DocId): PeerId[];
  /** Peers subscribed to this document itself (a load's, a creation's), not through the whole group. */
  docSubscribers(doc: DocId): PeerId[];
  /** The live document's stored snapshot, without its data. */
  snapshotHead(doc: DocId): SnapshotHead | undefined;
}

export interface GroupStore extends StoreReader {
  /** Transactions `from` (inclusive) to `to` (exclusive) of one session, in order, read lazily. */
  readTransactions(doc: DocId, session: SessionId, from: number, to: number): Iterable<StoredTransaction>;
  /**
   * The same transactions, at most `limit` of them, in runs ready to send (a stored chunk at a time), read
   * lazily: what the relay streams to peers.
   */
  readRuns(doc: DocId, session: SessionId, from: number, to: number, limit?: number): Iterable<TransactionRun>;
  /**
   * Documents changed after `since` (tombstones included), read lazily in the order they changed.
   * `pageSize`: how many a store may read ahead at a time, for a caller that takes only a few.
   */
  listDocuments(since?: number, pageSize?: number): Iterable<ListedDoc>;
  /**
   * Documents whose id sorts after `after` and up to `through` (either open), tombstones included unless
   * `live`, in id order. `pageSize`: how many a store may read ahead at a time, for a caller that takes
   * only a few.
   */
  listDocumentsById(after?: DocId, through?: DocId, pageSize?: number, live?: boolean): Iterable<DirEntry>;
  /**
   * The digest sum of the live documents `agent` may read as a member who is not an admin: those that do
   * not limit their readers, and those that list it or that it created. Reads no documents.
   */
  readerSum(agent: AgentId): string;
  /** Appends all of `write` or nothing. */
  commit(write: Write): void;
  /**
   * Commits several writes in order, each starting from what the ones before it stored (two may append to
   * the same session in turn): all of them or none.
   */
  commitAll(writes: readonly Write[]): void;
  /**
   * Reads ahead, in a few queries, what judging and committing writes to these documents will read, and
   * for the ones in `reading` (loads), what sending them will read.
   */
  prefetch?(docs: readonly DocId[], reading?: readonly DocId[]): void;
  /** The frame whose documents were read ahead is done: what is kept only for sending them may go. */
  forgetPrefetched?(): void;
  /** The live document's stored snapshot, data included. */
  readSnapshot(doc: DocId): StoredSnapshot | undefined;
  /** Each session of a live document: its count, bytes and first stored index (one read of its sessions). */
  sessionExtents(doc: DocId): Map<SessionId, SessionExtent>;
  /** Stores the document's snapshot, replacing the one it had (atomically); pruning for it starts afresh. */
  putSnapshot(snapshot: StoredSnapshot): void;
  /**
   * Deletes stored transactions covered by snapshots taken at or before `takenBy`, oldest snapshot first,
   * spending at most about `budget` work (rows deleted, sessions visited); only whole stored rows entirely
   * covered go. Counts, heads, the digest and cursors are unchanged. Returns when the oldest snapshot with
   * pruning still to do was taken (at or before `takenBy`: more is due now), or undefined if none has.
   */
  prune(takenBy: number, budget: number): PruneSlice;
  /**
   * Leaves a tombstone and frees the document's transactions (and its snapshot). The tombstone keeps the
   * header without its `meta` (what the app wrote there, a title say, goes with the content): its
   * creator and readers still say who is told of the deletion.
   */
  deleteDoc(doc: DocId, now: number): void;
  subscribe(peer: PeerId, doc: DocId | typeof ALL_DOCS): void;
  /** Subscribes one peer to several documents at once. */
  subscribeAll(peer: PeerId, docs: readonly (DocId | typeof ALL_DOCS)[]): void;
  unsubscribe(peer: PeerId, doc: DocId): void;
  /** Unsubscribes one peer from several documents at once. */
  unsubscribeAll(peer: PeerId, docs: readonly DocId[]): void;
  forgetPeer(peer: PeerId): void;
  /** No peer is connected (the object started again, its sockets gone): every subscription goes. */
  forgetAllPeers(): void;
}
