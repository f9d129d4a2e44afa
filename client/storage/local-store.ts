// Where the SDK keeps documents on the device, so an app reopens them without the network and an
// offline write survives a restart. Small on purpose: three implementations share it.
import { GENESIS_HASH, chainHash, coversMore, firstDifference, type AgentId, type DocHeader, type DocId, type KnownState, type Role, type SessionId, type Snapshot, type Transaction } from "../../protocol/index.ts";
import { headerIsFor } from "../local-checks.ts";
import type { LeaseRequest, SessionLease } from "./session-pool.ts";

/**
 * Where a document's held transactions start, once a snapshot replaced the ones before: the snapshot, how
 * many of each session's first transactions it stands for (`bases`: the session's log in the store starts
 * there), and the chain hash at the base of this agent's sessions (pushing goes on from it).
 */
export type StoredSnapshot = { snapshot: Snapshot; bases: Record<SessionId, number>; baseHashes: Record<SessionId, string> };

/**
 * Transactions of a session saved past a hole in its log (a save between them lost, damaged on the disk):
 * `after` counts from the session's start, as in an append. They are kept aside, not dropped: where the relay
 * holds what the hole held, its copy fills the hole, and these join the log (unsent writes among them go up).
 */
export type StrandedRun = { after: number; transactions: Transaction[] };

/**
 * A document as stored locally: its header, the snapshot it starts from (if any), every session's
 * transactions in order, from its base on (index 0 of `sessions[s]` is transaction `bases[s]`, 0 without one),
 * what the relay was last heard to hold of it (`relayHeld`, see DocChanges), and runs of transactions saved
 * past a hole in their session's log (`stranded`, oldest first; see StrandedRun).
 */
export type StoredDoc = { id: DocId; header: DocHeader; sessions: Record<SessionId, Transaction[]>; snapshot?: StoredSnapshot; relayHeld?: KnownState; stranded?: Record<SessionId, StrandedRun[]> };

/**
 * What changed in one document since the last save: a new header, a snapshot that replaces the
 * transactions before its bases, and/or transactions appended to sessions (`after` counts from the start of
 * the session, snapshot or not); and/or what the relay now holds, as the saving client heard it
 * (`relayHeld`: whether the header, and how many of that client's own session's transactions). A store
 * keeps the last one told per session (only a session's holder tells its count) and the last header flag:
 * a client restarted on the store then knows which of its writes the relay acknowledged before it hears
 * from the relay again, and never reports those among writes the relay refused (a document deleted while
 * it was away). A store that drops it leaves a restarted client counting none of its writes as stored
 * until the relay answers.
 */
export type DocChanges = {
  header?: DocHeader;
  snapshot?: StoredSnapshot;
  appends: { session: SessionId; after: number; transactions: Transaction[] }[];
  relayHeld?: KnownState;
  /**
   * Runs kept aside past a hole (StoredDoc.stranded) that can never join their session, told lost: the run
   * of `session` starting at `after` is forgotten, so it neither joins a log that went on without it nor is
   * told lost again at every start. Applied before the appends.
   */
  dropStranded?: { session: SessionId; after: number }[];
};

/** A session's log cut short: its transactions from number `keep` on (counted from the session's start) are forgotten. */
export type SessionCut = { session: SessionId; keep: number };

/** What a save resolves with (LocalStore.save): `"missing"` when the store no longer holds the document. */
export type SaveResult = void | "missing";

/** A save as this SDK's stores record it: changes, or cuts (cutSession) applied after any snapshot and before appends. */
export type StoredChanges = DocChanges & { cuts?: SessionCut[] };

