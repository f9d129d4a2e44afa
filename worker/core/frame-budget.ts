// How many frames each socket may still send the relay: a token bucket per peer, refilled by the events'
// own time, so no timer keeps the object awake. In memory only (no storage write per frame): an instance
// evicted from memory, or woken from hibernation, starts every peer with a full bucket.
import { FRAMES_PER_SECOND_PER_PEER, FRAME_BURST_PER_PEER, refill, type FrameBucket, type FrameRate } from "../../protocol/index.ts";
import type { PeerId } from "./store.ts";

export const PEER_FRAME_RATE: FrameRate = { perSecond: FRAMES_PER_SECOND_PER_PEER, burst: FRAME_BURST_PER_PEER };

export class FrameBudgets {
  readonly #rate: FrameRate;
  readonly #buckets = new Map<PeerId, FrameBucket>();

  constructor(rate: FrameRate = PEER_FRAME_RATE) {
    this.#rate = rate;
  }

  /** Takes one frame of `peer`'s budget at `now` (ms); false when none is left: the socket floods. */
  take(peer: PeerId, now: number): boolean {
    let bucket = this.#buckets.get(peer);
    if (!bucket) this.#buckets.set(peer, (bucket = { tokens: this.#rate.burst, at: now }));
    // An event's time is the shell's Date.now(): one that went back refills nothing, and takes nothing away.
    if (refill(bucket, this.#rate, now).tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  forget(peer: PeerId): void {
    this.#buckets.delete(peer);
  }
}
