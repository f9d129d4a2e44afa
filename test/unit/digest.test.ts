// The set hash behind the directory digest (protocol/digest.ts): order-free, incremental, and removable.
import { describe, expect, it } from "vitest";
import { EMPTY_DIGEST, EMPTY_DIGEST_SUM, digestOf, digestOfSum, digestSumOf, updateDigestSum, type DocId, type KnownState } from "../../protocol/index.ts";

const doc = (n: number) => `doc_${String(n).padStart(43, "x")}` as DocId;
const known = (sessions: Record<string, number>): KnownState => ({ header: true, sessions: sessions as KnownState["sessions"] });
const none: KnownState = { header: false, sessions: {} };

describe("digest", () => {
  it("is the same whatever the order, and the empty set has the published empty digest", () => {
    const docs: [DocId, KnownState][] = [[doc(1), known({ "ag_a~1": 3 })], [doc(2), known({})], [doc(3), known({ "ag_a~1": 1, "ag_b~2": 7 })]];
    expect(digestOf(docs)).toBe(digestOf([...docs].reverse()));
    expect(digestOf([])).toBe(EMPTY_DIGEST);
    expect(digestOfSum(EMPTY_DIGEST_SUM)).toBe(EMPTY_DIGEST);
    expect(EMPTY_DIGEST).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("updating one session's count incrementally gives the digest computed from scratch; removing a document restores the one before", () => {
    const base: [DocId, KnownState][] = [[doc(1), known({ "ag_a~1": 3 })], [doc(2), known({ "ag_b~2": 2 })]];
    let sum = digestSumOf(base);
    sum = updateDigestSum(sum, doc(1), known({ "ag_a~1": 3 }), known({ "ag_a~1": 5 }));
    expect(digestOfSum(sum)).toBe(digestOf([[doc(1), known({ "ag_a~1": 5 })], base[1]!]));
    sum = updateDigestSum(sum, doc(3), none, known({ "ag_c~3": 1 }));
    sum = updateDigestSum(sum, doc(3), known({ "ag_c~3": 1 }), none);
    expect(digestOfSum(sum)).toBe(digestOf([[doc(1), known({ "ag_a~1": 5 })], base[1]!]));
    // A document counted twice is not the same as once: a sum, not an XOR, so pairs do not cancel.
    expect(digestOfSum(updateDigestSum(digestSumOf(base), doc(2), none, known({ "ag_b~2": 2 })))).not.toBe(digestOf([base[0]!]));
  });
});
