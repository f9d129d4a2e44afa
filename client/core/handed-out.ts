// What the app is handed of a document: frozen, so that nothing it does reaches what the SDK holds, saves and
// sends. A Uint8Array cannot be frozen: a transaction's (or a snapshot's) bytes are read as a copy of the
// log's, the same copy while the app keeps it, a fresh one once it let it go (so the SDK keeps no second copy
// of a document's bytes). Headers are handed out deep-frozen, once per header.
import type { DocHeader, KnownState, Snapshot, Transaction, TransactionData } from "../../protocol/index.ts";
import type { DocTransaction, Snapshotted } from "./doc-state.ts";

export class HandedOut {
  readonly #copies = new WeakMap<Uint8Array, WeakRef<Uint8Array>>();
  readonly #snapshots = new WeakMap<Snapshot, Snapshot>();
  readonly #headers = new WeakMap<DocHeader, DocHeader>();

  /** A transaction as the app gets it. */
  readonly transaction = (transaction: DocTransaction): DocTransaction => this.#frozen(transaction, { session: transaction.session, index: transaction.index });

  /** Transactions as the app gets them. */
  all(transactions: readonly DocTransaction[]): DocTransaction[] {
    return transactions.map(this.transaction);
  }

  /** One session's log as the app gets it. */
  log(transactions: readonly Transaction[]): readonly Transaction[] {
    return Object.freeze(transactions.map((transaction) => this.#frozen(transaction, {})));
  }

  /** A snapshot held here as the app gets it, its covers frozen too; the same object each time. */
  snapshot(snapshot: Snapshot): Snapshot {
    let out = this.#snapshots.get(snapshot);
    if (!out) {
      const { at, data, ...rest } = snapshot;
      this.#snapshots.set(snapshot, (out = this.#frozen({ at, data }, { ...rest, covers: Object.freeze({ ...rest.covers }) }) as Snapshot));
    }
    return out;
  }

  /** A header as the app gets it, deep-frozen (its id is its hash: a change would make it another's); the same object each time. */
  header(header: DocHeader): DocHeader {
    let out = this.#headers.get(header);
    if (!out) this.#headers.set(header, (out = deepFrozen(structuredClone(header))));
    return out;
  }

  /** `{at, data}` with `rest`, frozen; bytes as a getter of the app's copy. */
  #frozen<T extends object>({ at, data }: { at?: number | undefined; data: TransactionData }, rest: T): Transaction & T {
    const out: Record<string, unknown> = at === undefined ? {} : { at };
    if (data instanceof Uint8Array) Object.defineProperty(out, "data", { get: () => this.#appsCopy(data), enumerable: true });
    else out.data = data;
    return Object.freeze(Object.assign(out, rest)) as Transaction & T;
  }

  #appsCopy(bytes: Uint8Array): Uint8Array {
    let copy = this.#copies.get(bytes)?.deref();
    if (!copy) this.#copies.set(bytes, new WeakRef((copy = bytes.slice())));
    return copy;
  }
}

/** What the relay holds as the app gets it: a copy. */
export const knownCopy = (known: KnownState): KnownState => ({ header: known.header, sessions: { ...known.sessions } });

/** A stored snapshot's author and covers as the app gets them: a copy. */
export const snapshottedCopy = (snapshotted: Snapshotted): Snapshotted => ({ session: snapshotted.session, covers: { ...snapshotted.covers } });

function deepFrozen<T>(value: T): T {
  if (typeof value === "object" && value !== null) for (const inner of Object.values(value)) deepFrozen(inner);
  return Object.freeze(value);
}
