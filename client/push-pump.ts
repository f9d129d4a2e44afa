// Moves local changes out: saves what the local store lacks, then pushes what the relay lacks, one flush
// at a time, changes of one tick together. It also keeps a poisoned frame from being sent forever.
//
// Quarantine: the SDK refuses locally whatever the relay would refuse, so a frame the relay refuses without
// naming a document (bad_frame with close 1007, or a frame-level transaction_too_large) can only come from
// a relay stricter than this SDK, or from data an older SDK left in the store. The relay cannot say which
// message it was, so every document with content in flight becomes a suspect. Suspects are then pushed
// one at a time, each alone on the wire (the probe), while every other push waits: a probe that is
// acknowledged is cleared, a probe in flight when the next frame refusal comes is the culprit and its
// writes are refused (surfaced once, held back from the push path). Innocent documents cost one extra
// round trip each; the culprit is found in at most one reconnect per suspect, and nothing loops.
import type { Content, DocId, SessionId } from "../protocol/index.ts";
import type { Doc } from "./doc.ts";
import type { LocalStore } from "./storage/local-store.ts";

export interface PumpHost {
  readonly group: string;
  readonly store: LocalStore;
  /** Whether pushed frames would reach the relay now. */
  canPush(): boolean;
  send(frame: Content): void;
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
  /** Documents in flight when a frame was refused without a document named (see above). */
  #suspects: Doc[] = [];
  /** The suspect pushed alone now. */
  #probe: Doc | undefined;
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
    const probe = this.#probe;
    if (probe && (inFlight.includes(probe) || inFlight.length === 0)) {
      this.#probe = undefined;
      this.#suspects = this.#suspects.filter((doc) => doc !== probe);
      return probe;
    }
    for (const doc of inFlight) if (!this.#suspects.includes(doc)) this.#suspects.push(doc);
    return undefined;
  }

  /** The suspect to push alone now, if the quarantine is on; suspects already acknowledged are cleared. */
  #currentProbe(): Doc | undefined {
    while (this.#suspects.length > 0) {
      const probe = (this.#probe ??= this.#suspects[0]!);
      if (probe.hasUnsynced && !probe.refused && !probe.deleted) return probe;
      this.#suspects.shift();
      this.#probe = undefined;
    }
    return undefined;
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
        for (const frame of probe.takePush()) this.#host.send(frame);
        return;
      }
      const pushable = new Set([...this.#held, ...docs]);
      this.#held.clear();
      for (const doc of pushable) for (const frame of doc.takePush()) this.#host.send(frame);
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
    if (this.#dirty.size > 0) this.markDirty(this.#dirty.values().next().value!);
  }
}
