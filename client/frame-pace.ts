// The pace of the frames one socket sends the relay, which closes a socket past FRAMES_PER_SECOND_PER_PEER
// (`too_many_frames`): a token bucket of SDK_FRAME_BURST refilled at SDK_FRAMES_PER_SECOND, well under it.
// What a tick queues leaves as one flush; a flush that finds the bucket empty waits for it, and whatever
// is queued meanwhile goes in the same frames.
import { SDK_FRAMES_PER_SECOND, SDK_FRAME_BURST } from "../protocol/index.ts";

export class FramePace {
  #tokens = SDK_FRAME_BURST;
  #at = 0;

  /** How long (ms) a flush at `now` waits for the pace; 0: it may go now. */
  waitMs(now: number): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : ((1 - this.#tokens) * 1000) / SDK_FRAMES_PER_SECOND;
  }

  /** `frames` were sent at `now`: a flush of several large frames may take the bucket below zero, which later flushes wait out. */
  sent(frames: number, now: number): void {
    this.#refill(now);
    this.#tokens -= frames;
  }

  #refill(now: number): void {
    if (now > this.#at) this.#tokens = Math.min(SDK_FRAME_BURST, this.#tokens + ((now - this.#at) * SDK_FRAMES_PER_SECOND) / 1000);
    this.#at = Math.max(this.#at, now);
  }
}
