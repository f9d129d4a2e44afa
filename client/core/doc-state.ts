// One document as the client core holds it, as plain data, and the pure functions that move it: what each
// session holds, what is saved locally, what the relay confirmed, what is in flight and what was refused.
// No I/O, no clock, no await: the time comes in as an argument. The Doc class (doc.ts) is the app's view of it.
import {
  GENESIS_HASH,
  MEMBERS_KIND,
  chainHash,
  countOf,
  mergeKnownStates,
  type DocHeader,
  type DocId,
  type KnownState,
  type ServerContent,
  type SessionId,
  type Transaction,
  type TransactionData,
} from "../../protocol/index.ts";
import { ChainChecks, verifiesChains } from "../chain-checks.ts";
import { LocalRefusalError, type RelayError } from "../errors.ts";
import { storedTransactionProblem } from "../local-checks.ts";
import type { DocChanges, StoredDoc } from "../storage/local-store.ts";

export type DocTransaction = Transaction & { session: SessionId; index: number };

/** Own writes from index `from` on are held back: refused by the relay (or by this SDK, read back from the store). */
export type Refusal = { error: RelayError | LocalRefusalError; from: number; wholeDocument: boolean };

export type DocState = {
  readonly id: DocId;
  header: DocHeader | undefined;
  /** Every session's transactions, in order. */
  readonly sessions: Map<SessionId, Transaction[]>;
  /** Chain hash after each of this client's own transactions. */
  readonly ownHashes: string[];
  /** The newest `at` seen in any session: new transactions never go back in time (the membership log relies on it). */
  lastAt: number;
  deleted: boolean;
  /** The relay answered this document's load (or it is deleted). */
  loaded: boolean;
  /** What the relay has confirmed holding. */
  relay: KnownState;
  /** How many own transactions were sent (optimistic: dropped back to the relay's count on reconnect). */
  sent: number;
  /** A frame carrying the header is on its way; no other until the relay answers. */
  headerInFlight: boolean;
  /** How much of each session, and whether the header, is saved in the local store. */
  readonly saved: Map<SessionId, number>;
  headerSaved: boolean;
  refusal: Refusal | undefined;
  /** How much of each received session is verified (the membership log only, for now). */
  readonly chains: ChainChecks;
  /** Per other session of this agent, how far a push of its orphan tail went on this socket (push.ts). */
  readonly orphansSent: Map<SessionId, number>;
  /** Grows with every change to what the document holds, so views of it know when to recompute. */
  version: number;
};

export function newDocState(id: DocId, header: DocHeader | undefined): DocState {
  return {
    id,
    header,
    sessions: new Map(),
    ownHashes: [],
    lastAt: 0,
    deleted: false,
    loaded: false,
    relay: { header: false, sessions: {} },
    sent: 0,
    headerInFlight: false,
    saved: new Map(),
    headerSaved: false,
    refusal: undefined,
    chains: new ChainChecks(),
    orphansSent: new Map(),
    version: 0,
  };
}

/** What this client holds: per session, how many transactions. */
export function knownOf(doc: DocState): KnownState {
  const sessions: KnownState["sessions"] = {};
  for (const [session, log] of doc.sessions) sessions[session] = log.length;
  return { header: doc.header !== undefined, sessions };
}

export const ownLog = (doc: DocState, own: SessionId): readonly Transaction[] => doc.sessions.get(own) ?? [];

/** Some own transactions (or the header) are not yet acknowledged by the relay. */
export function hasUnsynced(doc: DocState, own: SessionId): boolean {
  if (doc.deleted) return false;
  return ownLog(doc, own).length > countOf(doc.relay, own) || (doc.header !== undefined && !doc.relay.header);
}

/** Own content (or the header) was pushed on the current socket and not acknowledged yet. */
export const isInFlight = (doc: DocState, own: SessionId): boolean => doc.headerInFlight || doc.sent > countOf(doc.relay, own);

