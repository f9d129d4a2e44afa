// The frame rate both ends keep to: a token bucket of `burst` frames refilled at `perSecond`. The relay
// closes a socket that empties its bucket (worker/core/frame-budget.ts); the SDK waits on a bucket of its own
// at a lower rate (client/frame-pace.ts). One refill for both, so the pace the SDK keeps is the one the relay
// counts.

export type FrameRate = { readonly perSecond: number; readonly burst: number };
/** Frames that may still be sent, as of `at` (ms). */
export type FrameBucket = { tokens: number; at: number };

/** Fills `bucket` for the time since its last fill, up to the burst. A clock that went back fills nothing. */
export function refill(bucket: FrameBucket, rate: FrameRate, now: number): FrameBucket {
  if (now > bucket.at) {
    bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.at) * rate.perSecond) / 1000);
    bucket.at = now;
  }
  return bucket;
}
