// A document as the app sees it: a view of the core's state of it (core/doc-state.ts), its change
// listeners, and the calls that become core events. It holds no sync state of its own.
import { notifyAll } from "./listeners.ts";
import { MEMBERS_KIND, agentOfSession, transactionSizeProblem, type DocHeader, type DocId, type KnownState, type Role, type SessionCounts, type SessionId, type Snapshot, type Transaction, type TransactionData } from "../protocol/index.ts";
import { verifiesChains } from "./chain-checks.ts";
import {
  baseOf,
  docTransaction,
  hasUnsynced,
  heldCount,
  isInFlight,
  knownOf,
  nextAt,
  ownLog,
  type DocState,
  type DocTransaction,
  type Snapshotted,
} from "./core/doc-state.ts";
import { HandedOut } from "./core/handed-out.ts";
import { heldBack } from "./core/held-back.ts";
import { orderedView, type OrderedView } from "./core/ordered-view.ts";
import { coversOf, snapshotKey, snapshotProblem } from "./core/snapshots.ts";
import type { CoreEvent, WaiterKey } from "./core/effects.ts";
import { LocalRefusalError, abortReason, type ClosedError, type RelayError } from "./errors.ts";
import { checkData, checkListener, checkMayWrite, checkMemberOp, checkSessionRoom, checkSignalOptions, checkSnapshotData, checkTransactionData } from "./local-checks.ts";
import { detachedPresence, type DocPresence } from "./presence.ts";

export type { DocTransaction, Snapshotted } from "./core/doc-state.ts";
export { MAX_IN_FLIGHT, PUSH_BATCH } from "./core/push.ts";

export type DocChange = {
  /** Transactions that arrived or were appended since the last call, in arrival order. */
  added: DocTransaction[];
  /**
   * Transactions the document no longer holds: refused writes the app discarded (`group.discardRefused`),
   * which the view showed until then. An app that applies changes one by one takes them out again, or
   * rebuilds its state from `transactions`.
   */
  removed?: DocTransaction[];
  /** The full ordered view after this change (computed on first read). */
  readonly transactions: readonly DocTransaction[];
  doc: Doc;
  /**
   * A snapshot received: the document now starts from it (`doc.heldSnapshot`), and transactions it covers
   * are no longer held. Apply its data (idempotently: it may cover what the app already has) before `added`.
   */
  snapshot?: Snapshot;
  /** The relay stored a snapshot of the document (this client's or another writer's): by whom, covering what. */
  snapshotted?: Snapshotted;
};

/**
 * Own writes the relay refused, held back from the push path until the app discards (or retries) them.
 * What another tab of this agent gets stored meanwhile no longer counts among them: writes the relay then
 * holds, and the document itself once the relay holds its header.
 */
export type RefusedWrites = {
  doc: Doc;
  error: RelayError | LocalRefusalError;
  /** The own transactions held back: the refused ones and any appended after them (a session is a chain). */
  transactions: DocTransaction[];
  /** The document itself was refused (its header): discarding drops the whole document. */
  wholeDocument: boolean;
};

/** What a document needs of its group: the session it writes as, the core, and waiting for a settlement. */
export interface DocHost {
  readonly session: SessionId;
  /** This agent's role in the group, as of the last handshake. */
  readonly role?: Role | undefined;
  /** The document's presence (presence.ts), kept by the group beside the core; none outside a group. */
  presenceOf?(id: DocId): DocPresence;
  /** Why the group closed for good, if it did. */
  readonly closedError: ClosedError | undefined;
  /** The core's state of document `id` now (undefined once the group stopped holding it). */
  stateOf(id: DocId): DocState | undefined;
  dispatch(event: CoreEvent): void;
  wait(key: WaiterKey, signal?: AbortSignal): Promise<void>;
  /** Lets the bindings that gather a tick's edits append them now (Group.onFlush). */
  flushEdits?(): void;
  /** Settles once the store knows what the relay was last heard to hold of `id` (PushPump.relayHeldSaved), when it is being saved. */
  relayHeldSaved?(id: DocId): Promise<void> | undefined;
  /** The time to stamp a write with: the relay's clock as last heard (Connection.relayNow). */
  now?(): number;
}

/** The log of a session this document holds nothing of. */
const NO_TRANSACTIONS: readonly Transaction[] = Object.freeze([]);

export class Doc {
  /** What error messages call it (describe, protocol/messages.ts): a bundler's minifier renames the class, not this. */
  get [Symbol.toStringTag](): string {
    return "Doc";
  }

