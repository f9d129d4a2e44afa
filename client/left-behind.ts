// What other clients of this device left in the shared local store, saved and never sent: a tab closed while
// offline (it announces them), a tab cut off that created a document, a tab that crashed (it says nothing;
// its session's lock going is the sign). They are read again from the store: the tails of this agent's other
// sessions in documents the group holds (every document once the whole group is open) are taken in and
// pushed, and a document the group does not hold is taken when open() asks for it and the relay has none
// (or, offline, when it was announced). One read of the store serves the callers that ask at the same time.
import type { AgentId, DocId } from "../protocol/index.ts";
import type { CoreEvent, CoreState } from "./core/effects.ts";
import { ClosedError, LocalStoreError, RelayError, storeFailureText } from "./errors.ts";
import type { LocalStore, StoredDoc } from "./storage/local-store.ts";
import { unlessAborted, untilClosed, type LoadWatch } from "./store-load.ts";

export interface LeftBehindHost {
  readonly id: string;
  readonly agent: AgentId;
  readonly store: LocalStore;
  readonly core: CoreState;
  readonly closing: Pick<LoadWatch, "closed" | "onStatus">;
  /** Takes a core event in the order the socket's messages are taken. */
  dispatchInOrder(event: CoreEvent): void;
  report(error: RelayError): void;
}

export class LeftBehind {
  readonly #host: LeftBehindHost;
  /** Documents another client said it left unsent that this group does not hold. */
  readonly #announced = new Set<DocId>();
  /** A read of the whole group under way, shared by the callers that need one. */
  #reading: Promise<StoredDoc[]> | undefined;

  constructor(host: LeftBehindHost) {
    this.#host = host;
  }

  /**
   * A client sharing the store closed with writes of `docs` unsent, or cut its session there: they are read
   * again from the store, and what this client lacks of its agent's other sessions is pushed (of documents it
   * holds, or of any once the whole group is open), what the other client discarded forgotten.
   */
  heard(group: string, docs: DocId[]): void {
    const { core } = this.#host;
    if (group !== this.#host.id || core.closed) return;
    // Documents this client does not hold are read when open() asks for them.
    for (const doc of docs) if (!core.docs.get(doc)?.header) this.#announced.add(doc);
    if (core.whole.requested || docs.some((doc) => core.docs.has(doc))) this.#read(new Set(docs));
  }

  /** Another client of this agent went away without a word (a crashed tab): every document is read again. */
  readAll(): void {
    const { core } = this.#host;
    if (!core.closed && (core.whole.requested || core.docs.size > 0)) this.#read(undefined);
  }

  /** Whether another client announced `id` unsent; open() asks once. */
  takeAnnounced(id: DocId): boolean {
    return this.#announced.delete(id);
  }

  /**
   * Reads the store again for one document not held, and takes it in (and pushes it) if it is there and this
   * agent created it. A read that fails is reported and counts as none; closing the group or `signal` ends it.
   */
  async take(id: DocId, signal: AbortSignal | undefined): Promise<boolean> {
    const { core } = this.#host;
    let stored: StoredDoc[];
    try {
      stored = await unlessAborted(untilClosed(this.#storeRead(), this.#host.closing), signal);
    } catch (error) {
      if (error instanceof ClosedError || signal?.aborted) throw error;
      this.#readFailed(error);
      return false;
    }
    const closed = this.#host.closing.closed();
    if (closed) throw closed;
    const own = stored.filter((doc) => doc.id === id && doc.header.creator === this.#host.agent);
    if (own.length === 0) return false;
    this.#host.dispatchInOrder({ type: "storedTails", docs: own, opening: id });
    return core.docs.get(id)?.header !== undefined;
  }

  /** Takes in what the store holds of `docs` (every document, if none are named) that this client lacks. */
  #read(docs: ReadonlySet<DocId> | undefined): void {
    const { core } = this.#host;
    this.#storeRead().then((stored) => {
      if (core.closed) return;
      const named = docs ? stored.filter((doc) => docs.has(doc.id)) : stored;
      const wanted = core.whole.requested ? named : named.filter((doc) => core.docs.has(doc.id));
      if (wanted.length > 0) this.#host.dispatchInOrder({ type: "storedTails", docs: wanted });
      // Named but gone from the store (another client removed it, having discarded it): held here, it is saved again.
      for (const id of docs ?? []) if (core.docs.get(id)?.headerSaved && !named.some((doc) => doc.id === id)) this.#host.dispatchInOrder({ type: "storeMissing", doc: id });
    }, (error: unknown) => this.#readFailed(error));
  }

  #readFailed(error: unknown): void {
    this.#host.report(new LocalStoreError(`reading the local store again failed: ${storeFailureText(error)}`));
  }

  /** The store as it is now, read once for the callers that ask at the same time. */
  #storeRead(): Promise<StoredDoc[]> {
    const reading = (this.#reading ??= this.#host.store.loadGroup(this.#host.id));
    const done = () => void (this.#reading === reading && (this.#reading = undefined));
    reading.then(done, done);
    return reading;
  }
}
