// One document as the client core holds it, as plain data, and the pure functions that move it: what each
// session holds, what is saved locally, what the relay confirmed, what is in flight and what was refused.
// Once a snapshot is held, each session's log starts at its base (what the snapshot stands for): counts
// and indexes stay those of the whole session. No I/O, no clock, no await: the time comes in as an
// argument. The Doc class (doc.ts) is the app's view of it; snapshots published are in snapshots.ts, what a
// refusal holds back in held-back.ts, the order transactions are read in in ordered-view.ts, what other
// sessions send in received.ts, and the relay's copy of the own session is checked in own-content.ts.
import {
  GENESIS_HASH,
  MAX_CLOCK_AHEAD_MS,
  MEMBERS_KIND,
  RELAY_CLOCK_SLACK_MS,
  agentOfSession,
  chainHash,
  countOf,
  coversMore,
  fromBase64Url,
  mergeKnownStates,
  nextChainHash,
  type AgentId,
  type DocHeader,
  type DocId,
  type KnownState,
  type SessionCounts,
  type SessionId,
  type Snapshot,
  type Transaction,
  type TransactionData,
} from "../../protocol/index.ts";
import { ChainChecks, verifiesChains } from "../chain-checks.ts";
import { LocalRefusalError, type LocalStoreError, type RelayError } from "../errors.ts";
import { isTransactionData, transactionProblem } from "../local-checks.ts";
import { type DocChanges, type StoredDoc, type StoredSnapshot, type StrandedRun } from "../storage/local-store.ts";
import { OwnHashes } from "./own-hashes.ts";

export type DocTransaction = Transaction & { session: SessionId; index: number };

/**
 * A held transaction as the one at `index` of `session`. Written out as an object literal: every transaction
 * a document receives or reads from the store becomes one, and Node 20 spreads each several times slower.
 */
export const docTransaction = ({ at, data }: Transaction, session: SessionId, index: number): DocTransaction => ({ at, data, session, index });

/** Own writes from index `from` on are held back: refused by the relay (or by this SDK, read back from the store). */
export type Refusal = { error: RelayError | LocalRefusalError; from: number; wholeDocument: boolean };

/**
 * What the relay holds of the own session from `from` on (to `until`, as far as is known) may not be this
 * client's writes: the own session was cut there by discarding refused writes and is written again, while
 * another tab of this agent may have got the discarded ones stored at those indexes; or the relay named
 * content or a count past what an ack or a comparison vouches for (DocState.ownMatched), or refused a push
 * as signed over another chain. What it says it holds past `from` counts as this client's writes only once
 * its content there was compared with the own log (own-content.ts), or the relay acked an own push past it.
 * `checking`: such a count was heard, and nothing more is pushed until a load answers; `asked`: a load
 * asking from `from` is on its way on this socket.
 */
export type Reused = { from: number; until: number; checking: boolean; asked: boolean };

/** A snapshot this client published, until the relay answers it: `snapshotted` (stored) or an error. */
export type PendingSnapshot = { snapshot: Snapshot; key: `snapshot:${DocId}:${string}` };

/** The relay stored a snapshot of the document: by whom, covering what. */
export type Snapshotted = { session: SessionId; covers: SessionCounts };

