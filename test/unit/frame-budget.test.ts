// The relay's per-socket frame budget (worker/core/frame-budget.ts) and the SDK's pace under it
// (client/frame-pace.ts): a token bucket by the events' time, in memory only.
import { describe, expect, it } from "vitest";
import { FRAME_BURST_PER_PEER, FRAMES_PER_SECOND_PER_PEER, SDK_FRAME_BURST, SDK_FRAMES_PER_SECOND } from "../../protocol/index.ts";
import { FrameBudgets } from "../../worker/core/frame-budget.ts";
import { FramePace } from "../../client/frame-pace.ts";
import { initialState, step } from "../../worker/core/relay-core.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";

/** How many frames in a row at `now` the budget takes before it refuses one. */
function takenAt(budgets: FrameBudgets, peer: string, now: number): number {
  let taken = 0;
  while (budgets.take(peer, now)) taken++;
  return taken;
}

describe("FrameBudgets", () => {
  it("takes a burst at once, then the rate, and refuses past it", () => {
    const budgets = new FrameBudgets();
    expect(takenAt(budgets, "p", 1_000)).toBe(FRAME_BURST_PER_PEER);
    expect(budgets.take("p", 1_000)).toBe(false);
    expect(takenAt(budgets, "p", 2_000)).toBe(FRAMES_PER_SECOND_PER_PEER);
    // Idle for long, it holds no more than the burst.
    expect(takenAt(budgets, "p", 1_000_000)).toBe(FRAME_BURST_PER_PEER);
  });

  it("never refuses a peer sending at the rate, and counts each peer on its own", () => {
    const budgets = new FrameBudgets();
    const gapMs = 1000 / FRAMES_PER_SECOND_PER_PEER;
    for (let i = 0; i < 10 * FRAMES_PER_SECOND_PER_PEER; i++) expect(budgets.take("steady", i * gapMs)).toBe(true);
    takenAt(budgets, "flood", 0);
    expect(budgets.take("other", 0)).toBe(true);
  });

  it("refills nothing when the clock goes back, and starts a forgotten peer afresh", () => {
    const budgets = new FrameBudgets();
    takenAt(budgets, "p", 5_000);
    expect(budgets.take("p", 1_000)).toBe(false);
    budgets.forget("p");
    expect(takenAt(budgets, "p", 5_000)).toBe(FRAME_BURST_PER_PEER);
  });
});

describe("the relay core", () => {
  it("closes a socket over its budget with too_many_frames (1013, retryAfter) before it parses the frame", () => {
    const store = new MemoryStore();
    let state = initialState("g");
    state = step(state, { type: "opened", peer: "p", nonce: "n".repeat(22), now: 0 }, store).state;
    for (let i = 0; i < FRAME_BURST_PER_PEER; i++) step(state, { type: "frame", peer: "p", frame: "not json", now: 0 }, store);
    expect(state.peers.has("p")).toBe(false); // bad_frame closed it at the first
    state = step(state, { type: "opened", peer: "q", nonce: "n".repeat(22), now: 0 }, store).state;
    for (let i = 0; i < FRAME_BURST_PER_PEER; i++) step(state, { type: "frame", peer: "q", frame: '{"type":"ping" }', now: 0 }, store);
    const over = step(state, { type: "frame", peer: "q", frame: "not json", now: 0 }, store);
    expect(over.effects).toEqual([
      { type: "send", peer: "q", message: expect.objectContaining({ type: "error", code: "too_many_frames", retryAfter: expect.any(Number) }) },
      { type: "close", peer: "q", code: 1013, reason: "too_many_frames" },
      { type: "forgetPeer", peer: "q" },
    ]);
  });
});

describe("FramePace", () => {
  it("lets a burst go at once, then waits for the rate, and stays under the relay's budget", () => {
    const pace = new FramePace();
    const budgets = new FrameBudgets();
    let now = 0;
    for (let flush = 0; flush < 5_000; flush++) {
      now += pace.waitMs(now);
      expect(pace.waitMs(now)).toBe(0);
      // A flush of several large frames now and then takes the bucket below zero: the next ones wait it out.
      const frames = flush % 100 === 0 ? 5 : 1;
      pace.sent(frames, now);
      for (let i = 0; i < frames; i++) expect(budgets.take("sdk", now)).toBe(true);
    }
    expect(now).toBeGreaterThan(((5_000 - SDK_FRAME_BURST) / SDK_FRAMES_PER_SECOND) * 1000);
  });
});
