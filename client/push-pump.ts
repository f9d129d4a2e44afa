// The save-then-push loop, the shell's one piece of sequencing: the documents a tick changed are saved
// (what the local store lacks, after checking received chains) and then the core is asked what to push.
// One flush at a time. What to save and what to push is decided by the core (core/doc-state.ts, core/push.ts).
import type { DocId, SessionId } from "../protocol/index.ts";
import { verifiesChains } from "./chain-checks.ts";
import { unsavedOf, type DocState } from "./core/doc-state.ts";
import type { CoreEvent } from "./core/effects.ts";
import { carriesWrites, type DocChanges, type LocalStore } from "./storage/local-store.ts";
import { storeFailureText } from "./errors.ts";

/**
 * A save that failed (a full disk, a store closed under the client) is tried again after this wait,
 * doubling up to the cap, until one succeeds: what it held is pushed only once it is saved.
 */
export const SAVE_RETRY = { firstMs: 250, capMs: 30_000 };

export interface PumpHost {
  readonly group: string;
  readonly store: LocalStore;
  readonly session: SessionId;
  stateOf(id: DocId): DocState | undefined;
  dispatch(event: CoreEvent): void;
  /** The local store failed; the app hears of it. */
  onLocalFailure(doc: DocId, message: string): void;
}

export class PushPump {
  readonly #host: PumpHost;
  /** Documents with changes to save locally or push to the relay. */
  readonly #dirty = new Set<DocId>();
  #scheduled = false;
  #flushing: Promise<void> | undefined;
  /** What waits to go out right behind the coming push, in the same frame (afterNextPush). */
  #afterPush: (() => void)[] = [];
  /** A flush has started and not yet pushed. */
  #pushing = false;
  /** Documents whose last save failed: the retry's timer, and the wait before the one after it. */
  readonly #retries = new Map<DocId, { timer: ReturnType<typeof setTimeout> | undefined; nextMs: number }>();
  /**
   * Documents whose save of only what the relay holds (an ack heard) is under way: the push does not wait for
   * it, and one at a time per document is enough (what the relay holds by then is saved right after it).
   */
  readonly #keeping = new Map<DocId, Promise<void>>();
  /** Documents whose partial frame waits for the pace (core effect pushAt), each with the timer that pushes it. */
  readonly #paced = new Map<DocId, ReturnType<typeof setTimeout>>();
  #stopped = false;

  constructor(host: PumpHost) {
    this.#host = host;
  }

  markDirty(doc: DocId): void {
    this.#dirty.add(doc);
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Changes made in the same tick travel together: one save, one signature and one frame per batch.
    queueMicrotask(() => {
      this.#scheduled = false;
      void this.flush();
    });
  }

