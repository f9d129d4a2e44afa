// Reconnect delays: exponential backoff with full jitter and a cap, so a relay restart is not met by
// every client at the same instant. Pure but for jitterDraw: randomness comes in as an argument.

export type BackoffOptions = {
  /** First delay's upper bound, in ms. */
  baseMs: number;
  /** No delay is longer than this, in ms. */
  capMs: number;
  /** A connection must stay live this long before the attempt count resets, in ms. */
  minUptimeMs: number;
};

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, capMs: 30_000, minUptimeMs: 5_000 };

/**
 * Delay before reconnect attempt number `attempt` (0 for the first retry): uniform in
 * [0, min(cap, base * 2^attempt)], but never less than a retry hint the relay gave.
 */
export function backoffDelay(options: BackoffOptions, attempt: number, random: number, retryAfterMs = 0): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(retryAfterMs, Math.floor(random * ceiling));
}

/**
 * The draw for backoffDelay from the app's `random` (ConnectionOptions.random), or Math.random()'s where it
 * gives no number from 0 to 1 or throws: NaN or -1 made every delay 0, a reconnect loop without a pause,
 * and a throw escaped uncaught from the timer that reconnects.
 */
export function jitterDraw(random: (() => number) | undefined): number {
  try {
    const draw = random?.();
    if (typeof draw === "number" && draw >= 0 && draw <= 1) return draw;
  } catch {
    // An app's test hook with a bug: the backoff still jitters.
  }
  return Math.random();
}