export type DocState = {
  readonly id: DocId;
  header: DocHeader | undefined;
  /** Every session's transactions held, in order, from the session's base on (see `bases`). */
  readonly sessions: Map<SessionId, Transaction[]>;
  /** Chain hash after each own transaction held (index 0: the one at the own session's base). */
  readonly ownHashes: OwnHashes;
  /** The snapshot the held transactions follow, once one was received (or published and stored). */
  snapshot: Snapshot | undefined;
  /** Per session, how many of its first transactions are not held: the snapshot stands for them. */
  readonly bases: Map<SessionId, number>;
  /** The chain hash at the base of this agent's sessions, where it is known: their pushes go on from it. */
  readonly baseHashes: Map<SessionId, string>;
  snapshotSaved: boolean;
  /** Snapshots published and not answered yet, oldest first. */
  readonly pendingSnapshots: PendingSnapshot[];
  /**
   * While a delete of the document waits for the relay: how many of the pending snapshots went before it on
   * this socket. The relay answers in order, so an error about the document answers those first, then the delete.
   */
  snapshotsBeforeDelete: number;
  /** The newest snapshot the relay is known to have stored (heard of, received or published). */
  snapshotted: Snapshotted | undefined;
  /** The last snapshot received failed its signature check: a gap after it does not load again (it would loop). */
  distrustsSnapshot: boolean;
  /** The newest `at` seen in any session: new transactions never go back in time (the membership log relies on it). */
  lastAt: number;
  /** The newest `at` seen in another session: a new transaction sorts after it (see nextAt). */
  othersLastAt: number;
  deleted: boolean;
  /** The relay answered this document's load (or it is deleted). */
  loaded: boolean;
  /** What the relay has confirmed holding. */
  relay: KnownState;
  /** How many own transactions were sent (optimistic: dropped back to the relay's count on reconnect). */
  sent: number;
  /** No partial frame of own transactions leaves before this time, on the push clock (push.ts: Pace). */
  pacedUntil: number;
  /** A frame carrying the header is on its way; no other until the relay answers. */
  headerInFlight: boolean;
  /** How much of each session, and whether the header, is saved in the local store. */
  readonly saved: Map<SessionId, number>;
  headerSaved: boolean;
  /** What the local store keeps of what the relay holds (StoredDoc.relayHeld), as far as this client knows. */
  relayHeldSaved: KnownState | undefined;
  refusal: Refusal | undefined;
  /**
   * The relay holds less of the own session than the snapshot this client holds the document from (it lost
   * it, or was restored from a backup older than the snapshot): the own writes after the snapshot cannot go
   * up, as the relay lacks what they follow. Told once; synced() rejects with it until the relay holds more.
   */
  behindSnapshot: RelayError | undefined;
  /**
   * A snapshot from the relay covers more of the own session than this client holds: the local store is
   * behind the relay's copy (restored from a backup, saves lost in a crash, a save damaged on the disk), and
   * the snapshot now stands for what is missing, so the own log can neither be compared with the relay's nor
   * continued. Own writes past what the relay confirmed cannot go up. Told once a run; synced() rejects with
   * it while there are such writes (ownUnconfirmed).
   */
  storeBehind: LocalStoreError | undefined;
  /** Own indexes whose copy at the relay is to be compared before it counts (see Reused). */
  reused: Reused | undefined;
  /**
   * Grows whenever the own log is cut (refused writes discarded, own writes moved after the relay's): a
   * save of it computed before the cut does not count its own writes as saved (the store was cut after it).
   */
  ownCuts: number;
  /**
   * How far the own log is known to be the relay's copy of the session: the relay acked a push up to there
   * (it checked the chain's signature), or its content was compared up to there. Content past it, or a
   * correction's count past it, is compared before it counts (own-content.ts).
   */
  ownMatched: number;
  /**
   * How many own writes the relay had acknowledged when the document was read from the local store (its
   * relayHeld, as far as the store holds the session), less any discarded since. The relay holds them as this
   * client signed them: where the store's copy differs below this, it was damaged on the disk, and the
   * relay's copy replaces it (own-content.ts). 0 for a store that keeps no relayHeld (an older SDK's).
   */
  ownAckedBefore: number;
  /**
   * The relay refused a push of this agent's writes as signed over another chain than its own, and its copy
   * of the session was asked for to compare (own-content.ts: recheckChain); until an ack, a second such
   * refusal is not rechecked but surfaced.
   */
  chainRechecked: boolean;
  /** How much of each received session is verified (the membership log only, for now). */
  readonly chains: ChainChecks;
  /**
   * Other sessions of this agent whose held copy the shared store contradicts where the relay counted them
   * (their tab discarded writes another tab had taken in): the next load asks for them from there, and the
   * relay's copy, the session's, replaces what differs (applyContent).
   */
  readonly askFrom: Map<SessionId, number>;
  /**
   * Other sessions of this agent whose copy here disagreed with the shared store's or the relay's: the
   * store's copy is their own client's to keep, so this client saves none of them from then on.
   */
  readonly conflicted: Set<SessionId>;
  /**
   * Runs of this agent's sessions the local store kept past a hole in their log (a save damaged on the disk):
   * they join the log once the relay's copy fills the hole (stranded.ts), and the unsent writes among them go up.
   */
  readonly stranded: Map<SessionId, StrandedRun[]>;
  /** Runs kept aside that were told lost, which the local store is yet to forget (DocChanges.dropStranded). */
  strandedDropped: { session: SessionId; after: number }[];
  /** Per other session of this agent, how far a push of its orphan tail went on this socket (push.ts). */
  readonly orphansSent: Map<SessionId, number>;
  /** The relay refused an orphan tail for good: this client pushes none of this document's until retried or discarded. */
  orphanRefusal: RelayError | undefined;
  /** Grows with every change to what the document holds, so views of it know when to recompute. */
  version: number;
  /**
   * Grows whenever held transactions are removed or replaced (a snapshot taken in, refused writes
   * discarded) or a session's base moves: a view that only adds what is new to an earlier one starts over.
   */
  rewrites: number;
};

