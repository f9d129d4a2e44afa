// The directory digest cannot be cancelled (issue 10, item 8). Under the XOR digest a writer could pick,
// from a few hundred candidate headers, a subset whose hashes XOR to zero (Gaussian elimination over GF(2));
// creating those documents left the group's digest unchanged, and a peer asking `dir {since, digest}` was
// told inSync and jumped past them for good. The set hash (protocol/digest.ts) changes with them.
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson, docIdOf, digestOf, sha256, utf8, type DocHeader, type DocId } from "../../protocol/index.ts";
import { testAgent } from "../support/identity.ts";
import { closeAll, connect, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const mallory = testAgent(61);
const bob = testAgent(62);

/** The element hash of a header-only document under the XOR digest, as an integer of 256 bits. */
const xorElement = (doc: DocId): bigint =>
  sha256(utf8(canonicalJson(["weft/digest/v2", doc]))).reduce((value, byte) => (value << 8n) | BigInt(byte), 0n);

/** Indices of a non-empty subset of `vectors` whose XOR is zero (there is one once there are more than 256). */
function cancellingSubset(vectors: bigint[]): number[] {
  const basis = new Map<number, { vector: bigint; combination: bigint }>(); // by leading bit
  for (let i = 0; i < vectors.length; i++) {
    let vector = vectors[i]!;
    let combination = 1n << BigInt(i);
    while (vector !== 0n) {
      const lead = vector.toString(2).length - 1;
      const row = basis.get(lead);
      if (!row) break;
      vector ^= row.vector;
      combination ^= row.combination;
    }
    if (vector === 0n) return [...combination.toString(2)].reverse().flatMap((bit, index) => (bit === "1" ? [index] : []));
    basis.set(vector.toString(2).length - 1, { vector, combination });
  }
  throw new Error("no dependency among the candidates");
}

async function dir(peer: Peer, request: { since?: number; digest?: string } = {}) {
  peer.send({ type: "dir", ...request });
  return peer.next("dir");
}

describe("directory digest", () => {
  it("documents crafted to cancel under XOR still change the digest, so a peer is not told inSync past them", async () => {
    const group = uniqueGroup("dir-cancel");
    const candidates: { id: DocId; header: DocHeader }[] = [];
    for (let n = 0; n < 300; n++) {
      const header: DocHeader = { group, kind: "json", creator: mallory.agent, createdAt: 1_700_000_000_000, nonce: `craft-${n}`, meta: {} };
      candidates.push({ id: docIdOf(header), header });
    }
    const crafted = cancellingSubset(candidates.map((candidate) => xorElement(candidate.id))).map((index) => candidates[index]!);
    expect(crafted.length).toBeGreaterThan(1);

    const b = await connect(group, bob);
    const before = await dir(b);
    const m = await connect(group, mallory);
    for (const { id, header } of crafted) {
      m.send({ type: "content", doc: id, header, sessions: {} });
      await m.next("known", (k) => k.doc === id);
    }

    const answer = await dir(b, { since: before.cursor, digest: before.digest });
    expect(answer.inSync).toBe(false);
    expect(answer.digest).not.toBe(before.digest);
    expect(answer.docs.map((entry) => entry.id).sort()).toEqual(crafted.map((doc) => doc.id).sort());
    expect(digestOf(answer.docs.map((entry) => [entry.id, entry.known]))).toBe(answer.digest);
    await Promise.all([b.close(), m.close()]);
  }, 30_000);
});
