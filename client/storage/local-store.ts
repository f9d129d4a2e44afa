// Where the SDK keeps documents on the device, so an app reopens them without the network and an
// offline write survives a restart. Small on purpose: three implementations share it.
import type { AgentId, DocHeader, DocId, SessionId, Transaction } from "../../protocol/index.ts";
import type { LeaseRequest, SessionLease } from "./session-pool.ts";

/** A document as stored locally: its header and every session's transactions, in order. */
export type StoredDoc = { id: DocId; header: DocHeader; sessions: Record<SessionId, Transaction[]> };

/** What changed in one document since the last save: a new header and/or transactions appended to sessions. */
export type DocChanges = {
  header?: DocHeader;
  appends: { session: SessionId; after: number; transactions: Transaction[] }[];
};

export interface LocalStore {
  /**
   * A session of `agent` that no other live client sharing this store (another tab, process or client)
   * holds, kept until `release()`: a free one of the store's pool, or a fresh one (see session-pool.ts).
   */
  leaseSession(agent: AgentId, request: LeaseRequest): Promise<SessionLease>;
  /** Every document stored for a group. */
  loadGroup(group: string): Promise<StoredDoc[]>;
  /**
   * Saves the changes of one document; resolves once they would survive a restart of the app. Several
   * clients may save into one document at once (each its own session); every save must survive.
   */
  save(group: string, doc: DocId, changes: DocChanges): Promise<void>;
  /** Forgets a document (the relay deleted it), so it does not come back at the next start. */
  remove(group: string, doc: DocId): Promise<void>;
  close(): Promise<void>;
}

/** Applies changes to a stored document, ignoring transactions it already holds and appends that are not whole. */
export function applyChanges(stored: StoredDoc, changes: DocChanges): void {
  for (const append of changes.appends) {
    if (!isAppend(append)) continue; // a garbled record read back from disk costs only itself
    const log = (stored.sessions[append.session] ??= []);
    if (append.after > log.length) continue; // a gap: never store a log with holes
    // A loop, not push(...list): a long list would overflow the argument limit.
    for (const transaction of append.transactions.slice(log.length - append.after)) log.push(transaction);
  }
}

function isAppend(value: unknown): value is DocChanges["appends"][number] {
  const append = value as Partial<DocChanges["appends"][number]> | null;
  return typeof append === "object" && append !== null && typeof append.session === "string" && Number.isInteger(append.after) && Array.isArray(append.transactions);
}