export function newDocState(id: DocId, header: DocHeader | undefined): DocState {
  return {
    id,
    header,
    sessions: new Map(),
    ownHashes: new OwnHashes(),
    snapshot: undefined,
    bases: new Map(),
    baseHashes: new Map(),
    snapshotSaved: true,
    pendingSnapshots: [],
    snapshotsBeforeDelete: 0,
    snapshotted: undefined,
    distrustsSnapshot: false,
    lastAt: 0,
    othersLastAt: 0,
    deleted: false,
    loaded: false,
    relay: { header: false, sessions: {} },
    sent: 0,
    pacedUntil: 0,
    headerInFlight: false,
    saved: new Map(),
    headerSaved: false,
    relayHeldSaved: undefined,
    refusal: undefined,
    behindSnapshot: undefined,
    storeBehind: undefined,
    reused: undefined,
    ownCuts: 0,
    ownMatched: 0,
    ownAckedBefore: 0,
    chainRechecked: false,
    chains: new ChainChecks(),
    askFrom: new Map(),
    conflicted: new Set(),
    stranded: new Map(),
    strandedDropped: [],
    orphansSent: new Map(),
    orphanRefusal: undefined,
    version: 0,
    rewrites: 0,
  };
}

/** How many of a session's first transactions are not held (a snapshot stands for them). */
export const baseOf = (doc: DocState, session: SessionId): number => doc.bases.get(session) ?? 0;

/** How many transactions of a session this client has: the snapshot's and the ones held after it. */
export const heldCount = (doc: DocState, session: SessionId): number => baseOf(doc, session) + (doc.sessions.get(session)?.length ?? 0);

/** How far the relay is known to hold the own session as this client wrote it: acked, compared, or a snapshot's base. */
export const ownConfirmed = (doc: DocState, own: SessionId): number => Math.max(doc.ownMatched, doc.ownAckedBefore, baseOf(doc, own));

/** Own writes held past what the relay is known to hold as this client wrote them (ownConfirmed). */
export const ownUnconfirmed = (doc: DocState, own: SessionId): number => heldCount(doc, own) - ownConfirmed(doc, own);

/** Whether `covers` (a snapshot's) covers more of the own session than this client holds (DocState.storeBehind). */
export const coversPastHeld = (doc: DocState, own: SessionId, covers: SessionCounts | undefined): boolean => (covers?.[own] ?? 0) > heldCount(doc, own);

/** What this client holds: per session, how many transactions (a snapshot's included). */
export function knownOf(doc: DocState): KnownState {
  const sessions: KnownState["sessions"] = {};
  for (const session of new Set([...doc.bases.keys(), ...doc.sessions.keys()])) {
    const count = heldCount(doc, session);
    if (count > 0 || doc.sessions.has(session)) sessions[session] = count;
  }
  return { header: doc.header !== undefined, sessions };
}

/** The own transactions held (from the own session's base on). */
export const ownLog = (doc: DocState, own: SessionId): readonly Transaction[] => doc.sessions.get(own) ?? [];

/** Transactions `from` to `to` (counted from the session's start) of a session, as far as held. */
export function heldSlice(doc: DocState, session: SessionId, from: number, to: number): Transaction[] {
  const base = baseOf(doc, session);
  return (doc.sessions.get(session) ?? []).slice(Math.max(0, from - base), Math.max(0, to - base));
}

