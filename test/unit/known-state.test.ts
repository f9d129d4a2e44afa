// Known-state math: the union of what two sides hold, whether one holds all the other does, and exactly
// which ranges one side must send so the other catches up. Examples first, then properties over seeded
// random states.
import { describe, expect, it } from "vitest";
import {
  emptyKnownState,
  isSubset,
  knownStatesEqual,
  mergeKnownStates,
  missing,
  transactionCount,
  type KnownState,
  type SessionId,
} from "../../protocol/index.ts";
import { testAgent } from "../support/identity.ts";
import { seededRandom, type Random } from "./seeded-random.ts";

// Session ids are real ones; "a" sorts before "b" and "c" because the agent part is the same.
const a = testAgent(1, "session-a").session;
const b = testAgent(1, "session-b").session;
const c = testAgent(1, "session-c").session;

const known = (header: boolean, sessions: Partial<Record<SessionId, number>>): KnownState => ({
  header,
  sessions: sessions as Record<SessionId, number>,
});

describe("mergeKnownStates", () => {
  it("keeps the larger count of every session and any header", () => {
    const merged = mergeKnownStates(known(false, { [a]: 5, [b]: 1 }), known(true, { [b]: 3, [c]: 2 }));
    expect(merged).toEqual(known(true, { [a]: 5, [b]: 3, [c]: 2 }));
  });

  it("does not change its inputs", () => {
    const left = known(false, { [a]: 1 });
    const right = known(true, { [a]: 4, [b]: 2 });
    mergeKnownStates(left, right);
    expect(left).toEqual(known(false, { [a]: 1 }));
    expect(right).toEqual(known(true, { [a]: 4, [b]: 2 }));
  });
});

describe("isSubset and knownStatesEqual", () => {
  it("a state is a subset of one that holds more, not the other way round", () => {
    const small = known(false, { [a]: 2 });
    const large = known(true, { [a]: 3, [b]: 1 });
    expect(isSubset(small, large)).toBe(true);
    expect(isSubset(large, small)).toBe(false);
  });

  it("a header the other side lacks breaks the subset", () => {
    expect(isSubset(known(true, {}), known(false, { [a]: 9 }))).toBe(false);
  });

  it("one more transaction in one session breaks the subset", () => {
    expect(isSubset(known(false, { [a]: 3, [b]: 4 }), known(false, { [a]: 3, [b]: 3 }))).toBe(false);
  });

  it("the empty state is a subset of everything", () => {
    expect(isSubset(emptyKnownState(), known(false, {}))).toBe(true);
    expect(isSubset(emptyKnownState(), known(true, { [a]: 1 }))).toBe(true);
  });

  it("treats a session with count 0 as absent", () => {
    expect(knownStatesEqual(known(true, { [a]: 0, [b]: 2 }), known(true, { [b]: 2 }))).toBe(true);
  });

  it("tells apart states that differ in the header or in one count", () => {
    expect(knownStatesEqual(known(true, { [a]: 1 }), known(false, { [a]: 1 }))).toBe(false);
    expect(knownStatesEqual(known(true, { [a]: 1 }), known(true, { [a]: 2 }))).toBe(false);
    expect(knownStatesEqual(known(true, { [a]: 1 }), known(true, { [a]: 1, [b]: 1 }))).toBe(false);
  });
});

describe("missing", () => {
  it("lists what `have` lacks of `want`, one range per session, sorted by session", () => {
    const have = known(true, { [b]: 2, [a]: 7 });
    const want = known(true, { [c]: 1, [b]: 5, [a]: 7 });
    expect(missing(have, want)).toEqual({
      header: false,
      ranges: [
        { session: b, from: 2, to: 5 },
        { session: c, from: 0, to: 1 },
      ],
    });
  });

  it("asks for the header only when `want` has it and `have` does not", () => {
    expect(missing(known(false, {}), known(true, {})).header).toBe(true);
    expect(missing(known(true, {}), known(true, {})).header).toBe(false);
    expect(missing(known(true, {}), known(false, {})).header).toBe(false);
    expect(missing(known(false, {}), known(false, {})).header).toBe(false);
  });

  it("sends nothing for sessions where `have` is ahead", () => {
    expect(missing(known(true, { [a]: 10 }), known(true, { [a]: 4 }))).toEqual({ header: false, ranges: [] });
  });

  it("sorts ranges by session even when `want` lists them in reverse", () => {
    const want = known(false, { [c]: 1, [b]: 1, [a]: 1 });
    expect(missing(emptyKnownState(), want).ranges.map((range) => range.session)).toEqual([a, b, c]);
  });
});