  readonly id: DocId;
  readonly #state: DocState;
  readonly #host: DocHost;
  readonly #listeners = new Set<(change: DocChange) => void>();
  /** The ordered view, kept while the state's version is unchanged, and extended from when it changes. */
  #ordered: OrderedView | undefined;
  /** What this document hands the app: frozen, its bytes the app's own copies. */
  readonly #handedOut = new HandedOut();
  /** What bindings say their state holds of what a snapshot would cover (limitSnapshots). */
  readonly #snapshotLimits = new Set<(last: DocTransaction) => number>();

  /** Who else is here, and what this client shows them (presence.ts): ephemeral, never stored. */
  readonly presence: DocPresence;

  constructor(state: DocState, host: DocHost) {
    this.id = state.id;
    this.#state = state;
    this.#host = host;
    this.presence = host.presenceOf?.(state.id) ?? detachedPresence(state.id, host.session);
  }

  get header(): DocHeader | undefined {
    return this.#state.header && this.#handedOut.header(this.#state.header);
  }

  /** What this client holds: per session, how many transactions. */
  get known(): KnownState {
    return knownOf(this.#state);
  }

  /** What the relay has confirmed holding. */
  get relayKnown(): KnownState {
    return this.#handedOut.known(this.#state.relay);
  }

  /** Own content (or the header) was pushed on the current socket and not acknowledged yet. */
  get inFlight(): boolean {
    return isInFlight(this.#state, this.#host.session);
  }

  /** Received chains of this document are verified before they count (see verifiesChains). */
  get verifiesChains(): boolean {
    return verifiesChains(this.#state.header);
  }

  /** True while some local transactions (or the header) are not yet acknowledged by the relay. */
  get hasUnsynced(): boolean {
    return hasUnsynced(this.#state, this.#host.session);
  }

  get isLoaded(): boolean {
    return this.#state.loaded;
  }

  /** True once the relay reported this document deleted; appends are refused from then on. */
  get deleted(): boolean {
    return this.#state.deleted;
  }

  /** True while refused writes are held back (see refusedWrites()). */
  get refused(): boolean {
    return this.#state.refusal !== undefined || this.#state.orphanRefusal !== undefined;
  }

  /**
   * Appends a transaction to this client's session: text, or bytes (a Uint8Array, copied here; readers get
   * a Uint8Array back). It is sent (signed, batched) as soon as possible. Throws a LocalRefusalError for
   * what the relay would refuse, and the group's ClosedError once it is closed for good.
   */
  append(data: TransactionData): DocTransaction {
    const state = this.#state;
    // Nothing would save or send it: the app hears so now, not in a write it believes made.
    if (this.#host.closedError) throw this.#host.closedError.again();
    if (!state.header) throw new Error(`append: document ${this.id} is not loaded yet`);
    if (state.deleted) throw new LocalRefusalError("doc_deleted", `append: document ${this.id} was deleted`);
    const gone = this.#goneError("append");
    if (gone) throw gone;
    const now = this.#host.now?.() ?? Date.now();
    // Refused here, not by the relay, whatever plain JavaScript passes in: nothing bad enters the session.
    checkData(data, "append");
    const tooLarge = transactionSizeProblem(data);
    if (tooLarge) throw new LocalRefusalError("transaction_too_large", `append: ${tooLarge}`);
    // Bytes are copied: what the app changes in its array afterwards is not what was hashed and stored.
    if (data instanceof Uint8Array) data = new Uint8Array(data);
    checkTransactionData(this.id, this.#host.session, nextAt(state, now), data);
    // In the relay's order: the frame is decoded first, then the role checked.
    checkMayWrite(this.#host.role, agentOfSession(this.#host.session), state.header, "append");
    if (heldCount(state, this.#host.session) === 0 && !(this.#host.session in state.relay.sessions)) checkSessionRoom(state.relay.sessions, this.#host.session, "append");
    if (state.header.kind === MEMBERS_KIND) checkMemberOp(data);
    this.#host.dispatch({ type: "append", doc: this.id, data, now });
    const own = ownLog(state, this.#host.session);
    return this.#handedOut.transaction(docTransaction(own[own.length - 1]!, this.#host.session, heldCount(state, this.#host.session) - 1));
  }

  /**
   * Publishes a snapshot: `data` is the document's whole state as the app holds it now (for Yjs, the
   * merged update), text or bytes. It covers what the relay has confirmed of what this client holds (of
   * its own writes: what the relay acknowledged), and of that no more than a bound binding's state holds
   * (limitSnapshots), so the state includes everything it covers. Loaders then
   * start from it instead of replaying those transactions, and the relay may prune them.
   *
   * Throws a LocalRefusalError, before anything is sent, for what the relay would refuse: data that is not
   * a string or a Uint8Array (bad_frame), over MAX_SNAPSHOT_BYTES (snapshot_too_large), the membership log
   * or a snapshot that would cover nothing newer (snapshot_refused), an agent that is neither the
   * document's creator nor an admin, or may not write it (forbidden), a deleted document (doc_deleted).
   * Resolves when the relay stored it (`snapshotted`), or stores one covering at least as much (another
   * device's or an admin's, perhaps stored while the answer to this one was lost: `lastSnapshotted` says
   * whose); rejects with the relay's RelayError if it refuses it, or a ClosedError once the group is
   * closed for good. Offline, it is sent on reconnect. `signal` bounds the wait: aborted after the call,
   * the snapshot still goes; already aborted at the call, it rejects with the signal's reason and nothing
   * is sent. Text that fits MAX_SNAPSHOT_BYTES but not a frame once JSON escapes it throws frame_too_large.
   */
  snapshot(data: TransactionData, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkSignalOptions(options, "snapshot");
    // Closed says more than any refusal of the snapshot itself: nothing would send it.
    if (this.#host.closedError) return Promise.reject(this.#host.closedError);
    const state = this.#state;
    if (!state.header) throw new Error(`snapshot: document ${this.id} is not loaded yet`);
    const gone = this.#goneError("snapshot");
    if (gone) throw gone;
    const covers = this.#limitedCovers(coversOf(state));
    checkSnapshotData(this.id, this.#host.session, data, covers, state.lastAt);
    if (data instanceof Uint8Array) data = new Uint8Array(data);
    const problem = snapshotProblem(state, this.#host.role, agentOfSession(this.#host.session), covers);
    if (problem) throw new LocalRefusalError(problem[0], problem[1]);
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
    const settled = this.#host.wait(snapshotKey(this.id, covers), options.signal);
    this.#host.dispatch({ type: "snapshot", doc: this.id, data, covers });
    return settled;
  }

  /**
   * For a binding whose state takes some transactions in only once later ones arrive (`weft/yjs` applies
   * a change split into parts once its last part is in: docs/bindings.md). `holds` is given, for each
   * session a snapshot published now would cover, the last transaction it would cover, and returns how
   * many of the session's transactions the binding's state holds (at most that one's index + 1). Every
   * `snapshot()` of the document, whoever calls it, then covers no more, so a loader that starts from it
   * still gets what the state lacked. `holds` may throw (a LocalRefusalError, for a state that must not be
   * published): `snapshot()` throws it. Returns a function that removes it.
   */
  limitSnapshots(holds: (last: DocTransaction) => number): () => void {
    checkListener(holds, "limitSnapshots");
    this.#snapshotLimits.add(holds);
    return () => this.#snapshotLimits.delete(holds);
  }

  #limitedCovers(covers: SessionCounts): SessionCounts {
    if (this.#snapshotLimits.size === 0) return covers;
    const limited: SessionCounts = {};
    for (const [session, count] of Object.entries(covers) as [SessionId, number][]) {
      // Held here unless the held snapshot covers it (it then covers as much already).
      const last = this.#state.sessions.get(session)?.[count - 1 - baseOf(this.#state, session)];
      let held = count;
      for (const holds of last ? this.#snapshotLimits : []) held = Math.min(held, holds(this.#handedOut.transaction(docTransaction(last!, session, count - 1))));
      if (held > 0) limited[session] = held;
    }
    return limited;
  }

  /**
   * The snapshot the document starts from here, if it has one: `transactions()` lists what is held after
   * it (per session, from the count it covers on). The document's state is its data plus those.
   */
  get heldSnapshot(): Snapshot | undefined {
    return this.#state.snapshot && this.#handedOut.snapshot(this.#state.snapshot);
  }

  /** The newest snapshot the relay is known to have stored (heard of, received or published here). */
  get lastSnapshotted(): Snapshotted | undefined {
    return this.#state.snapshotted && this.#handedOut.snapshotted(this.#state.snapshotted);
  }

  /** Every transaction held (after the held snapshot, if any), ordered by time, then session, then index: the same order on every replica. */
  transactions(): readonly DocTransaction[] {
    this.#ordered = orderedView(this.#state, this.#ordered, this.#handedOut.transaction);
    return this.#ordered.transactions;
  }

  /** The transactions of one session held, in order (from what the held snapshot covers of it on). */
  sessionTransactions(session: SessionId): readonly Transaction[] {
    return this.#handedOut.log(session, this.#state.sessions.get(session) ?? NO_TRANSACTIONS, this.#state.rewrites);
  }

  /** Calls `listener` with every change; returns a function that stops it. */
  subscribe(listener: (change: DocChange) => void): () => void {
    checkListener(listener, "subscribe");
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves when the relay has acknowledged everything appended so far. Rejects with the RelayError if
   * the relay refused some of it (see refusedWrites()), with a LocalRefusalError (unknown_doc) once the
   * group no longer holds the document (its refused creation was discarded), with a ClosedError once the
   * group is closed for good, or with the signal's reason.
   */
  synced(options: { signal?: AbortSignal } = {}): Promise<void> {
    checkSignalOptions(options, "synced");
    // An aborted signal rejects whatever is pending, as it does for every call that takes one.
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
    this.#host.flushEdits?.();
    const gone = this.#goneError("synced");
    if (gone) return Promise.reject(gone);
    // Once closed, no retry can send refused writes either.
    if (this.#state.refusal) return Promise.reject(this.#host.closedError ?? this.#state.refusal.error);
    // Own writes that cannot go up: the relay, or this device's store, is behind the snapshot they follow.
    const cannotSend = this.#state.behindSnapshot ?? this.#state.storeBehind;
    if (cannotSend && this.hasUnsynced) return Promise.reject(this.#host.closedError ?? cannotSend);
    if (!this.hasUnsynced) return this.#host.relayHeldSaved?.(this.id) ?? Promise.resolve();
    if (this.#host.closedError) return Promise.reject(this.#host.closedError);
    return this.#host.wait(`synced:${this.id}`, options.signal);
  }

  /** Resolves once the relay has answered this document's load (it may not exist there yet). */
  loaded(options: { signal?: AbortSignal } = {}): Promise<void> {
    checkSignalOptions(options, "loaded");
    if (this.#state.loaded) return Promise.resolve();
    if (this.#host.closedError) return Promise.reject(this.#host.closedError);
    const gone = this.#goneError("loaded");
    if (gone) return Promise.reject(gone);
    return this.#host.wait(`loaded:${this.id}`, options.signal);
  }

  /**
   * Why `what` is refused once the group no longer holds this document (its creation was refused and
   * discarded), as the relay, which never stored it, would refuse it: nothing would settle a wait for it.
   * None while the group is closed: its ClosedError says more.
   */
  #goneError(what: string): LocalRefusalError | undefined {
    if (this.#host.closedError || this.#host.stateOf(this.id) === this.#state) return undefined;
    return new LocalRefusalError("unknown_doc", `${what}: document ${this.id} is no longer held by its group: its creation was refused, and discarded`);
  }

  /** The refused writes the relay or this SDK just held back, as onRefused tells them. */
  refusedOf(refused: Omit<RefusedWrites, "doc">): RefusedWrites {
    return { doc: this, error: refused.error, transactions: this.#handedOut.all(refused.transactions), wholeDocument: refused.wholeDocument };
  }

  /**
   * Writes the relay refused and that are held back, if any: own ones, and what this client holds of its
   * agent's other sessions that the relay lacks (writes a closed tab or process left unsent).
   */
  refusedWrites(): RefusedWrites | undefined {
    const held = heldBack(this.#state, { agent: agentOfSession(this.#host.session), session: this.#host.session });
    return held && this.refusedOf(held);
  }

  // Verifying what arrives (see verifiesChains).

  /**
   * Checks the newest checkpoint signature received for each session against the chain held, so the
   * transactions it covers may count and be saved. Returns the sessions whose checkpoint failed.
   */
  verifyReceived(): Promise<SessionId[]> {
    return this.#state.chains.verify(this.id, (session) => this.#state.sessions.get(session) ?? [], this.#host.session);
  }

  /** The ordered view restricted to what is verified: own transactions, and others' up to a verified checkpoint. */
  verifiedTransactions(): DocTransaction[] {
    const own = this.#host.session;
    return this.transactions().filter((transaction) => transaction.session === own || transaction.index < this.#state.chains.verifiedCount(transaction.session));
  }

  /** The group's side: tells listeners of a change the core made. */
  emitChange({ added, removed, snapshot, snapshotted }: Pick<DocChange, "added" | "removed" | "snapshot" | "snapshotted">): void {
    if (this.#listeners.size === 0) return;
    const doc = this;
    const change: DocChange = {
      added: this.#handedOut.all(added),
      doc,
      get transactions() {
        return doc.transactions();
      },
      ...(removed ? { removed: this.#handedOut.all(removed) } : {}),
      ...(snapshot ? { snapshot: this.#handedOut.snapshot(snapshot) } : {}),
      ...(snapshotted ? { snapshotted: this.#handedOut.snapshotted(snapshotted) } : {}),
    };
    notifyAll(this.#listeners, change);
  }
}
