// A document as one client holds it: every session's transactions, this client's own signed session,
// and what the relay has confirmed. It decides what to push; the group carries the frames.
import {
  CHUNK_TARGET_BYTES,
  GENESIS_HASH,
  MAX_TRANSACTION_BYTES,
  MAX_TRANSACTIONS_PER_FRAME,
  MEMBERS_KIND,
  WIRE_BYTES_PER_TRANSACTION,
  wireDataBytes,
  chainHash,
  countOf,
  mergeKnownStates,
  signCheckpoint,
  type Content,
  type DocHeader,
  type DocId,
  type KnownState,
  type ServerContent,
  type SessionId,
  type Transaction,
  type TransactionData,
} from "../protocol/index.ts";
import { ChainChecks, verifiesChains } from "./chain-checks.ts";
import { ClosedError, LocalRefusalError, RelayError } from "./errors.ts";
import type { Identity } from "./identity.ts";
import { checkMemberOp, checkTransactionData, localDataBytes, storedTransactionProblem } from "./local-checks.ts";
import type { DocChanges, StoredDoc } from "./storage/local-store.ts";
import { Waiters } from "./waiters.ts";

/** Transactions per pushed frame (also bounded by CHUNK_TARGET_BYTES): fewer, fuller frames ingest fastest. */
export const PUSH_BATCH = MAX_TRANSACTIONS_PER_FRAME;
/** Unacknowledged transactions allowed in flight before pushing waits for acks. */
export const MAX_IN_FLIGHT = 4 * PUSH_BATCH;

export type DocTransaction = Transaction & { session: SessionId; index: number };

export type DocChange = {
  /** Transactions that arrived or were appended since the last call, in arrival order. */
  added: DocTransaction[];
  /** The full ordered view after this change (computed on first read). */
  readonly transactions: readonly DocTransaction[];
  doc: Doc;
};

type SessionLog = { transactions: Transaction[] };

/** Own writes the relay refused, held back from the push path until the app discards (or retries) them. */
export type RefusedWrites = {
  doc: Doc;
  error: RelayError | LocalRefusalError;
  /** The own transactions held back: the refused ones and any appended after them (a session is a chain). */
  transactions: DocTransaction[];
  /** The document itself was refused (its header): discarding drops the whole document. */
  wholeDocument: boolean;
};


export class Doc {
  readonly id: DocId;
  readonly #identity: Identity;
  readonly #session: SessionId;
  readonly #onLocalChange: (doc: Doc) => void;
  #header: DocHeader | undefined;
  readonly #sessions = new Map<SessionId, SessionLog>();
  /** Chain hash after each of this client's own transactions. */
  readonly #ownHashes: string[] = [];
  /** The newest `at` seen in any session: new transactions never go back in time (the membership log relies on it). */
  #lastAt = 0;
  #deleted = false;
  /** What the relay has confirmed holding. */
  #relay: KnownState = { header: false, sessions: {} };
  /** How many own transactions were sent (optimistic: dropped back to the relay's count on reconnect). */
  #sent = 0;
  /** A header-only frame is on its way; do not send another until the relay answers. */
  #headerInFlight = false;
  #loaded = false;
  /** How much of each session, and whether the header, is saved in the local store. */
  readonly #saved = new Map<SessionId, number>();
  #headerSaved = false;
  /** The ordered view, kept until the next change. */
  #ordered: DocTransaction[] | undefined;
  readonly #listeners = new Set<(change: DocChange) => void>();
  readonly #syncedWaiters = new Waiters<void>();
  readonly #loadedWaiters = new Waiters<void>();
  /**
   * The relay refused own writes from index `from` on (a reader writing, a bad signature, ...): they and
   * everything appended after them stay local, listed by refusedWrites(), until discarded or retried.
   */
  #refusal: { error: RelayError | LocalRefusalError; from: number; wholeDocument: boolean } | undefined;
  /** The group closed for good: waiting for the relay would wait forever. */
  #closed: ClosedError | undefined;
  /** How much of each received session is verified (chain-checks.ts; the membership log only, for now). */
  readonly #chains = new ChainChecks();

