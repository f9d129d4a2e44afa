// Refused writes. What the relay refused for good (or the local store held that it would refuse) stays on
// this device, out of the push path: surfaced once to onRefused listeners, listed by refused(), until the
// app discards it (the session goes on from what the relay holds) or retries it.
import type { DocId } from "../protocol/index.ts";
import type { Doc, RefusedWrites } from "./doc.ts";
import { RelayError } from "./errors.ts";
import type { LocalStore } from "./storage/local-store.ts";

export interface RefusalHost {
  readonly group: string;
  readonly store: LocalStore;
  readonly membersDoc: DocId | undefined;
  /** Stops holding a document refused whole. */
  forget(doc: Doc): void;
  /** The document changed: save and push what is left. */
  changed(doc: Doc): void;
  report(error: RelayError): void;
}

export class RefusedWritesKeeper {
  readonly #host: RefusalHost;
  readonly #listeners = new Set<(refused: RefusedWrites) => void>();

  constructor(host: RefusalHost) {
    this.#host = host;
  }

  listen(listener: (refused: RefusedWrites) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The relay refused `doc`'s writes for good: held back and surfaced once. A refused membership
   * operation is dropped at once: the promise of setRole()/removeMember() carries the refusal, and the
   * operations after it are not stuck behind it (they were refused with it and reject with it).
   */
  refuse(doc: Doc, error: RelayError): void {
    if (doc.refused || !doc.hasUnsynced) return;
    doc.onRefused(error);
    this.surface(doc);
    if (doc.id === this.#host.membersDoc) {
      this.discard(doc).catch((failure: Error) => this.#host.report(new RelayError({ code: "internal", message: `discarding a refused membership operation failed: ${failure.message}`, doc: doc.id })));
    }
  }

  /** Tells listeners what `doc` holds back, if anything (once per refusal: callers call it once). */
  surface(doc: Doc): void {
    const refused = doc.refusedWrites();
    if (refused) for (const listener of this.#listeners) listener(refused);
  }

  /** Forgets `doc`'s refused writes (and the document, if it was refused whole); resolves when the store agrees. */
  async discard(doc: Doc): Promise<void> {
    const whole = doc.refusedWrites()?.wholeDocument ?? false;
    const kept = doc.discardRefused();
    if (whole) {
      this.#host.forget(doc);
      return this.#host.store.remove(this.#host.group, doc.id);
    }
    if (!kept) return;
    // The store cannot cut a session short: write the document again as it now is.
    await this.#host.store.remove(this.#host.group, doc.id);
    const appends = Object.entries(kept.sessions).map(([session, transactions]) => ({ session: session as keyof typeof kept.sessions, after: 0, transactions }));
    await this.#host.store.save(this.#host.group, doc.id, { header: kept.header, appends });
    this.#host.changed(doc);
  }
}
