// An append's data (and a transaction read back from the local store) is judged without the relay's
// decoding (transactionProblem): what it refuses must be exactly what the relay's decoding of the message
// refuses, or the SDK would let through a write the relay refuses, or refuse one it takes. (The codes can
// differ: text past the frame's limit is frame_too_large to the decoding, transaction_too_large to both ends'
// transactionSizeProblem, which append asks first.)
import { describe, expect, it } from "vitest";
import { MAX_TRANSACTION_BYTES, MAX_TRANSACTION_WIRE_BYTES, newSessionId, type DocId, type TransactionData } from "../../../protocol/index.ts";
import { refuseAsRelayWould, transactionProblem } from "../../../client/local-checks.ts";
import { LocalRefusalError } from "../../../client/index.ts";
import { seededRandom } from "../../support/random.ts";
import { testAgent, testHeader } from "../../support/identity.ts";

const who = testAgent(7);
const doc: DocId = testHeader(who, "g").id;
const session = newSessionId(who.agent);

/** The code the relay's decoding refuses the message an append of `data` at `at` travels in with, if it does. */
function relayRefusal(at: number, data: TransactionData): string | undefined {
  try {
    refuseAsRelayWould({ type: "content", doc, sessions: { [session]: { after: 0, transactions: [{ at, data }], signature: "A".repeat(86) } } }, "append");
    return undefined;
  } catch (error) {
    if (!(error instanceof LocalRefusalError)) throw error;
    return error.code;
  }
}

/** The code transactionProblem refuses `data` at `at` with, if it does. */
const problemCode = (at: number, data: TransactionData): string | undefined => transactionProblem({ at, data })?.[0];

/** Characters that cost JSON the most, or that UTF-16 can get wrong, beside plain ones. */
const PIECES = ["a", "Z", " ", "é", "中", "😀", '"', "\\", "\n", "\u0000", "\u001f", "\u2028", "\ud800", "\udc00", "\ud83d"];

function text(random: () => number, length: number, pieces: readonly string[]): string {
  const parts: string[] = [];
  for (let units = 0; units < length; ) {
    const piece = pieces[Math.floor(random() * pieces.length)]!;
    parts.push(piece);
    units += piece.length;
  }
  return parts.join("");
}

/** Lengths mostly small, some about the bounds transactionSizeProblem draws (a third of the limit, the limit, the wire's sixth). */
function length(random: () => number): number {
  const near = [MAX_TRANSACTION_BYTES / 3, MAX_TRANSACTION_BYTES / 2, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_WIRE_BYTES / 6][Math.floor(random() * 4)]!;
  return random() < 0.7 ? Math.floor(random() * 200) : Math.max(0, Math.floor(near + (random() - 0.5) * 64));
}

function time(random: () => number): number {
  const odd = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, Number.MAX_SAFE_INTEGER, 0];
  return random() < 0.85 ? 1_700_000_000_000 + Math.floor(random() * 1e6) : odd[Math.floor(random() * odd.length)]!;
}

describe("an append's data judged without the relay's decoding", () => {
  it("transactionProblem refuses exactly what the relay's decoding refuses, for text, bytes and times of every kind", () => {
    let taken = 0;
    let refused = 0;
    for (let seed = 1; seed <= 4; seed++) {
      const random = seededRandom(seed);
      for (let i = 0; i < 150; i++) {
        const at = time(random);
        const kind = random();
        // Text of every character; text of the characters JSON escapes to six bytes, about the wire's limit; bytes.
        const data: TransactionData =
          kind < 0.6 ? text(random, length(random), PIECES) : kind < 0.8 ? text(random, length(random), ["\u0000", "\u001f", "a"]) : new Uint8Array(length(random));
        const expected = relayRefusal(at, data);
        expect({ seed, i, at, kind: typeof data, length: data.length, refused: problemCode(at, data) !== undefined }).toEqual({ seed, i, at, kind: typeof data, length: data.length, refused: expected !== undefined });
        if (expected === undefined) taken++;
        else refused++;
      }
    }
    // Both sides of the line were tried, many times each.
    expect(taken).toBeGreaterThan(150);
    expect(refused).toBeGreaterThan(150);
  });

  it("text at the limits, judged both ways", () => {
    const at = 1_700_000_000_000;
    for (const data of ["x".repeat(MAX_TRANSACTION_BYTES), "x".repeat(MAX_TRANSACTION_BYTES + 1), "é".repeat(MAX_TRANSACTION_BYTES / 2), "é".repeat(MAX_TRANSACTION_BYTES / 2 + 1), "\u0000".repeat(Math.floor(MAX_TRANSACTION_WIRE_BYTES / 6)), "\u0000".repeat(Math.floor(MAX_TRANSACTION_WIRE_BYTES / 6) + 1)]) {
      expect(problemCode(at, data) !== undefined).toBe(relayRefusal(at, data) !== undefined);
    }
    expect(problemCode(at, "x".repeat(MAX_TRANSACTION_BYTES))).toBeUndefined();
    expect(problemCode(at, "x".repeat(MAX_TRANSACTION_BYTES + 1))).toBe("transaction_too_large");
  });
});
