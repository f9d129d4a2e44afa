// Seeded, bounded fuzzing of the relay core and driver over MemoryStore (see test/support/relay-fuzz.ts):
// nothing throws out of `step`, every frame the decoder refuses (text or binary) gets its stable code and a
// close, and the honest writer's data (text and bytes) and the honest reader's live updates are exactly what
// was written.
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../protocol/index.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { FUZZ_GROUP, runFuzz } from "../support/relay-fuzz.ts";
import { testAgent, testHeader } from "../support/identity.ts";

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
    // A new reader afterwards is sent Alice's document (her last transaction included) for a load from
    // nothing and for an open, with the relay's known state of it, and the directory lists it at that count.
    const alice = testAgent(81);
    const doc = testHeader(alice, FUZZ_GROUP, "fuzz-alice").id;
    const last = `tx ${doc} ${alice.session} ${outcome.stored.length - 1} `;
    for (const lines of [outcome.reads.loads, outcome.reads.open]) {
      expect(lines.some((line) => line.startsWith(last))).toBe(true);
      expect(lines.some((line) => line.startsWith(`known ${doc} load true`) && line.includes(`["${alice.session}",${outcome.stored.length}]`))).toBe(true);
    }
    expect(outcome.reads.open.some((line) => line.startsWith("opened "))).toBe(true);
    expect(outcome.reads.dir.some((line) => line.startsWith(`entry ${doc} false`) && line.includes(`["${alice.session}",${outcome.stored.length}]`))).toBe(true);
  });
});
