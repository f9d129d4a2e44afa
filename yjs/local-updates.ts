// The Y.Doc's local updates (every one the provider did not apply) gathered until the provider appends them
// as one, in time linear in their number. Two things are quadratic on that path in Yjs: Y.mergeUpdates of
// many updates (it sorts all its inputs once per struct it writes: 20,000 one-paragraph inserts took 7 s to
// merge), and an `update` listener itself, as Yjs encodes each transaction's update from the item it
// extended, which grows as appended text merges into it (40,000 inserts in one tick took 5 s with a listener,
// 0.15 s without). So the updates are merged two by two, and a tick of more than BULK_UPDATES of them stops
// listening and takes the rest as one diff from the state vector it had then.
import * as Y from "yjs";

/**
 * Local updates in one tick past which the rest are taken as one diff: far more than typing makes (a
 * keystroke is one), few enough that the updates heard before it cost nothing worth measuring.
 */
export const BULK_UPDATES = 1_000;

export class LocalUpdates {
  readonly #ydoc: Y.Doc;
  readonly #onUpdate: (update: Uint8Array, origin: unknown) => void;
  #parts: Uint8Array[] = [];
  /** While not listening: the state vector from which the Y.Doc's new content is this client's. */
  #bulkFrom: Uint8Array | undefined;
  #listening = false;
  #stopped = false;

  /** Hears the Y.Doc's updates of every origin but `remote`; `onLocal` is told of each it heard. */
  constructor(ydoc: Y.Doc, remote: unknown, onLocal: () => void) {
    this.#ydoc = ydoc;
    this.#onUpdate = (update, origin) => {
      if (origin === remote) return;
      this.push(update);
      onLocal();
    };
    this.#listen();
  }

  get empty(): boolean {
    return this.#parts.length === 0 && this.#bulkFrom === undefined;
  }

  push(update: Uint8Array): void {
    this.#parts.push(update);
    if (this.#parts.length > BULK_UPDATES && this.#bulkFrom === undefined) {
      this.#bulkFrom = Y.encodeStateVector(this.#ydoc);
      this.#ydoc.off("update", this.#onUpdate);
      this.#listening = false;
    }
  }

  /**
   * Call before applying anything the Y.Doc did not make: the diff taken in bulk ends here, so it holds
   * none of it. Yjs sends the whole delete set with a diff, so that part also repeats deletions already known
   * (a few bytes per deleted range, which every replica ignores).
   */
  seal(): void {
    if (this.#bulkFrom === undefined) return;
    this.#parts.push(Y.encodeStateAsUpdate(this.#ydoc, this.#bulkFrom));
    this.#bulkFrom = undefined;
    this.#listen();
  }

  /** Everything gathered, as one update (undefined if nothing), and starts again empty. */
  take(): Uint8Array | undefined {
    this.seal();
    const parts = this.#parts;
    this.#parts = [];
    return parts.length === 0 ? undefined : mergeInPairs(parts);
  }

  /** Puts back an update taken that could not be appended yet; it goes first next time. */
  putBack(update: Uint8Array): void {
    this.#parts.unshift(update);
  }

  /** Forgets everything gathered. */
  clear(): void {
    this.#parts = [];
    this.#bulkFrom = undefined;
    this.#listen();
  }

  /** Keeps what was gathered (sealed: edits made from now on are not in it) and stops listening. */
  stop(): void {
    this.seal();
    this.#stopped = true;
    this.#ydoc.off("update", this.#onUpdate);
    this.#listening = false;
  }

  #listen(): void {
    if (this.#listening || this.#stopped) return;
    this.#ydoc.on("update", this.#onUpdate);
    this.#listening = true;
  }
}

/** Y.mergeUpdates two at a time, then pairs of pairs: each round reads every struct once, and there are log2(n) rounds. */
function mergeInPairs(updates: Uint8Array[]): Uint8Array {
  let round = updates;
  while (round.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < round.length; i += 2) next.push(i + 1 < round.length ? Y.mergeUpdates([round[i]!, round[i + 1]!]) : round[i]!);
    round = next;
  }
  return round[0]!;
}