/** The chain hash after `count` own transactions (count at least the own base). */
export function ownHashAt(doc: DocState, own: SessionId, count: number): string {
  const base = baseOf(doc, own);
  if (count === base) return doc.baseHashes.get(own) ?? GENESIS_HASH;
  return doc.ownHashes.at(count - base - 1);
}

/** ownHashAt's bytes, to extend the chain from; read at once (a view into the hashes kept). */
function ownHashBytesAt(doc: DocState, own: SessionId, count: number): Uint8Array {
  const base = baseOf(doc, own);
  if (count === base) return fromBase64Url(doc.baseHashes.get(own) ?? GENESIS_HASH)!;
  return doc.ownHashes.bytesAt(count - base - 1);
}

/** Some own transactions (or the header) are not yet acknowledged by the relay. */
export function hasUnsynced(doc: DocState, own: SessionId): boolean {
  if (doc.deleted) return false;
  // Only this agent may send a header it created (the relay refuses another creator's): a document another
  // agent created and left unsent in a shared store is not this client's to sync.
  const ownHeaderUnsent = doc.header !== undefined && !doc.relay.header && doc.header.creator === agentOfSession(own);
  // Own writes the store kept past a hole wait for the relay's copy to join, then go up (stranded.ts).
  // Those of a store behind the relay's copy never do (storeBehind), whatever the relay's count says.
  return heldCount(doc, own) > countOf(doc.relay, own) || ownHeaderUnsent || doc.stranded.has(own) || (doc.storeBehind !== undefined && ownUnconfirmed(doc, own) > 0);
}

/** Own content (or the header) was pushed on the current socket and not acknowledged yet. */
export const isInFlight = (doc: DocState, own: SessionId): boolean => doc.headerInFlight || doc.sent > countOf(doc.relay, own);

/**
 * The time of the next own transaction: never behind anything seen, and after every transaction of another
 * session seen (ties go by session, so an equal time could sort it first), so the order all replicas agree
 * on puts a write after everything its writer had seen, whatever the clocks say. Own transactions of one
 * millisecond share it (their index orders them), except in the membership log, where each is strictly later.
 * Never past what the relay takes (MAX_CLOCK_AHEAD_MS ahead of its clock, less a minute for the estimate of
 * it): a document holding a time far ahead (stored before the relay refused such times) is still written,
 * its new writes sorting before that one rather than all refused. The membership log, whose operations
 * must go forward, goes on right after it (the relay takes that), up to the largest time it takes.
 */
export function nextAt(doc: DocState, now: number): number {
  const after = Math.max(now, doc.header?.kind === MEMBERS_KIND ? doc.lastAt + 1 : doc.lastAt, doc.othersLastAt + 1);
  return Math.min(doc.header?.kind === MEMBERS_KIND ? Number.MAX_SAFE_INTEGER : now + MAX_CLOCK_AHEAD_MS - RELAY_CLOCK_SLACK_MS, after);
}

/**
 * The newest time held, counted again after own writes were cut (refused ones discarded): a write the relay
 * refused, stamped too far ahead by a device's clock (bad_time), no longer pushes every later one past it.
 */
export function recountLastAt(doc: DocState): void {
  let last = doc.snapshot?.at ?? 0;
  for (const log of doc.sessions.values()) for (const transaction of log) if (transaction.at > last) last = transaction.at;
  doc.lastAt = last;
}

/** Notes the time of a transaction held from `session`. */
export function seenAt(doc: DocState, own: SessionId, session: SessionId, at: number): void {
  if (at > doc.lastAt) doc.lastAt = at;
  if (session !== own && at > doc.othersLastAt) doc.othersLastAt = at;
}

/**
 * Notes the newest time a snapshot's author had seen: the transactions it stands for are not held, and the
 * next own write must still sort after them. Counted as another session's, whoever's they were.
 */
function seenSnapshotAt(doc: DocState, snapshot: Snapshot): void {
  if (snapshot.at === undefined) return;
  if (snapshot.at > doc.lastAt) doc.lastAt = snapshot.at;
  if (snapshot.at > doc.othersLastAt) doc.othersLastAt = snapshot.at;
}

export function logOf(doc: DocState, session: SessionId): Transaction[] {
  let log = doc.sessions.get(session);
  if (!log) doc.sessions.set(session, (log = []));
  return log;
}