export interface LocalStore {
  /**
   * A session of `agent` that no other live client sharing this store (another tab, process or client)
   * holds, kept until `release()`: a free one of the store's pool, or a fresh one (see session-pool.ts).
   */
  leaseSession(agent: AgentId, request: LeaseRequest): Promise<SessionLease>;
  /**
   * Every document stored for a group. A store that finds part of it unreadable (a file damaged on disk)
   * leaves that part out and tells `onDamage` what was lost; the client reports it through `onError`.
   */
  loadGroup(group: string, onDamage?: (problem: string) => void): Promise<StoredDoc[]>;
  /**
   * Saves the changes of one document; resolves once they would survive a restart of the app. Several
   * clients may save into one document at once (each its own session); every save must survive. Changes
   * without the header, into a document the store does not hold (another client sharing the store removed
   * it: it discarded the document, or heard of its deletion), are not stored, and the save resolves with
   * `"missing"`: the client then saves all it holds of the document, header first. (A store of the app's own
   * that resolves with nothing counts as having stored them.)
   */
  save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult>;
  /**
   * The page is going away (`pagehide`): keeps `own` session's writes and the header of `changes`, which a
   * `save` under way holds too, at once, where a save that has not started by the page's end would be lost
   * (IndexedDbLocalStore: in localStorage, moved into the database by the next `loadGroup`). Optional: a
   * store whose saves start at once (a file's) needs none.
   */
  keepAtOnce?(group: string, doc: DocId, changes: DocChanges, own: SessionId): void;
  /** Forgets a document (the relay deleted it), so it does not come back at the next start. */
  remove(group: string, doc: DocId): Promise<void>;
  /**
   * Forgets the transactions of `doc`'s `session` from number `keep` on (own writes the relay refused, which
   * the app discarded), leaving every other session as stored, in one step. Optional: without it the SDK
   * reads the document back and writes it again without them, and a save another client sharing the store
   * makes into that document in between may be lost.
   */
  cutSession?(group: string, doc: DocId, cut: SessionCut): Promise<void>;
  close(): Promise<void>;
  /**
   * Resolves once the work the store began on its own, after saves, has ended (FileLocalStore: writing a
   * file whole again): `client.close()` waits for it, so an app that exits right after leaves nothing half
   * done. Optional: a store without such work has nothing to wait for.
   */
  finished?(): Promise<void>;
  /**
   * Tells every client sharing this store (other tabs, processes or clients, live now) that `docs` of
   * `group` hold writes saved here that the relay has not confirmed, which a closing client leaves behind,
   * or that a client cut its session's unconfirmed writes there (it discarded refused ones): the others
   * read them again. Optional: a store without it leaves them to the next client that loads the group.
   */
  announceUnsent?(group: string, docs: DocId[]): Promise<void>;
  /** Calls `listener` with what `announceUnsent` told, from any client sharing this store; returns what stops it. */
  onUnsent?(listener: UnsentListener): () => void;
  /**
   * Calls `listener` when another live client sharing this store lets go a session of `agent` (`own` is
   * this client's), closed or crashed: a crashed one announced nothing, and what it saved unsent is read
   * again. Optional: a store without it leaves a crashed client's writes to the next client to start.
   */
  onSessionGone?(agent: AgentId, own: SessionId, listener: (session: SessionId) => void): () => void;
  /**
   * Calls `listener` once the store can no longer be used by this client, for good (IndexedDbLocalStore:
   * another connection upgraded or deleted its database, or the browser closed it), and at once (in a
   * microtask) if that happened already; returns what stops it. The client's groups then close with its
   * message, since nothing they write could be saved (and nothing is sent before it is saved). Optional: a
   * store without it has its failing saves reported and tried again, as a full disk's.
   */
  onLost?(listener: (error: Error) => void): () => void;
  /**
   * Keeps the role the relay last told `agent` it has in `group`, so that a client started offline refuses
   * at once what that role does not allow, as it does once the relay has told it. Optional (with
   * `loadRole`): without it, a restarted client refuses nothing for the role until the relay welcomes it.
   */
  saveRole?(group: string, agent: AgentId, role: Role): Promise<void>;
  /** The role `saveRole` kept for `agent` in `group`, if any. */
  loadRole?(group: string, agent: AgentId): Promise<Role | undefined>;
}

/** A role as a store gave it back: anything but a role (another version wrote it, or it is garbled) is none. */
export const storedRole = (value: unknown): Role | undefined => (value === "reader" || value === "writer" || value === "admin" ? value : undefined);

export type UnsentListener = (group: string, docs: DocId[]) => void;

/** An announcement as it travels between tabs or processes, checked on arrival (another version may have sent it). */
export function unsentOf(message: unknown): { group: string; docs: DocId[] } | undefined {
  const { group, docs } = (message ?? {}) as { group?: unknown; docs?: unknown };
  if (typeof group !== "string" || !Array.isArray(docs) || !docs.every((doc) => typeof doc === "string")) return undefined;
  return { group, docs: docs as DocId[] };
}

/**
 * Applies changes to a stored document: a newer snapshot first (cutting each session's log at its base),
 * what the relay holds (each session's count replaced by the one told), then the appends, ignoring
 * transactions it already holds (or that a snapshot replaced) and appends that are not whole. Saves of
 * several clients may come in any order and all survive. An append that contradicts what is held where they
 * overlap is not taken: a session's log here is its own client's (another client's copy may differ for a
 * while when that client discarded writes), never two mixed. An append that starts past the end of its
 * session's log (an earlier save was lost) is kept aside (StoredDoc.stranded) until the log reaches it.
 */