/** The time of the next own transaction: never behind anything seen, strictly after it in the membership log. */
export const nextAt = (doc: DocState, now: number): number => Math.max(now, doc.header?.kind === MEMBERS_KIND ? doc.lastAt + 1 : doc.lastAt);

function logOf(doc: DocState, session: SessionId): Transaction[] {
  let log = doc.sessions.get(session);
  if (!log) doc.sessions.set(session, (log = []));
  return log;
}

/** Appends an own transaction (already checked by the caller) at `nextAt(doc, now)`. */
export function appendOwn(doc: DocState, own: SessionId, data: TransactionData, now: number): DocTransaction {
  const at = nextAt(doc, now);
  const log = logOf(doc, own);
  doc.lastAt = at;
  const transaction = { at, data };
  log.push(transaction);
  doc.ownHashes.push(chainHash(doc.ownHashes[doc.ownHashes.length - 1] ?? GENESIS_HASH, [transaction]));
  doc.version++;
  return { ...transaction, session: own, index: log.length - 1 };
}

/** Takes in what the local store holds. Own transactions the relay would refuse (an older SDK's) are held back. */
export function restoreDoc(doc: DocState, own: SessionId, stored: StoredDoc): void {
  doc.header ??= stored.header;
  doc.headerSaved = true;
  doc.version++;
  for (const [session, transactions] of Object.entries(stored.sessions) as [SessionId, Transaction[]][]) {
    const log = logOf(doc, session);
    if (log.length > 0) continue;
    for (const transaction of transactions) log.push(transaction);
    for (const transaction of transactions) if (transaction.at > doc.lastAt) doc.lastAt = transaction.at;
    doc.saved.set(session, transactions.length);
    // Only verified transactions of a verified chain are ever saved (unsavedOf holds the rest back).
    doc.chains.trust(session, transactions.length);
  }
  const ownTransactions = ownLog(doc, own);
  const bad = ownTransactions.findIndex((transaction) => storedTransactionProblem(transaction) !== undefined);
  if (bad >= 0 && !doc.refusal) {
    const [code, reason] = storedTransactionProblem(ownTransactions[bad]!)!;
    doc.refusal = { error: new LocalRefusalError(code, `own transaction ${bad} in the local store: ${reason}`), from: bad, wholeDocument: false };
  }
  const valid = bad >= 0 ? bad : ownTransactions.length;
  for (const transaction of ownTransactions.slice(doc.ownHashes.length, valid)) {
    doc.ownHashes.push(chainHash(doc.ownHashes[doc.ownHashes.length - 1] ?? GENESIS_HASH, [transaction]));
  }
}

/** What the local store lacks, or undefined when it is up to date. */
export function unsavedOf(doc: DocState, own: SessionId): DocChanges | undefined {
  if (!doc.header) return undefined;
  const changes: DocChanges = { appends: [] };
  if (!doc.headerSaved) changes.header = doc.header;
  const verifies = verifiesChains(doc.header);
  for (const [session, log] of doc.sessions) {
    const saved = doc.saved.get(session) ?? 0;
    const savable = verifies && session !== own ? Math.min(log.length, doc.chains.verifiedCount(session)) : log.length;
    if (savable > saved) changes.appends.push({ session, after: saved, transactions: log.slice(saved, savable) });
  }
  return changes.header || changes.appends.length > 0 ? changes : undefined;
}

export function markSaved(doc: DocState, changes: DocChanges): void {
  if (changes.header) doc.headerSaved = true;
  for (const append of changes.appends) doc.saved.set(append.session, append.after + append.transactions.length);
}

/** The socket dropped: forget what was in flight, keep what the relay confirmed. */
export function resetInFlight(doc: DocState, own: SessionId): void {
  doc.sent = countOf(doc.relay, own);
  doc.headerInFlight = false;
  doc.orphansSent.clear();
}

