// Moves local changes out: saves what the local store lacks, then pushes what the relay lacks, one flush
// at a time, changes of one tick together. While a frame refused without a document named is being looked
// for (quarantine.ts), only the probe pushes and the rest waits.
import type { Content, DocId, SessionId } from "../protocol/index.ts";
import type { Doc } from "./doc.ts";
import { frameRefused, nextProbe, noQuarantine, type Quarantine } from "./quarantine.ts";
import type { LocalStore } from "./storage/local-store.ts";

export interface PumpHost {
  readonly group: string;
  readonly store: LocalStore;
  /** Whether pushed frames would reach the relay now. */
  canPush(): boolean;
  send(frame: Content): void;
  /** What to push of `doc` now (its own takePush(), and what else rides along). */
  take(doc: Doc): Content[];
  /** The local store failed; the app hears of it. */
  onLocalFailure(doc: DocId, message: string): void;
  /** Received checkpoints of a verified chain did not verify (see verifiesChains in doc.ts). */
  onUnverified(doc: Doc, sessions: SessionId[]): void;
}

export class PushPump {
  readonly #host: PumpHost;
  /** Documents with changes to save locally or push to the relay. */
  readonly #dirty = new Set<Doc>();
  #scheduled = false;
  #flushing: Promise<void> | undefined;
  #quarantine: Quarantine<Doc> = noQuarantine();
  /** Documents with something to push that wait for the quarantine to end. */
  readonly #held = new Set<Doc>();

  constructor(host: PumpHost) {
    this.#host = host;
  }

  markDirty(doc: Doc): void {
    this.#dirty.add(doc);
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Changes made in the same tick travel together: one save, one signature and one frame per batch.
    queueMicrotask(() => {
      this.#scheduled = false;
      void this.flush();
    });
  }

  /** A frame was refused without a document named; returns the document found guilty, if one was. */
  onFrameRefused(inFlight: Doc[]): Doc | undefined {
    const { state, culprit } = frameRefused(this.#quarantine, inFlight);
    this.#quarantine = state;
    return culprit;
  }

  /** The suspect to push alone now, if the quarantine is on. */
  #currentProbe(): Doc | undefined {
    const { state, probe } = nextProbe(this.#quarantine, (doc) => doc.hasUnsynced && !doc.refused && !doc.deleted);
    this.#quarantine = state;
    return probe;
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
    this.#flushing = (async () => {
      for (const doc of docs) {
        if (doc.verifiesChains) {
          const failed = await doc.verifyReceived();
          if (failed.length > 0) this.#host.onUnverified(doc, failed);
        }
        const changes = doc.unsaved();
        if (!changes) continue;
        try {
          await this.#host.store.save(this.#host.group, doc.id, changes);
          doc.markSaved(changes);
        } catch (error) {
          this.#host.onLocalFailure(doc.id, `saving ${doc.id} locally failed: ${(error as Error).message}`);
        }
      }
      if (!this.#host.canPush()) return;
      const probe = this.#currentProbe();
      if (probe) {
        for (const doc of docs) if (doc !== probe) this.#held.add(doc);
        for (const frame of this.#host.take(probe)) this.#host.send(frame);
        return;
      }
      const pushable = new Set([...this.#held, ...docs]);
      this.#held.clear();
      for (const doc of pushable) for (const frame of this.#host.take(doc)) this.#host.send(frame);
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
    if (this.#dirty.size > 0) this.markDirty(this.#dirty.values().next().value!);
  }
}