/** Appends a transaction held elsewhere (the relay's copy, the store's) to the own log, with its chain hash where the hashes reach that far. */
export function appendHeld(doc: DocState, own: SessionId, transaction: Transaction): void {
  const log = logOf(doc, own);
  if (doc.ownHashes.length === log.length) doc.ownHashes.push(nextChainHash(ownHashBytesAt(doc, own, heldCount(doc, own)), transaction));
  log.push(transaction);
  seenAt(doc, own, own, transaction.at);
}

/** Appends an own transaction (already checked by the caller) at `nextAt(doc, now)`. */
export function appendOwn(doc: DocState, own: SessionId, data: TransactionData, now: number): DocTransaction {
  const at = nextAt(doc, now);
  const log = logOf(doc, own);
  doc.lastAt = at;
  const transaction = { at, data };
  const index = heldCount(doc, own);
  doc.ownHashes.push(nextChainHash(ownHashBytesAt(doc, own, index), transaction));
  log.push(transaction);
  doc.version++;
  return docTransaction(transaction, own, index);
}

/**
 * Takes in what the local store holds, as stored-checks.ts let it through. Own transactions the relay would
 * refuse (an older SDK's) are held back.
 */
export function restoreDoc(doc: DocState, own: SessionId, stored: StoredDoc): void {
  doc.header ??= stored.header;
  doc.headerSaved = true;
  doc.version++;
  const held = stored.snapshot;
  if (held && !doc.snapshot && doc.sessions.size === 0) {
    doc.snapshot = held.snapshot;
    seenSnapshotAt(doc, held.snapshot);
    for (const [session, base] of Object.entries(held.bases) as [SessionId, number][]) if (base > 0) doc.bases.set(session, base);
    doc.rewrites++;
    for (const [session, hash] of Object.entries(held.baseHashes) as [SessionId, string][]) doc.baseHashes.set(session, hash);
    doc.snapshotted = { session: held.snapshot.session, covers: held.snapshot.covers };
    doc.relay = mergeKnownStates(doc.relay, { header: false, sessions: held.snapshot.covers });
  }
  for (const [session, transactions] of Object.entries(stored.sessions) as [SessionId, Transaction[]][]) {
    const log = logOf(doc, session);
    if (log.length > 0) continue;
    for (const transaction of transactions) log.push(transaction);
    for (const transaction of transactions) seenAt(doc, own, session, transaction.at);
    doc.saved.set(session, heldCount(doc, session));
    // Only verified transactions of a verified chain are ever saved (unsavedOf holds the rest back).
    doc.chains.trust(session, heldCount(doc, session));
  }
  for (const [session, runs] of Object.entries(stored.stranded ?? {}) as [SessionId, StrandedRun[]][]) {
    if (agentOfSession(session) === agentOfSession(own) && !doc.stranded.has(session)) doc.stranded.set(session, runs.map((run) => ({ ...run })));
  }
  restoreRelayHeld(doc, own, stored.relayHeld);
  const base = baseOf(doc, own);
  const ownTransactions = ownLog(doc, own);
  const bad = ownTransactions.findIndex((transaction) => transactionProblem(transaction) !== undefined);
  if (bad >= 0 && !doc.refusal) {
    const [code, reason] = transactionProblem(ownTransactions[bad]!)!;
    doc.refusal = { error: new LocalRefusalError(code, `own transaction ${base + bad} in the local store: ${reason}`), from: base + bad, wholeDocument: false };
  }
  // Those held back get a hash too, so writes appended after them go on from the chain's end (held back with
  // them until retried or discarded). Data of no transaction's type cannot be hashed: the chain goes on from
  // the hash before it, as good as any there, since the relay takes nothing past a transaction it refuses.
  const from = doc.ownHashes.length;
  let previous = ownHashBytesAt(doc, own, base + from);
  for (const transaction of ownTransactions.slice(from)) {
    if (isTransactionData(transaction.data)) previous = nextChainHash(previous, transaction);
    doc.ownHashes.push(previous);
  }
}

