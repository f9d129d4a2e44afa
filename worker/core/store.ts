// The storage the relay core reads and its driver writes, kept small so the core never sees SQL.
// Implemented on Durable Object SQLite (../sqlite-store.ts) and in memory (memory-store.ts) for tests.
import type { DirEntry, DocHeader, DocId, KnownState, SessionId, Transaction } from "../../protocol/index.ts";

export type PeerId = string;

/** A transaction as stored: its index in the session log, and the checkpoint signature if a batch ended here. */
export type StoredTransaction = Transaction & { index: number; signature?: string };

export type SessionHead = { count: number; lastHash: string };

/** Transactions to append to one session, already checked against the hash chain and signature. */
export type SessionAppend = {
  session: SessionId;
  after: number;
  transactions: Transaction[];
  signature: string;
  lastHash: string;
};

/** Everything one `content` frame changes, committed atomically. */
export type Write = { doc: DocId; header?: DocHeader; appends: SessionAppend[]; now: number };

/** What the relay core may read. Reads are synchronous: Durable Object SQLite answers in-process. */
export interface StoreReader {
  header(doc: DocId): DocHeader | undefined;
  knownState(doc: DocId): KnownState;
  sessionHead(doc: DocId, session: SessionId): SessionHead | undefined;
  subscribers(doc: DocId): PeerId[];
}

export interface GroupStore extends StoreReader {
  /** Transactions `from` (inclusive) to `to` (exclusive) of one session, in order, read lazily. */
  readTransactions(doc: DocId, session: SessionId, from: number, to: number): Iterable<StoredTransaction>;
  /** Every document of the group with its known state, read lazily in id order. */
  listDocuments(): Iterable<DirEntry>;
  /** Appends all of `write` or nothing. */
  commit(write: Write): void;
  subscribe(peer: PeerId, doc: DocId): void;
  unsubscribe(peer: PeerId, doc: DocId): void;
  forgetPeer(peer: PeerId): void;
  /** Drops the subscriptions of every peer not in `live` (after a restart closed their sockets). */
  forgetPeersExcept(live: readonly PeerId[]): void;
}
