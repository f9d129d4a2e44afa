// How many frames each socket may still send the relay: a token bucket per peer, refilled by the events'
// own time, so no timer keeps the object awake. In memory only (no storage write per frame): an instance
// evicted from memory, or woken from hibernation, starts every peer with a full bucket.
import { FRAMES_PER_SECOND_PER_PEER, FRAME_BURST_PER_PEER } from "../../protocol/index.ts";
import type { PeerId } from "./store.ts";

export type FrameRate = { readonly perSecond: number; readonly burst: number };

export const PEER_FRAME_RATE: FrameRate = { perSecond: FRAMES_PER_SECOND_PER_PEER, burst: FRAME_BURST_PER_PEER };

export class FrameBudgets {
  readonly #rate: FrameRate;
  readonly #buckets = new Map<PeerId, { tokens: number; at: number }>();

  constructor(rate: FrameRate = PEER_FRAME_RATE) {
    this.#rate = rate;
  }

  /** Takes one frame of `peer`'s budget at `now` (ms); false when none is left: the socket floods. */
  take(peer: PeerId, now: number): boolean {
    const bucket = this.#buckets.get(peer);
    if (!bucket) {
      this.#buckets.set(peer, { tokens: this.#rate.burst - 1, at: now });
      return true;
    }
    // A clock that went back (an event's time is the shell's Date.now()) refills nothing, and takes nothing away.
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.#rate.burst, bucket.tokens + (elapsed * this.#rate.perSecond) / 1000);
    bucket.at = Math.max(bucket.at, now);
    if (bucket.tokens < 1) return false;
    bucket.tokens--;
    return true;
  }

  forget(peer: PeerId): void {
    this.#buckets.delete(peer);
  }
}