  /**
   * Runs `send` right after the coming push (in the same tick, so what it sends shares the push's frame);
   * false, and nothing kept, when no push is coming.
   */
  afterNextPush(send: () => void): boolean {
    if (!this.#scheduled && !this.#pushing && this.#dirty.size === 0) return false;
    this.#afterPush.push(send);
    return true;
  }

  /** Saves what the local store lacks, then pushes what the relay lacks; one flush at a time. */
  async flush(): Promise<void> {
    if (this.#flushing) {
      await this.#flushing;
      if (this.#dirty.size > 0) this.markDirty(this.#dirty.values().next().value!);
      return;
    }
    const docs = [...this.#dirty];
    this.#dirty.clear();
    this.#pushing = true;
    this.#flushing = (async () => {
      try {
        // Each document's file (or record) is its own: they are saved side by side, not one after another
        // (a burst of new documents, each a file and its folder's fsync, would otherwise take as long as all).
        const savings = docs.flatMap((id) => this.#save(id) ?? []);
        if (savings.length > 0) await Promise.all(savings);
        this.#host.dispatch({ type: "push", docs, now: performance.now() });
      } finally {
        this.#pushing = false;
        for (const send of this.#afterPush.splice(0)) send();
      }
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
    if (this.#dirty.size > 0) this.markDirty(this.#dirty.values().next().value!);
  }

  /**
   * Settles once no flush is scheduled or under way: what was written before it is in the store (or its
   * save failed and was reported). A signature check of received writes runs before their save, so a save
   * can start well after the flush that makes it; a group replacing a closed one reads the store after this.
   */
  async settled(): Promise<void> {
    while (this.#scheduled || this.#flushing) await (this.#flushing ?? Promise.resolve());
  }

  /**
   * The page is going away (`pagehide`): what the store lacks of `ids` is kept at once where the store can
   * (LocalStore.keepAtOnce). Saves wait behind the one under way, and that one, behind another tab's writes
   * to IndexedDB, can wait past the page's end: the writes waiting with it would never be saved. Nothing is
   * marked saved by it: a page that comes back (the back-forward cache) saves the same again, which the
   * store takes as what it holds.
   */
  keepNow(ids: Iterable<DocId>): void {
    const { store } = this.#host;
    if (this.#stopped || !store.keepAtOnce) return;
    for (const id of ids) {
      const doc = this.#host.stateOf(id);
      const changes = doc && unsavedOf(doc, this.#host.session);
      if (changes && carriesWrites(changes)) store.keepAtOnce(this.#host.group, id, changes, this.#host.session);
    }
  }

  /** Saves what the store lacks of `id`; undefined (no await, so the push follows in the same tick) when nothing is to do. */
  #save(id: DocId): Promise<void> | undefined {
    const doc = this.#host.stateOf(id);
    if (!doc) return undefined;
    if (verifiesChains(doc.header)) return this.#verifyThenSave(id, doc);
    return this.#saveChanges(id, doc);
  }

  async #verifyThenSave(id: DocId, doc: DocState): Promise<void> {
    // Signature checks are asynchronous (WebCrypto), so they run here; what fails is reported by the core.
    const failed = await doc.chains.verify(id, (held) => doc.sessions.get(held) ?? [], this.#host.session);
    if (failed.length > 0) this.#host.dispatch({ type: "unverified", doc: id, sessions: failed });
    await this.#saveChanges(id, doc);
  }

  #saveChanges(id: DocId, doc: DocState): Promise<void> | undefined {
    const changes = unsavedOf(doc, this.#host.session);
    if (!changes) return undefined;
    if (!carriesWrites(changes)) {
      // Nothing to push waits on it: the push goes now, and the save lands meanwhile.
      if (!this.#keeping.has(id)) this.#keep(id, doc, changes);
      return undefined;
    }
    return this.#store(id, doc, changes).then(() => undefined);
  }

  /** Saves what the relay holds of `id` (`changes`, nothing else), one such save at a time per document. */
  #keep(id: DocId, doc: DocState, changes: DocChanges): Promise<void> {
    const kept = this.#store(id, doc, changes).then((saved) => {
      this.#keeping.delete(id);
      if (saved && unsavedOf(doc, this.#host.session)) this.markDirty(id);
    });
    this.#keeping.set(id, kept);
    return kept;
  }

  /**
   * Settles once the store holds what the relay was last heard to hold of `id` (and forgot the runs kept
   * aside that were told lost), when only that is unsaved (saved now, not a microtask later) or its save is
   * under way; undefined when nothing of it waits. A failed save settles it too (it is reported, and the
   * next ack saves it again).
   */
  relayHeldSaved(id: DocId): Promise<void> | undefined {
    const keeping = this.#keeping.get(id);
    if (keeping) return keeping;
    const doc = this.#host.stateOf(id);
    const changes = doc && !this.#stopped ? unsavedOf(doc, this.#host.session) : undefined;
    return doc && (changes?.relayHeld || changes?.dropStranded) && !carriesWrites(changes) ? this.#keep(id, doc, changes) : undefined;
  }

  /** Saves `changes` of `id`; resolves with whether the save held (a failure is reported and retried). */
  #store(id: DocId, doc: DocState, changes: DocChanges): Promise<boolean> {
    const ownCuts = doc.ownCuts;
    return this.#host.store.save(this.#host.group, id, changes).then(
      (result) => {
        // Another client sharing the store removed the document: all of it is saved again, header first
        // (a store that says so of a save with the header is taken at its word no more than once).
        if (result === "missing" && !changes.header) {
          this.#host.dispatch({ type: "storeMissing", doc: id });
          return false;
        }
        // A save that held (a later write's, say) makes a retry still armed pointless.
        clearTimeout(this.#retries.get(id)?.timer);
        this.#retries.delete(id);
        this.#host.dispatch({ type: "saved", doc: id, changes, ownCuts });
        return true;
      },
      (error: unknown) => {
        this.#failed(id, error);
        return false;
      },
    );
  }

  /** A save failed: the app hears of it once per run of failures, and it is tried again after a wait. */
  #failed(id: DocId, error: unknown): void {
    const retry = this.#retries.get(id);
    const message = `saving ${id} locally failed: ${storeFailureText(error)}`;
    if (!retry) this.#host.onLocalFailure(id, this.#stopped ? message : `${message}; trying again`);
    if (this.#stopped || retry?.timer !== undefined) return;
    const waitMs = retry?.nextMs ?? SAVE_RETRY.firstMs;
    const next = { nextMs: Math.min(waitMs * 2, SAVE_RETRY.capMs), timer: undefined as ReturnType<typeof setTimeout> | undefined };
    next.timer = setTimeout(() => {
      next.timer = undefined;
      this.markDirty(id);
    }, waitMs);
    this.#retries.set(id, next);
  }

  /**
   * The group closed: what still waits for a retry is tried once more now (the client gives its session up
   * only once the saves under way have finished), and then never again; a failure is reported as final.
   */
  /** Pushes `doc` again at `at` (performance.now()'s clock): one timer per document, the earliest. */
  pushAt(doc: DocId, at: number): void {
    if (this.#paced.has(doc) || this.#stopped) return;
    const timer = setTimeout(() => {
      this.#paced.delete(doc);
      this.markDirty(doc);
    }, Math.max(0, at - performance.now()));
    this.#paced.set(doc, timer);
  }

  stop(): void {
    for (const timer of this.#paced.values()) clearTimeout(timer);
    this.#paced.clear();
    const waiting = [...this.#retries].flatMap(([id, retry]) => (retry.timer === undefined ? [] : [id]));
    for (const retry of this.#retries.values()) clearTimeout(retry.timer);
    this.#retries.clear();
    this.#stopped = true;
    for (const id of waiting) this.markDirty(id);
  }
}