  constructor(id: DocId, header: DocHeader | undefined, identity: Identity, session: SessionId, onLocalChange: (doc: Doc) => void) {
    this.id = id;
    this.#header = header;
    this.#identity = identity;
    this.#session = session;
    this.#onLocalChange = onLocalChange;
  }

  get header(): DocHeader | undefined {
    return this.#header;
  }

  /** What this client holds: per session, how many transactions. */
  get known(): KnownState {
    const sessions: KnownState["sessions"] = {};
    for (const [session, log] of this.#sessions) sessions[session] = log.transactions.length;
    return { header: this.#header !== undefined, sessions };
  }

  /** What the relay has confirmed holding. */
  get relayKnown(): KnownState {
    return this.#relay;
  }

  /** Own content (or the header) was pushed on the current socket and not acknowledged yet. */
  get inFlight(): boolean {
    return this.#headerInFlight || this.#sent > countOf(this.#relay, this.#session);
  }

  /** Received chains of this document are verified before they count (see verifiesChains). */
  get verifiesChains(): boolean {
    return verifiesChains(this.#header);
  }

  /** True while some local transactions (or the header) are not yet acknowledged by the relay. */
  get hasUnsynced(): boolean {
    if (this.#deleted) return false;
    return this.#ownCount() > countOf(this.#relay, this.#session) || (this.#header !== undefined && !this.#relay.header);
  }

  /**
   * Appends a transaction to this client's session: text, or bytes (a Uint8Array, copied here; readers get
   * a Uint8Array back). It is sent (signed, batched) as soon as possible.
   */
  append(data: TransactionData): DocTransaction {
    if (!this.#header) throw new Error(`append: document ${this.id} is not loaded yet`);
    if (this.#deleted) throw new Error(`append: document ${this.id} was deleted`);
    // `at` never goes back behind anything seen, so ordering by `at` keeps each session's order. In the
    // membership log it moves strictly forward: the relay refuses an op that would sort before the newest.
    const at = Math.max(Date.now(), this.#header.kind === MEMBERS_KIND ? this.#lastAt + 1 : this.#lastAt);
    // Refused here, not by the relay, whatever plain JavaScript passes in: nothing bad enters the session.
    const size = localDataBytes(data);
    if (size > MAX_TRANSACTION_BYTES) throw new LocalRefusalError("transaction_too_large", `append: ${size} bytes of data; at most ${MAX_TRANSACTION_BYTES}`);
    // Bytes are copied: what the app changes in its array afterwards is not what was hashed and stored.
    if (data instanceof Uint8Array) data = new Uint8Array(data);
    checkTransactionData(this.id, this.#session, at, data);
    if (this.#header.kind === MEMBERS_KIND) checkMemberOp(data);
    const log = this.#log(this.#session);
    this.#lastAt = at;
    const transaction = { at, data };
    log.transactions.push(transaction);
    const previous = this.#ownHashes[this.#ownHashes.length - 1] ?? GENESIS_HASH;
    this.#ownHashes.push(chainHash(previous, [transaction]));
    const added = { ...transaction, session: this.#session, index: log.transactions.length - 1 };
    this.#emit([added]);
    this.#onLocalChange(this);
    return added;
  }

  /** Every transaction, ordered by time, then session, then index: the same order on every replica. */
  transactions(): readonly DocTransaction[] {
    if (this.#ordered) return this.#ordered;
    const all: DocTransaction[] = [];
    for (const [session, log] of this.#sessions) {
      log.transactions.forEach((transaction, index) => all.push({ ...transaction, session, index }));
    }
    this.#ordered = all.sort((a, b) => a.at - b.at || (a.session < b.session ? -1 : a.session > b.session ? 1 : a.index - b.index));
    return this.#ordered;
  }

  /** The transactions of one session, in order. */
  sessionTransactions(session: SessionId): readonly Transaction[] {
    return this.#sessions.get(session)?.transactions ?? [];
  }

  /** Calls `listener` with every change; returns a function that stops it. */
  subscribe(listener: (change: DocChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves when the relay has acknowledged everything appended so far. Rejects with the RelayError if
   * the relay refused some of it (see refusedWrites()), with a ClosedError once the group is closed for
   * good, or with the signal's reason.
   */
  synced(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#refusal) return Promise.reject(this.#refusal.error);
    if (!this.hasUnsynced) return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#closed);
    return this.#syncedWaiters.wait(options.signal);
  }

  /** Resolves once the relay has answered this document's load (it may not exist there yet). */
  loaded(signal?: AbortSignal): Promise<void> {
    if (this.#loaded) return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#closed);
    return this.#loadedWaiters.wait(signal);
  }

  /** Own writes the relay refused and that are held back, if any. */
  refusedWrites(): RefusedWrites | undefined {
    const refusal = this.#refusal;
    if (!refusal) return undefined;
    const own = this.#sessions.get(this.#session)?.transactions ?? [];
    const transactions = own.slice(refusal.from).map((transaction, offset) => ({ ...transaction, session: this.#session, index: refusal.from + offset }));
    return { doc: this, error: refusal.error, transactions, wholeDocument: refusal.wholeDocument };
  }

  // The methods below are the group's side of the document: local storage and sync traffic.

  /** Loads what the local store holds; the relay is asked only for what is missing. */
  restore(stored: StoredDoc): void {
    this.#header ??= stored.header;
    this.#headerSaved = true;
    this.#ordered = undefined;
    for (const [session, transactions] of Object.entries(stored.sessions) as [SessionId, Transaction[]][]) {
      const log = this.#log(session);
      if (log.transactions.length > 0) continue;
      for (const transaction of transactions) log.transactions.push(transaction);
      for (const transaction of transactions) if (transaction.at > this.#lastAt) this.#lastAt = transaction.at;
      this.#saved.set(session, transactions.length);
      // Only verified transactions of a verified chain are ever saved (unsaved() holds the rest back).
      this.#chains.trust(session, transactions.length);
    }
    const own = this.#sessions.get(this.#session)?.transactions ?? [];
    // What an older SDK let into the store and the relay would refuse is held back from the start.
    const bad = own.findIndex((transaction) => storedTransactionProblem(transaction) !== undefined);
    if (bad >= 0 && !this.#refusal) {
      const [code, reason] = storedTransactionProblem(own[bad]!)!;
      this.#refusal = { error: new LocalRefusalError(code, `own transaction ${bad} in the local store: ${reason}`), from: bad, wholeDocument: false };
    }
    const valid = bad >= 0 ? bad : own.length;
    for (const transaction of own.slice(this.#ownHashes.length, valid)) {
      this.#ownHashes.push(chainHash(this.#ownHashes[this.#ownHashes.length - 1] ?? GENESIS_HASH, [transaction]));
    }
  }

  /** What the local store lacks, or undefined when it is up to date. */
  unsaved(): DocChanges | undefined {
    if (!this.#header) return undefined;
    const changes: DocChanges = { appends: [] };
    if (!this.#headerSaved) changes.header = this.#header;
    const verifies = verifiesChains(this.#header);
    for (const [session, log] of this.#sessions) {
      const saved = this.#saved.get(session) ?? 0;
      const savable = verifies && session !== this.#session ? Math.min(log.transactions.length, this.#chains.verifiedCount(session)) : log.transactions.length;
      if (savable > saved) changes.appends.push({ session, after: saved, transactions: log.transactions.slice(saved, savable) });
    }
    return changes.header || changes.appends.length > 0 ? changes : undefined;
  }

  markSaved(changes: DocChanges): void {
    if (changes.header) this.#headerSaved = true;
    for (const append of changes.appends) this.#saved.set(append.session, append.after + append.transactions.length);
  }

  /** The connection dropped: forget what was in flight, keep what the relay confirmed. */
  resetInFlight(): void {
    this.#sent = countOf(this.#relay, this.#session);
    this.#headerInFlight = false;
  }

  /** The relay refused own writes in flight: hold them (and what follows them) back; tell waiters once. */
  onRefused(error: RelayError): void {
    if (this.#refusal || this.#deleted) return;
    const wholeDocument = !this.#relay.header;
    this.#refusal = { error, from: countOf(this.#relay, this.#session), wholeDocument };
    this.#sent = this.#refusal.from;
    this.#headerInFlight = false;
    this.#syncedWaiters.rejectAll(error);
  }

  /** True while refused writes are held back: nothing of this document is pushed. */
  get refused(): boolean {
    return this.#refusal !== undefined;
  }

  /**
   * Forgets the refused own writes (and those after them): the session goes on from what the relay
   * holds. Returns the document's full content for the group to rewrite the local store with.
   */
  discardRefused(): StoredDoc | undefined {
    const refusal = this.#refusal;
    if (!refusal) return undefined;
    this.#refusal = undefined;
    const own = this.#log(this.#session);
    own.transactions.length = Math.min(own.transactions.length, refusal.from);
    this.#ownHashes.length = Math.min(this.#ownHashes.length, refusal.from);
    this.#saved.set(this.#session, Math.min(this.#saved.get(this.#session) ?? 0, refusal.from));
    this.#ordered = undefined;
    this.#emit([]);
    if (!this.#header) return undefined;
    const sessions: StoredDoc["sessions"] = {};
    for (const [session, log] of this.#sessions) if (log.transactions.length > 0) sessions[session] = log.transactions;
    return { id: this.id, header: this.#header, sessions };
  }

  /** Pushes refused writes again (after a role change, say): the relay judges them anew. */
  retryRefused(): void {
    if (!this.#refusal) return;
    this.#refusal = undefined;
    this.#onLocalChange(this);
  }

  /** The group closed for good: every waiter hears it, and later waits fail at once. */
  close(error: ClosedError): void {
    this.#closed = error;
    this.#loadedWaiters.rejectAll(error);
    if (this.hasUnsynced) this.#syncedWaiters.rejectAll(error);
  }

  /** The relay answered the load without a document (or refused it): waiters of open() hear `error`. */
  onLoadRefused(error: Error): void {
    this.#loadedWaiters.rejectAll(error);
  }

  /** The relay answered a load, acked a write, or corrected our `after`. */
  onKnown(relay: KnownState, reason: "load" | "ack" | "correction"): void {
    this.#relay = mergeKnownStates(this.#relay, relay);
    if (reason !== "ack") this.#sent = countOf(this.#relay, this.#session);
    if (reason !== "ack" || this.#relay.header) this.#headerInFlight = false;
    if (reason === "load" && !this.#loaded) {
      this.#loaded = true;
      this.#loadedWaiters.resolveAll();
    }
    if (!this.hasUnsynced) this.#syncedWaiters.resolveAll();
  }

  /**
   * Applies transactions from the relay; returns false when they do not follow what we hold
   * (a gap), in which case the group reloads the document.
   */
  onContent(content: ServerContent): boolean {
    if (content.header && !this.#header) this.#header = content.header;
    const added: DocTransaction[] = [];
    let gap = false;
    for (const [session, chunk] of Object.entries(content.sessions) as [SessionId, ServerContent["sessions"][SessionId]][]) {
      if (session === this.#session) continue; // our own log is authoritative here
      const log = this.#log(session);
      const held = log.transactions.length;
      if (chunk.after > held) {
        gap = true;
        continue;
      }
      chunk.transactions.slice(held - chunk.after).forEach((transaction) => {
        log.transactions.push(transaction);
        if (transaction.at > this.#lastAt) this.#lastAt = transaction.at;
        added.push({ ...transaction, session, index: log.transactions.length - 1 });
      });
      this.#relay.sessions[session] = Math.max(countOf(this.#relay, session), chunk.after + chunk.transactions.length);
      const count = chunk.after + chunk.transactions.length;
      if (chunk.signature) this.#chains.heard(session, count, chunk.signature);
    }
    if (content.header) this.#relay.header = true;
    if (added.length > 0 || content.header) this.#emit(added);
    return !gap;
  }

  get isLoaded(): boolean {
    return this.#loaded;
  }

  /** True once the relay reported this document deleted; appends are refused from then on. */
  get deleted(): boolean {
    return this.#deleted;
  }

  onDeleted(): void {
    this.#deleted = true;
    this.#loaded = true;
    this.#refusal = undefined;
    this.#loadedWaiters.resolveAll();
    this.#syncedWaiters.resolveAll();
    this.#emit([]);
  }

  // Verifying what arrives (see verifiesChains).

  /**
   * Checks the newest checkpoint signature received for each session against the chain held, so the
   * transactions it covers may count and be saved. Returns the sessions whose checkpoint failed.
   */
  verifyReceived(): Promise<SessionId[]> {
    return this.#chains.verify(this.id, (session) => this.#sessions.get(session)?.transactions ?? [], this.#session);
  }

  /** The ordered view restricted to what is verified: own transactions, and others' up to a verified checkpoint. */
  verifiedTransactions(): DocTransaction[] {
    return this.transactions().filter((transaction) => transaction.session === this.#session || transaction.index < this.#chains.verifiedCount(transaction.session));
  }

  /** Frames to push now: own transactions the relay lacks, batched, signed, bounded in flight. */
  takePush(): Content[] {
    if (!this.#loaded || this.#deleted || (this.#refusal && this.#refusal.from <= countOf(this.#relay, this.#session))) return [];
    const frames: Content[] = [];
    const needsHeader = this.#header !== undefined && this.#headerSaved && !this.#relay.header;
    // Only what is saved locally leaves the device: an acked write is then also a durable local one.
    // Refused writes (held back from `from` on) never leave it.
    const own = this.#sessions.get(this.#session)?.transactions ?? [];
    const sendable = Math.min(own.length, this.#saved.get(this.#session) ?? 0, this.#refusal?.from ?? Infinity);
    const confirmed = countOf(this.#relay, this.#session);
    let includeHeader = needsHeader && !this.#headerInFlight && this.#sent === confirmed;
    // Like Nagle's algorithm: full frames go at once, but while anything is in flight a partial frame waits
    // for the ack, gathering what is appended meanwhile. A steady trickle of appends then travels as a few
    // frames per round trip instead of one frame (and one signature, and one commit) per append.
    const inFlight = this.#sent > confirmed;
    while (this.#sent < sendable && this.#sent - confirmed < MAX_IN_FLIGHT && (!inFlight || sendable - this.#sent >= PUSH_BATCH)) {
      const after = this.#sent;
      let end = after;
      let bytes = 0;
      while (end < sendable && end - after < PUSH_BATCH && bytes < CHUNK_TARGET_BYTES) bytes += wireDataBytes(own[end++]!.data) + WIRE_BYTES_PER_TRANSACTION;
      const signature = signCheckpoint(this.#identity.secretKey, this.id, this.#session, end, this.#ownHashes[end - 1]!);
      frames.push({
        type: "content",
        doc: this.id,
        ...(includeHeader ? { header: this.#header! } : {}),
        sessions: { [this.#session]: { after, transactions: own.slice(after, end), signature } },
      });
      if (includeHeader) this.#headerInFlight = true;
      includeHeader = false;
      this.#sent = end;
    }
    if (includeHeader) {
      frames.push({ type: "content", doc: this.id, header: this.#header!, sessions: {} });
      this.#headerInFlight = true;
    }
    return frames;
  }

  #ownCount(): number {
    return this.#sessions.get(this.#session)?.transactions.length ?? 0;
  }

  #log(session: SessionId): SessionLog {
    let log = this.#sessions.get(session);
    if (!log) {
      log = { transactions: [] };
      this.#sessions.set(session, log);
    }
    return log;
  }

  #emit(added: DocTransaction[]): void {
    this.#ordered = undefined;
    if (this.#listeners.size === 0) return;
    const doc = this;
    const change: DocChange = {
      added,
      doc,
      get transactions() {
        return doc.transactions();
      },
    };
    for (const listener of this.#listeners) listener(change);
  }
}

