// Where the SDK keeps documents on the device, so an app reopens them without the network and an
// offline write survives a restart. Small on purpose: three implementations share it.
import type { AgentId, DocHeader, DocId, SessionId, Transaction } from "../../protocol/index.ts";

/** A document as stored locally: its header and every session's transactions, in order. */
export type StoredDoc = { id: DocId; header: DocHeader; sessions: Record<SessionId, Transaction[]> };

/** What changed in one document since the last save: a new header and/or transactions appended to sessions. */
export type DocChanges = {
  header?: DocHeader;
  appends: { session: SessionId; after: number; transactions: Transaction[] }[];
};

export interface LocalStore {
  /** The session id this device writes as for `agent`, if one was saved. */
  loadSession(agent: AgentId): Promise<SessionId | undefined>;
  saveSession(agent: AgentId, session: SessionId): Promise<void>;
  /** Every document stored for a group. */
  loadGroup(group: string): Promise<StoredDoc[]>;
  /** Saves the changes of one document; resolves once they would survive a restart of the app. */
  save(group: string, doc: DocId, changes: DocChanges): Promise<void>;
  /** Forgets a document (the relay deleted it), so it does not come back at the next start. */
  remove(group: string, doc: DocId): Promise<void>;
  close(): Promise<void>;
}

/** Applies changes to a stored document, ignoring transactions it already holds. */
export function applyChanges(stored: StoredDoc, changes: DocChanges): void {
  for (const append of changes.appends) {
    const log = (stored.sessions[append.session] ??= []);
    if (append.after > log.length) continue; // a gap: never store a log with holes
    // A loop, not push(...list): a long list would overflow the argument limit.
    for (const transaction of append.transactions.slice(log.length - append.after)) log.push(transaction);
  }
}
