// Reconnect delays: full jitter between 0 and an exponential ceiling, a cap that holds for any attempt,
// and a relay's retry hint as a floor.
import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from "../../../client/backoff.ts";

const options: BackoffOptions = { baseMs: 100, capMs: 10_000, minUptimeMs: 1_000 };
const JUST_UNDER_ONE = 1 - Number.EPSILON;

describe("backoffDelay", () => {
  it("is 0 when the random draw is 0, for every attempt", () => {
    for (const attempt of [0, 1, 5, 50]) expect(backoffDelay(options, attempt, 0)).toBe(0);
  });

  it("stays just under base * 2^attempt when the draw is just under 1", () => {
    expect(backoffDelay(options, 0, JUST_UNDER_ONE)).toBe(99);
    expect(backoffDelay(options, 1, JUST_UNDER_ONE)).toBe(199);
    expect(backoffDelay(options, 3, JUST_UNDER_ONE)).toBe(799);
    expect(backoffDelay(options, 6, JUST_UNDER_ONE)).toBe(6_399);
  });

  it("spreads delays uniformly over [0, ceiling): the draw scales the delay linearly", () => {
    expect(backoffDelay(options, 2, 0.25)).toBe(100);
    expect(backoffDelay(options, 2, 0.5)).toBe(200);
    expect(backoffDelay(options, 2, 0.75)).toBe(300);
  });

  it("never exceeds the cap, however many attempts failed", () => {
    expect(backoffDelay(options, 7, JUST_UNDER_ONE)).toBe(9_999); // 12,800 capped
    for (const attempt of [7, 30, 31, 50, 1000, Number.MAX_SAFE_INTEGER]) {
      const delay = backoffDelay(options, attempt, JUST_UNDER_ONE);
      expect(delay).toBe(9_999);
      expect(Number.isFinite(delay)).toBe(true);
    }
  });

  it("keeps the cap with the defaults too (30 s)", () => {
    expect(backoffDelay(DEFAULT_BACKOFF, 1000, JUST_UNDER_ONE)).toBe(DEFAULT_BACKOFF.capMs - 1);
    expect(backoffDelay(DEFAULT_BACKOFF, 0, JUST_UNDER_ONE)).toBe(DEFAULT_BACKOFF.baseMs - 1);
  });

  it("treats a retry hint as a floor: never sooner than the relay asked", () => {
    expect(backoffDelay(options, 0, 0, 5_000)).toBe(5_000);
    expect(backoffDelay(options, 0, JUST_UNDER_ONE, 5_000)).toBe(5_000);
    // A longer jittered delay is kept as it is.
    expect(backoffDelay(options, 6, JUST_UNDER_ONE, 1_000)).toBe(6_399);
  });

  it("obeys a retry hint longer than the cap", () => {
    expect(backoffDelay(options, 1000, JUST_UNDER_ONE, 60_000)).toBe(60_000);
  });
});