/**
 * What the relay was last heard to hold, as the local store kept it (checked with the rest of what it
 * gives back, stored-checks.ts), counts as what it holds until it answers a load, as it does for a client
 * that stayed up through a lost connection: writes it acknowledged in an earlier run are not reported among
 * those it refuses (the document deleted meanwhile), and synced() waits for no answer about them. A session
 * counts only as far as the store holds it: a store behind the relay (saves lost to a power cut) holds
 * writes past that which the relay's copy may not match (own-content.ts compares them once it answers).
 */
function restoreRelayHeld(doc: DocState, own: SessionId, relayHeld: KnownState | undefined): void {
  if (!relayHeld) return;
  doc.relayHeldSaved = relayHeld;
  if (doc.loaded) return; // the relay answered already: what it said stands
  const sessions: SessionCounts = {};
  for (const [session, count] of Object.entries(relayHeld.sessions) as [SessionId, number][]) sessions[session] = Math.min(count, heldCount(doc, session));
  doc.relay = mergeKnownStates(doc.relay, { header: relayHeld.header, sessions });
  doc.sent = Math.max(doc.sent, countOf(doc.relay, own));
  // A kept snapshot covering more of the own session than the store holds vouches for none of it (storeBehind).
  doc.ownAckedBefore = coversPastHeld(doc, own, doc.snapshot?.covers) ? (sessions[own] ?? 0) : countOf(doc.relay, own);
}

/**
 * Cuts the own log at `at` (counted from the session's start) and returns what was cut: the local store's
 * copy is cut there too (a cutLocal effect), so a save taken before does not count its own writes (ownCuts).
 */
export function cutOwnLog(doc: DocState, own: SessionId, at: number): Transaction[] {
  const keep = Math.max(0, at - baseOf(doc, own));
  const cut = logOf(doc, own).splice(keep);
  doc.ownHashes.truncate(keep);
  doc.saved.set(own, Math.min(doc.saved.get(own) ?? 0, at));
  doc.ownCuts++;
  doc.version++;
  doc.rewrites++;
  return cut;
}

/** Who holds a document here: this client's agent and the session it writes as. */
export type Holder = { agent: AgentId; session: SessionId };

/** Another session of this client's agent: its tail may be pushed from here (push.ts: takeOrphanTails), never appended to. */
export const isOrphanSession = (session: SessionId, holder: Holder): boolean => session !== holder.session && agentOfSession(session) === holder.agent;

/** What the local store lacks, or undefined when it is up to date. */
export function unsavedOf(doc: DocState, own: SessionId): DocChanges | undefined {
  // A deleted document is not saved again: its file went with it.
  if (!doc.header || doc.deleted) return undefined;
  const changes: DocChanges = { appends: [] };
  if (!doc.headerSaved) changes.header = doc.header;
  if (!doc.snapshotSaved && doc.snapshot) changes.snapshot = storedSnapshotOf(doc);
  const relayHeld = relayHeldUnsaved(doc, own);
  if (relayHeld) changes.relayHeld = relayHeld;
  if (doc.strandedDropped.length > 0) changes.dropStranded = [...doc.strandedDropped];
  const verifies = verifiesChains(doc.header);
  for (const session of doc.sessions.keys()) {
    if (doc.conflicted.has(session)) continue;
    const held = heldCount(doc, session);
    // What a snapshot stands for is saved with it, never as transactions.
    const saved = Math.max(doc.saved.get(session) ?? 0, baseOf(doc, session));
    const savable = verifies && session !== own ? Math.min(held, doc.chains.verifiedCount(session)) : held;
    if (savable > saved) changes.appends.push({ session, after: saved, transactions: heldSlice(doc, session, saved, savable) });
  }
  return changes.header || changes.snapshot || changes.relayHeld || changes.dropStranded || changes.appends.length > 0 ? changes : undefined;
}

/**
 * What the local store is to keep of what the relay holds (DocChanges.relayHeld), when the store's copy is
 * not that: the header, and the relay's count of the own session. Kept only once there is something of this
 * client's to tell (an own write or a document it created acknowledged): a client reading a group saves nothing.
 */