/** The relay answered a load, acked a write, or corrected our `after`. Returns whether this was the load's answer. */
export function applyKnown(doc: DocState, own: SessionId, relay: KnownState, reason: "load" | "ack" | "correction"): { firstLoad: boolean } {
  doc.relay = mergeKnownStates(doc.relay, relay);
  if (reason !== "ack") doc.sent = countOf(doc.relay, own);
  if (reason !== "ack" || doc.relay.header) doc.headerInFlight = false;
  const firstLoad = reason === "load" && !doc.loaded;
  if (firstLoad) doc.loaded = true;
  return { firstLoad };
}

/**
 * Applies transactions from the relay. `gap` is true when some do not follow what is held (the document
 * is then loaded again); `added` lists what is new, in arrival order.
 */
export function applyContent(doc: DocState, own: SessionId, content: ServerContent): { added: DocTransaction[]; gap: boolean } {
  if (content.header && !doc.header) doc.header = content.header;
  const added: DocTransaction[] = [];
  let gap = false;
  for (const [session, chunk] of Object.entries(content.sessions) as [SessionId, ServerContent["sessions"][SessionId]][]) {
    if (session === own) continue; // our own log is authoritative here
    const log = logOf(doc, session);
    const held = log.length;
    if (chunk.after > held) {
      gap = true;
      continue;
    }
    for (const transaction of chunk.transactions.slice(held - chunk.after)) {
      log.push(transaction);
      if (transaction.at > doc.lastAt) doc.lastAt = transaction.at;
      added.push({ ...transaction, session, index: log.length - 1 });
    }
    const count = chunk.after + chunk.transactions.length;
    doc.relay.sessions[session] = Math.max(countOf(doc.relay, session), count);
    if (chunk.signature) doc.chains.heard(session, count, chunk.signature);
  }
  if (content.header) doc.relay.header = true;
  if (added.length > 0 || content.header) doc.version++;
  return { added, gap };
}

/** The relay refused own writes in flight: they, and what follows them, are held back. False if nothing changed. */
export function refuseWrites(doc: DocState, own: SessionId, error: RelayError): boolean {
  if (doc.refusal || doc.deleted || !hasUnsynced(doc, own)) return false;
  doc.refusal = { error, from: countOf(doc.relay, own), wholeDocument: !doc.relay.header };
  doc.sent = doc.refusal.from;
  doc.headerInFlight = false;
  return true;
}

/** The own transactions held back, if any. */
export function refusedTransactions(doc: DocState, own: SessionId): DocTransaction[] | undefined {
  const refusal = doc.refusal;
  if (!refusal) return undefined;
  return ownLog(doc, own)
    .slice(refusal.from)
    .map((transaction, offset) => ({ ...transaction, session: own, index: refusal.from + offset }));
}

/**
 * Forgets the refused own writes (and those after them): the session goes on from what the relay holds.
 * Returns the document's full content, for the local store to be written again with it.
 */
export function discardRefused(doc: DocState, own: SessionId): StoredDoc | undefined {
  const refusal = doc.refusal;
  if (!refusal) return undefined;
  doc.refusal = undefined;
  const log = logOf(doc, own);
  log.length = Math.min(log.length, refusal.from);
  doc.ownHashes.length = Math.min(doc.ownHashes.length, refusal.from);
  doc.saved.set(own, Math.min(doc.saved.get(own) ?? 0, refusal.from));
  doc.version++;
  if (!doc.header) return undefined;
  const sessions: StoredDoc["sessions"] = {};
  for (const [session, transactions] of doc.sessions) if (transactions.length > 0) sessions[session] = transactions;
  return { id: doc.id, header: doc.header, sessions };
}

export function markDeleted(doc: DocState): void {
  doc.deleted = true;
  doc.loaded = true;
  doc.refusal = undefined;
  doc.version++;
}

/** The ordered view: by time, then session, then index, the same order on every replica. */
export function orderedTransactions(doc: DocState): DocTransaction[] {
  const all: DocTransaction[] = [];
  for (const [session, log] of doc.sessions) log.forEach((transaction, index) => all.push({ ...transaction, session, index }));
  return all.sort((a, b) => a.at - b.at || (a.session < b.session ? -1 : a.session > b.session ? 1 : a.index - b.index));
}
