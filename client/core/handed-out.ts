// What the app is handed of a document: its transactions frozen, and, since a Uint8Array cannot be frozen,
// its bytes as the app's own copy, made once per transaction and shared by every list this document hands
// that transaction out in (transactions(), a change's added and removed, refused writes, append()'s
// result). What the app does to them reaches nothing else: not the log, not what is saved and sent, not
// other clients, even ones sharing a store in memory with it.
import type { Snapshot, TransactionData } from "../../protocol/index.ts";
import type { DocTransaction } from "./doc-state.ts";

export class HandedOut {
  readonly #copies = new WeakMap<Uint8Array, Uint8Array>();
  readonly #snapshots = new WeakMap<Snapshot, Snapshot>();

  /** A transaction as the app gets it: frozen, its bytes the app's copy. */
  readonly transaction = (transaction: DocTransaction): DocTransaction => {
    const { at, data, session, index } = transaction;
    return Object.freeze({ at, data: this.#appsCopy(data), session, index });
  };

  /** Transactions as the app gets them. */
  all(transactions: readonly DocTransaction[]): DocTransaction[] {
    return transactions.map(this.transaction);
  }

  /** A snapshot held here as the app gets it: frozen, its covers too, its bytes the app's copy; the same object each time. */
  snapshot(snapshot: Snapshot): Snapshot {
    let out = this.#snapshots.get(snapshot);
    if (!out) this.#snapshots.set(snapshot, (out = Object.freeze({ ...snapshot, covers: Object.freeze({ ...snapshot.covers }), data: this.#appsCopy(snapshot.data) })));
    return out;
  }

  #appsCopy(data: TransactionData): TransactionData {
    if (!(data instanceof Uint8Array)) return data;
    let copy = this.#copies.get(data);
    if (!copy) this.#copies.set(data, (copy = data.slice()));
    return copy;
  }
}