function relayHeldUnsaved(doc: DocState, own: SessionId): KnownState | undefined {
  // A store behind the relay's copy (storeBehind) keeps only what is confirmed as this client's: a restart
  // must not take the own writes past it for acknowledged.
  const count = doc.storeBehind ? Math.min(countOf(doc.relay, own), ownConfirmed(doc, own)) : countOf(doc.relay, own);
  const saved = doc.relayHeldSaved;
  if (saved) {
    if (saved.header === doc.relay.header && countOf(saved, own) === count) return undefined;
  } else if (count === 0 && !(doc.relay.header && doc.header?.creator === agentOfSession(own))) return undefined;
  return { header: doc.relay.header, sessions: { [own]: count } };
}

/** The snapshot as the local store keeps it: with where each session's log starts, and the hashes there. */
export function storedSnapshotOf(doc: DocState): StoredSnapshot | undefined {
  if (!doc.snapshot) return undefined;
  return { snapshot: doc.snapshot, bases: Object.fromEntries(doc.bases), baseHashes: Object.fromEntries(doc.baseHashes) };
}

export function markSaved(doc: DocState, changes: DocChanges): void {
  if (changes.header) doc.headerSaved = true;
  if (changes.relayHeld) doc.relayHeldSaved = changes.relayHeld;
  if (changes.dropStranded) doc.strandedDropped = doc.strandedDropped.filter((drop) => !changes.dropStranded!.includes(drop));
  if (changes.snapshot && changes.snapshot.snapshot === doc.snapshot) doc.snapshotSaved = true;
  for (const append of changes.appends) doc.saved.set(append.session, append.after + append.transactions.length);
}

/**
 * The local store no longer holds the document (another client sharing it removed it: it discarded the
 * document, or heard of its deletion first): nothing of it counts as saved, so the next save is all of it,
 * header first, and what the relay lacks leaves the device only once saved again.
 */
export function markUnsaved(doc: DocState): void {
  doc.headerSaved = false;
  doc.snapshotSaved = false;
  doc.relayHeldSaved = undefined;
  doc.saved.clear();
}

/** The socket dropped: forget what was in flight, keep what the relay confirmed. */
export function resetInFlight(doc: DocState, own: SessionId): void {
  doc.sent = countOf(doc.relay, own);
  doc.headerInFlight = false;
  doc.orphansSent.clear();
  doc.distrustsSnapshot = false;
  if (doc.reused) doc.reused.asked = false;
}

/**
 * The relay answered a load, acked a write, or corrected our `after`. Returns whether this was the load's answer.
 * An ack only raises counts. A load's answer lists all the relay holds, and a correction the relay's count of
 * each session the refused write named: they are taken as they are, lower counts included, so what a relay
 * lost (restored from an older backup, an in-memory relay restarted) is pushed again. On a healthy relay they
 * never name less than was recorded: it answers a socket in order, so every ack heard before was counted in them.
 */
export function applyKnown(doc: DocState, own: SessionId, relay: KnownState, reason: "load" | "ack" | "correction"): { firstLoad: boolean } {
  if (reason === "ack") {
    doc.relay = mergeKnownStates(doc.relay, relay);
    doc.chainRechecked = false;
    doc.ownMatched = Math.max(doc.ownMatched, relay.sessions[own] ?? 0);
  } else if (reason === "load") {
    doc.relay = { header: relay.header, sessions: { ...relay.sessions } };
    // The relay sent its copy of those before its answer: their tails go on from its counts (push.ts).
    for (const session of doc.askFrom.keys()) doc.orphansSent.delete(session);
    doc.askFrom.clear();
  } else {
    doc.relay = { header: relay.header, sessions: { ...doc.relay.sessions, ...relay.sessions } };
    // An orphan tail's push is answered: the next goes from the relay's count (push.ts: takeOrphanTails).
    for (const session of Object.keys(relay.sessions) as SessionId[]) doc.orphansSent.delete(session);
  }
  if (reason !== "ack") doc.sent = countOf(doc.relay, own);
  // Never counted as sent less than the relay holds: an ack for a push made behind a load answered on this
  // socket (which set `sent` back to the count it named) would otherwise leave the next write unpushed.
  else doc.sent = Math.max(doc.sent, countOf(doc.relay, own));
  if (reason !== "ack" || doc.relay.header) doc.headerInFlight = false;
  ownStoredUpTo(doc, own, countOf(doc.relay, own));
  const firstLoad = reason === "load" && !doc.loaded;
  if (firstLoad) doc.loaded = true;
  return { firstLoad };
}