export function applyChanges(stored: StoredDoc, changes: StoredChanges): void {
  // A header that is not the document's own (changed on the disk after it was saved: the client leaves the
  // document out) gives way to a later one that is: a client that then got the document from the relay saved
  // its header again, and what it saved since is read back with it instead of skipped with the damaged one.
  const { header } = changes;
  if (header && header !== stored.header && !headerIsFor(stored.header, stored.id, stored.header.group) && headerIsFor(header, stored.id, header.group)) stored.header = header;
  if (isStoredSnapshot(changes.snapshot)) {
    applySnapshot(stored, changes.snapshot);
    for (const session of Object.keys(stored.stranded ?? {}) as SessionId[]) joinStranded(stored, session);
  }
  if (isKnownState(changes.relayHeld)) {
    // A new object: a store may have handed the one it held to a reader (MemoryLocalStore's loadGroup).
    stored.relayHeld = { header: changes.relayHeld.header, sessions: { ...stored.relayHeld?.sessions, ...changes.relayHeld.sessions } };
  }
  for (const cut of Array.isArray(changes.cuts) ? changes.cuts : []) {
    const log = isCut(cut) ? stored.sessions[cut.session] : undefined;
    if (log) log.length = Math.min(log.length, Math.max(0, cut.keep - baseOf(stored, cut.session)));
    // What was kept aside past the cut followed the writes cut: it goes with them.
    if (isCut(cut) && stored.stranded?.[cut.session]) strandedRuns(stored, cut.session, (runs) => runs.filter((run) => run.after < cut.keep).map((run) => ({ after: run.after, transactions: run.transactions.slice(0, cut.keep - run.after) })));
  }
  // Before the appends: one in the same save may reach the run, which must not join it.
  for (const drop of Array.isArray(changes.dropStranded) ? changes.dropStranded : []) {
    if (typeof drop?.session === "string" && typeof drop.after === "number") strandedRuns(stored, drop.session, (runs) => runs.filter((run) => run.after !== drop.after));
  }
  for (const append of changes.appends) {
    if (!isAppend(append)) continue; // a garbled record read back from disk costs only itself
    const log = (stored.sessions[append.session] ??= []);
    const held = baseOf(stored, append.session) + log.length;
    if (append.after > held) {
      // A gap: an earlier save of the session was lost (a damaged line). Never keep a log with holes.
      strand(stored, append);
      continue;
    }
    if (firstDifference({ from: baseOf(stored, append.session), transactions: log }, { from: append.after, transactions: append.transactions }) !== undefined) continue;
    // A loop, not push(...list): a long list would overflow the argument limit.
    for (const transaction of append.transactions.slice(held - append.after)) log.push(transaction);
    joinStranded(stored, append.session);
  }
}

/** Keeps an append past the end of its session's log aside: it extends the run it follows on from, or starts one. */
function strand(stored: StoredDoc, append: DocChanges["appends"][number]): void {
  strandedRuns(stored, append.session, (runs) => {
    const extended = runs.find((run) => run.after <= append.after && append.after <= run.after + run.transactions.length);
    if (!extended) return [...runs, { after: append.after, transactions: [...append.transactions] }].sort((a, b) => a.after - b.after);
    const end = extended.after + extended.transactions.length;
    if (firstDifference({ from: extended.after, transactions: extended.transactions }, { from: append.after, transactions: append.transactions }) === undefined) {
      for (const transaction of append.transactions.slice(end - append.after)) extended.transactions.push(transaction);
    }
    return runs;
  });
}

/**
 * Joins to a session's log the runs kept aside that it now reaches (a save filled the hole before them): each
 * goes on from where the log ends; one that contradicts the log where they overlap is dropped (the log is the
 * session's copy, as when two appends contradict).
 */
function joinStranded(stored: StoredDoc, session: SessionId): void {
  strandedRuns(stored, session, (runs) => {
    const log = (stored.sessions[session] ??= []);
    const base = baseOf(stored, session);
    while (runs.length > 0 && runs[0]!.after <= base + log.length) {
      const run = runs.shift()!;
      if (firstDifference({ from: base, transactions: log }, { from: run.after, transactions: run.transactions }) !== undefined) continue;
      for (const transaction of run.transactions.slice(Math.max(0, base + log.length - run.after))) log.push(transaction);
    }
    return runs;
  });
}

/** Replaces a session's runs kept aside by what `change` makes of them; none left, none kept. */
function strandedRuns(stored: StoredDoc, session: SessionId, change: (runs: StrandedRun[]) => StrandedRun[]): void {
  const runs = change(stored.stranded?.[session] ?? []);
  if (runs.length > 0) (stored.stranded ??= {})[session] = runs;
  else if (stored.stranded) {
    delete stored.stranded[session];
    if (Object.keys(stored.stranded).length === 0) delete stored.stranded;
  }
}

