// The documents one group holds on this client, and where each stands with the relay on the current
// socket: which loads were sent, which are answered. The group is live once every load is answered.
import type { DocHeader, DocId } from "../protocol/index.ts";
import type { Doc } from "./doc.ts";

export class DocRegistry {
  readonly #docs = new Map<DocId, Doc>();
  /** Documents whose load the relay has not answered yet: the group is live when this is empty. */
  readonly #unloaded = new Set<Doc>();
  /** Documents whose load went out on the current socket, so a second `open` does not ask again. */
  readonly #requested = new Set<Doc>();
  readonly #make: (id: DocId, header: DocHeader | undefined) => Doc;

  constructor(make: (id: DocId, header: DocHeader | undefined) => Doc) {
    this.#make = make;
  }

  get(id: DocId): Doc | undefined {
    return this.#docs.get(id);
  }

  all(): IterableIterator<Doc> {
    return this.#docs.values();
  }

  get size(): number {
    return this.#docs.size;
  }

  /** Starts holding a document: it counts as unloaded until the relay answers its load. */
  track(id: DocId, header: DocHeader | undefined): Doc {
    const doc = this.#make(id, header);
    this.#docs.set(id, doc);
    this.#unloaded.add(doc);
    return doc;
  }

  /** Stops holding a document (one the relay does not have, or that the app discarded). */
  forget(doc: Doc): void {
    this.#docs.delete(doc.id);
    this.#unloaded.delete(doc);
    this.#requested.delete(doc);
  }

  /** The relay answered `doc`'s load (or it is gone); true if that was the last one outstanding. */
  answered(doc: Doc): boolean {
    return this.#unloaded.delete(doc) && this.#unloaded.size === 0;
  }

  get allAnswered(): boolean {
    return this.#unloaded.size === 0;
  }

  /** Documents whose load is not answered yet. */
  unanswered(): Doc[] {
    return [...this.#unloaded];
  }

  wasRequested(doc: Doc): boolean {
    return this.#requested.has(doc);
  }

  markRequested(doc: Doc): void {
    this.#requested.add(doc);
  }

  /** A new socket: nothing was asked on it yet. */
  clearRequested(): void {
    this.#requested.clear();
  }
}
