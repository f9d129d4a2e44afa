// A document as one client holds it: every session's transactions, this client's own signed session,
// and what the relay has confirmed. It decides what to push; the group carries the frames.
import {
  CHUNK_TARGET_BYTES,
  GENESIS_HASH,
  MAX_TRANSACTION_BYTES,
  MAX_TRANSACTIONS_PER_FRAME,
  MEMBERS_KIND,
  WIRE_BYTES_PER_TRANSACTION,
  jsonStringBytes,
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
} from "../protocol/index.ts";
import type { Identity } from "./identity.ts";
import type { DocChanges, StoredDoc } from "./storage/local-store.ts";

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
  #syncedWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** The relay refused this client's writes (a reader writing, say): nothing more is pushed until a reconnect. */
  #refused: Error | undefined;
  #loadedWaiters: (() => void)[] = [];

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

  /** True while some local transactions (or the header) are not yet acknowledged by the relay. */
  get hasUnsynced(): boolean {
    if (this.#deleted) return false;
    return this.#ownCount() > countOf(this.#relay, this.#session) || (this.#header !== undefined && !this.#relay.header);
  }

  /** Appends a transaction to this client's session. It is sent (signed, batched) as soon as possible. */
  append(data: string): DocTransaction {
    if (!this.#header) throw new Error(`append: document ${this.id} is not loaded yet`);
    if (this.#deleted) throw new Error(`append: document ${this.id} was deleted`);
    const bytes = jsonStringBytes(data) - 2;
    // Refused here, not by the relay: a refused transaction would block every later one of the session.
    if (bytes > MAX_TRANSACTION_BYTES) throw new RangeError(`append: ${bytes} bytes of data; at most ${MAX_TRANSACTION_BYTES}`);
    const log = this.#log(this.#session);
    // `at` never goes back behind anything seen, so ordering by `at` keeps each session's order. In the
    // membership log it moves strictly forward: the relay refuses an op that would sort before the newest.
    const at = Math.max(Date.now(), this.#header.kind === MEMBERS_KIND ? this.#lastAt + 1 : this.#lastAt);
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

  /** Resolves when the relay has acknowledged everything appended so far. */
  synced(): Promise<void> {
    if (this.#refused) return Promise.reject(this.#refused);
    if (!this.hasUnsynced) return Promise.resolve();
    return new Promise((resolve, reject) => this.#syncedWaiters.push({ resolve, reject }));
  }

  /** Resolves once the relay has answered this document's load (it may not exist there yet). */
  loaded(): Promise<void> {
    if (this.#loaded) return Promise.resolve();
    return new Promise((resolve) => this.#loadedWaiters.push(resolve));
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
    }
    const own = this.#sessions.get(this.#session)?.transactions ?? [];
    for (const transaction of own.slice(this.#ownHashes.length)) {
      this.#ownHashes.push(chainHash(this.#ownHashes[this.#ownHashes.length - 1] ?? GENESIS_HASH, [transaction]));
    }
  }

  /** What the local store lacks, or undefined when it is up to date. */
  unsaved(): DocChanges | undefined {
    if (!this.#header) return undefined;
    const changes: DocChanges = { appends: [] };
    if (!this.#headerSaved) changes.header = this.#header;
    for (const [session, log] of this.#sessions) {
      const saved = this.#saved.get(session) ?? 0;
      if (log.transactions.length > saved) changes.appends.push({ session, after: saved, transactions: log.transactions.slice(saved) });
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
    this.#refused = undefined; // roles may have changed: try again on the next connection
  }

  /** The relay answered a load, acked a write, or corrected our `after`. */
  onKnown(relay: KnownState, reason: "load" | "ack" | "correction"): void {
    this.#relay = mergeKnownStates(this.#relay, relay);
    if (reason !== "ack") this.#sent = countOf(this.#relay, this.#session);
    if (reason !== "ack" || this.#relay.header) this.#headerInFlight = false;
    if (reason === "load" && !this.#loaded) {
      this.#loaded = true;
      for (const resolve of this.#loadedWaiters.splice(0)) resolve();
    }
    if (!this.hasUnsynced) for (const waiter of this.#syncedWaiters.splice(0)) waiter.resolve();
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
    for (const resolve of this.#loadedWaiters.splice(0)) resolve();
    for (const waiter of this.#syncedWaiters.splice(0)) waiter.resolve();
    this.#emit([]);
  }

  /** The relay refused our writes for good reasons of its own (role, deletion): stop pushing, tell waiters. */
  onRefused(error: Error): void {
    this.#refused = error;
    for (const waiter of this.#syncedWaiters.splice(0)) waiter.reject(error);
  }

  /** Frames to push now: own transactions the relay lacks, batched, signed, bounded in flight. */
  takePush(): Content[] {
    if (!this.#loaded || this.#deleted || this.#refused) return [];
    const frames: Content[] = [];
    const needsHeader = this.#header !== undefined && this.#headerSaved && !this.#relay.header;
    // Only what is saved locally leaves the device: an acked write is then also a durable local one.
    const own = this.#sessions.get(this.#session)?.transactions ?? [];
    const sendable = Math.min(own.length, this.#saved.get(this.#session) ?? 0);
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
      while (end < sendable && end - after < PUSH_BATCH && bytes < CHUNK_TARGET_BYTES) bytes += jsonStringBytes(own[end++]!.data) + WIRE_BYTES_PER_TRANSACTION;
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
