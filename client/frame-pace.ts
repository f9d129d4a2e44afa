// The pace of the frames one socket sends the relay, which closes a socket past FRAMES_PER_SECOND_PER_PEER
// (`too_many_frames`): a token bucket of SDK_FRAME_BURST refilled at SDK_FRAMES_PER_SECOND, well under it.
// What a tick queues leaves as one flush; a flush that finds the bucket empty waits for it, and whatever
// is queued meanwhile goes in the same frames.
import { SDK_FRAMES_PER_SECOND, SDK_FRAME_BURST, refill, type FrameBucket, type FrameRate } from "../protocol/index.ts";

const SDK_FRAME_RATE: FrameRate = { perSecond: SDK_FRAMES_PER_SECOND, burst: SDK_FRAME_BURST };

export class FramePace {
  readonly #bucket: FrameBucket = { tokens: SDK_FRAME_BURST, at: 0 };

  /** How long (ms) a flush at `now` waits for the pace; 0: it may go now. */
  waitMs(now: number): number {
    const { tokens } = refill(this.#bucket, SDK_FRAME_RATE, now);
    return tokens >= 1 ? 0 : ((1 - tokens) * 1000) / SDK_FRAMES_PER_SECOND;
  }

  /** `frames` were sent at `now`: a flush of several large frames may take the bucket below zero, which later flushes wait out. */
  sent(frames: number, now: number): void {
    refill(this.#bucket, SDK_FRAME_RATE, now).tokens -= frames;
  }
}
