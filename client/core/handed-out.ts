// What the app is handed of a document: frozen, so that nothing it does reaches what the SDK holds, saves and
// sends. A Uint8Array cannot be frozen: a transaction's (or a snapshot's) bytes are read as a copy of the
// log's, the same copy while the app keeps it, a fresh one once it let it go (so the SDK keeps no second copy
// of a document's bytes). Headers are handed out deep-frozen, once per header.
import { knownStatesEqual, type DocHeader, type KnownState, type Snapshot, type Transaction, type TransactionData } from "../../protocol/index.ts";
import type { DocTransaction, Snapshotted } from "./doc-state.ts";

export class HandedOut {
  readonly #copies = new WeakMap<Uint8Array, WeakRef<Uint8Array>>();
  readonly #snapshots = new WeakMap<Snapshot, Snapshot>();
  readonly #headers = new WeakMap<DocHeader, DocHeader>();
  /** Per session, the log last handed out, and what it was made from. */
  readonly #logs = new Map<string, { log: readonly Transaction[]; length: number; rewrites: number; out: readonly Transaction[] }>();
  readonly #snapshotted = new WeakMap<Snapshotted, Snapshotted>();
  #known: KnownState | undefined;

  /**
   * A transaction as the app gets it. Written out as one object literal: a document opened from the store
   * hands out every transaction it holds, and spreading or assigning each (as #frozen does) cost Node 20
   * several times the rest of the view.
   */
  readonly transaction = ({ at, data, session, index }: DocTransaction): DocTransaction =>
    data instanceof Uint8Array ? this.#frozen({ at, data }, { session, index }) : Object.freeze({ at, data, session, index });

  /** Transactions as the app gets them. */
  all(transactions: readonly DocTransaction[]): DocTransaction[] {
    return transactions.map(this.transaction);
  }

  /** One session's log as the app gets it: the same array until the log changes (`rewrites`: replaced or cut). */
  log(session: string, transactions: readonly Transaction[], rewrites: number): readonly Transaction[] {
    const kept = this.#logs.get(session);
    if (kept?.log === transactions && kept.length === transactions.length && kept.rewrites === rewrites) return kept.out;
    const out = Object.freeze(transactions.map((transaction) => this.#frozen(transaction, {})));
    this.#logs.set(session, { log: transactions, length: transactions.length, rewrites, out });
    return out;
  }

  /** What the relay holds as the app gets it: a frozen copy, the same one until it changes. */
  known(known: KnownState): KnownState {
    if (this.#known === undefined || !knownStatesEqual(this.#known, known)) this.#known = Object.freeze({ header: known.header, sessions: Object.freeze({ ...known.sessions }) });
    return this.#known;
  }

  /** A stored snapshot's author and covers as the app gets them: frozen, the same object each time. */
  snapshotted(snapshotted: Snapshotted): Snapshotted {
    let out = this.#snapshotted.get(snapshotted);
    if (!out) this.#snapshotted.set(snapshotted, (out = Object.freeze({ session: snapshotted.session, covers: Object.freeze({ ...snapshotted.covers }) })));
    return out;
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

function deepFrozen<T>(value: T): T {
  if (typeof value === "object" && value !== null) for (const inner of Object.values(value)) deepFrozen(inner);
  return Object.freeze(value);
}