const baseOf = (stored: StoredDoc, session: SessionId): number => stored.snapshot?.bases[session] ?? 0;

/** A stored document as one save that makes it again. */
export function changesOf(stored: StoredDoc): DocChanges {
  const appends = Object.entries(stored.sessions).map(([session, transactions]) => ({ session: session as SessionId, after: baseOf(stored, session as SessionId), transactions }));
  // Runs kept aside go after the logs, and are kept aside again.
  for (const [session, runs] of Object.entries(stored.stranded ?? {})) for (const run of runs) appends.push({ session: session as SessionId, ...run });
  return { header: stored.header, ...(stored.snapshot ? { snapshot: stored.snapshot } : {}), appends, ...(stored.relayHeld ? { relayHeld: stored.relayHeld } : {}) };
}

/**
 * Cuts a session short in `store`: in one step where the store can (`cutSession`), else by reading the
 * document back and writing it again without the cut transactions (a store of the app's own).
 */
export async function cutStoredSession(store: LocalStore, group: string, doc: DocId, cut: SessionCut): Promise<void> {
  if (store.cutSession) return store.cutSession(group, doc, cut);
  const stored = (await store.loadGroup(group)).find((each) => each.id === doc);
  if (!stored) return;
  applyChanges(stored, { appends: [], cuts: [cut] });
  await store.remove(group, doc);
  await store.save(group, doc, changesOf(stored));
}

/** Takes a snapshot into a stored document if it is newer than the one held: each log is cut at its new base. */
function applySnapshot(stored: StoredDoc, next: StoredSnapshot): void {
  if (stored.snapshot && !coversMore(next.snapshot.covers, stored.snapshot.snapshot.covers)) return;
  const bases = { ...stored.snapshot?.bases };
  const baseHashes = { ...stored.snapshot?.baseHashes };
  for (const [session, base] of Object.entries(next.bases) as [SessionId, number][]) {
    const current = bases[session] ?? 0;
    if (base <= current) continue;
    const log = stored.sessions[session] ?? [];
    const cut = log.slice(0, base - current);
    stored.sessions[session] = log.slice(Math.min(log.length, base - current));
    bases[session] = base;
    // The chain hash at the new base, where the transactions cut hold it: a snapshot taken by another agent
    // names no hash for sessions not its own, and the session's writer goes on from exactly there.
    const from = current === 0 ? GENESIS_HASH : baseHashes[session];
    const hash = from !== undefined && cut.length === base - current ? hashAfter(from, cut) : undefined;
    if (hash) baseHashes[session] = hash;
    else delete baseHashes[session];
  }
  Object.assign(baseHashes, next.baseHashes);
  stored.snapshot = { snapshot: next.snapshot, bases, baseHashes };
}

/** The chain hash after `transactions`, or undefined where what was stored does not make one (it is checked when pushed). */
function hashAfter(previous: string, transactions: readonly Transaction[]): string | undefined {
  try {
    return chainHash(previous, transactions);
  } catch {
    return undefined;
  }
}

function isStoredSnapshot(value: unknown): value is StoredSnapshot {
  const entry = value as Partial<StoredSnapshot> | null | undefined;
  return typeof entry === "object" && entry !== null && typeof entry.snapshot === "object" && entry.snapshot !== null && typeof entry.bases === "object" && entry.bases !== null && typeof entry.baseHashes === "object" && entry.baseHashes !== null;
}

/** Whether changes carry a write (a header, a snapshot, transactions), not only what the relay holds. */
export const carriesWrites = (changes: DocChanges): boolean => changes.header !== undefined || changes.snapshot !== undefined || changes.appends.length > 0;

/** What the relay holds as a store gave it back: a header flag and counts, or (another version, garbled) none. */
export function isKnownState(value: unknown): value is KnownState {
  const known = value as Partial<KnownState> | null | undefined;
  if (typeof known !== "object" || known === null || typeof known.header !== "boolean") return false;
  const { sessions } = known;
  return typeof sessions === "object" && sessions !== null && Object.values(sessions).every((count) => Number.isInteger(count) && count >= 0);
}

function isCut(value: unknown): value is SessionCut {
  const cut = value as Partial<SessionCut> | null;
  return typeof cut === "object" && cut !== null && typeof cut.session === "string" && Number.isInteger(cut.keep);
}

function isAppend(value: unknown): value is DocChanges["appends"][number] {
  const append = value as Partial<DocChanges["appends"][number]> | null;
  return typeof append === "object" && append !== null && typeof append.session === "string" && Number.isInteger(append.after) && Array.isArray(append.transactions);
}