/**
 * The relay holds the own session up to `count`, and maybe the header: refused writes below it, or a
 * refused creation, were stored after all (another tab of this agent sent them once it could), so the
 * refusal holds back only what follows them, if anything.
 */
export function ownStoredUpTo(doc: DocState, own: SessionId, count: number): void {
  // Refused for want of the document (unknown_doc: the relay lost it, and its creator had not given it
  // back yet): nothing stands in the way once the relay holds its header.
  if (doc.relay.header && doc.orphanRefusal?.code === "unknown_doc") doc.orphanRefusal = undefined;
  if (doc.relay.header && doc.refusal?.error.code === "unknown_doc") doc.refusal = undefined;
  const refusal = doc.refusal;
  const headerStored = refusal?.wholeDocument === true && doc.relay.header;
  if (!refusal || (refusal.from >= count && !headerStored)) return;
  if (count >= heldCount(doc, own)) doc.refusal = undefined;
  else doc.refusal = { ...refusal, from: Math.max(refusal.from, count), wholeDocument: false };
}

/**
 * The relay answered a push with `unknown_doc`: it lost the document (an in-memory relay restarted, a group
 * restored from a backup older than it). It holds none of it now, so the header and every own write go up
 * again, as for a document created offline. False when a frame with the header is already on its way: the
 * error then answers a push sent before it.
 */
export function relayLost(doc: DocState): boolean {
  if (doc.headerInFlight || doc.deleted) return false;
  doc.relay = { header: false, sessions: {} };
  doc.sent = 0;
  doc.orphansSent.clear();
  return true;
}

export function markDeleted(doc: DocState): void {
  doc.deleted = true;
  doc.loaded = true;
  doc.refusal = undefined;
  doc.orphanRefusal = undefined;
  // A tombstone: what the document held goes, as it went from the relay and the local store; its id and
  // header stay (a long-lived client deleting documents would otherwise keep all they ever held).
  doc.sessions.clear();
  doc.ownHashes.clear();
  doc.snapshot = undefined;
  doc.bases.clear();
  doc.baseHashes.clear();
  doc.saved.clear();
  doc.stranded.clear();
  doc.rewrites++;
  doc.version++;
}

/**
 * Takes in a snapshot (received and verified, or published and stored) if it is newer than the one held:
 * each session's log then starts at what it covers. Returns false when it is not newer (nothing changed).
 * A session of this agent is cut only where its chain hash at the cut is known (pushing goes on from it);
 * the own session only as far as this client holds it.
 */
export function applySnapshot(doc: DocState, writer: Holder, snapshot: Snapshot): boolean {
  if (doc.snapshot && !coversMore(snapshot.covers, doc.snapshot.covers)) return false;
  for (const [session, covered] of Object.entries(snapshot.covers) as [SessionId, number][]) {
    const base = baseOf(doc, session);
    if (covered <= base) continue;
    const log = doc.sessions.get(session) ?? [];
    const held = base + log.length;
    if (agentOfSession(session) === writer.agent) {
      if (session === writer.session) {
        if (covered > held) continue; // the own log is authoritative: never cut past what this client holds
        doc.baseHashes.set(session, ownHashAt(doc, session, covered));
        doc.ownHashes.dropFirst(covered - base);
      } else {
        const from = doc.baseHashes.get(session) ?? (base === 0 ? GENESIS_HASH : undefined);
        if (from !== undefined && covered <= held) doc.baseHashes.set(session, chainHash(from, log.slice(0, covered - base)));
        else doc.baseHashes.delete(session);
      }
    }
    doc.sessions.set(session, log.slice(Math.min(log.length, covered - base)));
    doc.bases.set(session, covered);
  }
  doc.snapshot = snapshot;
  seenSnapshotAt(doc, snapshot);
  doc.snapshotSaved = false;
  if (!doc.snapshotted || coversMore(snapshot.covers, doc.snapshotted.covers)) doc.snapshotted = { session: snapshot.session, covers: snapshot.covers };
  doc.relay = mergeKnownStates(doc.relay, { header: false, sessions: snapshot.covers });
  doc.version++;
  doc.rewrites++;
  return true;
}