describe("transactionCount", () => {
  it("adds up the counts of every session", () => {
    expect(transactionCount(known(true, { [a]: 3, [b]: 0, [c]: 12 }))).toBe(15);
    expect(transactionCount(emptyKnownState())).toBe(0);
  });
});

describe("properties over 300 seeded random known states", () => {
  const sessions = Array.from({ length: 6 }, (_, i) => testAgent(1 + (i % 3), `session-${i}`).session);

  const randomKnownState = (random: Random): KnownState => {
    const state = known(random.below(2) === 1, {});
    for (const session of sessions) {
      const roll = random.below(4);
      if (roll === 0) continue; // absent
      state.sessions[session] = roll === 1 ? 0 : random.below(50);
    }
    return state;
  };

  const random = seededRandom(20_251_130);
  const triples = Array.from({ length: 300 }, () => [randomKnownState(random), randomKnownState(random), randomKnownState(random)] as const);

  /** What a peer holding `have` holds after receiving every range and the header `missing` lists. */
  function apply(have: KnownState, delta: ReturnType<typeof missing>): KnownState {
    const after = known(have.header || delta.header, { ...have.sessions });
    for (const range of delta.ranges) {
      expect(range.from).toBe(after.sessions[range.session] ?? 0); // ranges start exactly where `have` ends
      expect(range.to).toBeGreaterThan(range.from);
      after.sessions[range.session] = range.to;
    }
    return after;
  }

  it("merge is commutative", () => {
    for (const [x, y] of triples) expect(knownStatesEqual(mergeKnownStates(x, y), mergeKnownStates(y, x))).toBe(true);
  });

  it("merge is associative", () => {
    for (const [x, y, z] of triples) {
      const left = mergeKnownStates(mergeKnownStates(x, y), z);
      const right = mergeKnownStates(x, mergeKnownStates(y, z));
      expect(knownStatesEqual(left, right)).toBe(true);
    }
  });

  it("merge is idempotent, and both inputs are subsets of the merge", () => {
    for (const [x, y] of triples) {
      expect(knownStatesEqual(mergeKnownStates(x, x), x)).toBe(true);
      const merged = mergeKnownStates(x, y);
      expect(isSubset(x, merged) && isSubset(y, merged)).toBe(true);
    }
  });

  it("sending `missing(x, merge(x, y))` to a peer holding x leaves it holding the merge", () => {
    for (const [x, y] of triples) {
      const merged = mergeKnownStates(x, y);
      expect(knownStatesEqual(apply(x, missing(x, merged)), merged)).toBe(true);
    }
  });

  it("missing ranges hold exactly the transactions the merge adds", () => {
    for (const [x, y] of triples) {
      const merged = mergeKnownStates(x, y);
      const sent = missing(x, merged).ranges.reduce((sum, range) => sum + range.to - range.from, 0);
      expect(sent).toBe(transactionCount(merged) - transactionCount(x));
    }
  });

  it("missing(x, x) is empty, and so is missing(x, y) whenever y is a subset of x", () => {
    for (const [x, y] of triples) {
      expect(missing(x, x)).toEqual({ header: false, ranges: [] });
      expect(missing(mergeKnownStates(x, y), y)).toEqual({ header: false, ranges: [] });
    }
  });

  it("x is a subset of y exactly when merging x into y changes nothing", () => {
    for (const [x, y] of triples) {
      expect(isSubset(x, y)).toBe(knownStatesEqual(mergeKnownStates(x, y), y));
      expect(isSubset(x, mergeKnownStates(x, y))).toBe(true);
    }
  });
});
