// Seeded, bounded fuzzing of the relay core and driver over MemoryStore (see test/support/relay-fuzz.ts):
// nothing throws out of `step`, every frame the decoder refuses (text or binary) gets its stable code and a
// close, and the honest writer's data (text and bytes) and the honest reader's live updates are exactly what
// was written.
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../protocol/index.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { runFuzz } from "../support/relay-fuzz.ts";

describe("relay fuzz", () => {
  it.each([1, 2, 3])("seed %i: 300 hostile frames leave the honest peers untouched", { timeout: 20_000 }, async (seed) => {
    const outcome = await runFuzz(new MemoryStore(), seed, 300);
    expect(outcome.undecodable).toEqual([]);
    expect(outcome.live).toEqual(outcome.stored);
    expect(outcome.acks.at(-1)).toBe(outcome.stored.length);
    expect(outcome.acks).toEqual([...outcome.acks].sort((a, b) => a - b));
    for (const answer of outcome.answers) {
      const codes = answer.replace(/ closed \d+$/, "").split(",");
      for (const code of codes) expect(code === "ok" || (ERROR_CODES as string[]).includes(code)).toBe(true);
    }
    // The run exercised both sides: frames refused with a close, and frames accepted.
    expect(outcome.answers.some((answer) => answer.includes("closed 1007"))).toBe(true);
    expect(outcome.answers.some((answer) => answer === "ok")).toBe(true);
    // Binary frames too: well-formed ones taken, malformed ones refused with a close, none thrown.
    expect(outcome.binaryAnswers.length).toBeGreaterThan(50);
    expect(outcome.binaryAnswers.some((answer) => answer.includes("closed 1007"))).toBe(true);
    expect(outcome.binaryAnswers.some((answer) => answer === "ok")).toBe(true);
    expect(outcome.stored.some((transaction) => transaction.data instanceof Uint8Array)).toBe(true);
  });
});
