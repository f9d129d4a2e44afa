// The directory digest cannot be cancelled (issue 10, item 8). Under the XOR digest a writer could pick,
// from a few hundred candidate headers, a subset whose hashes XOR to zero (Gaussian elimination over GF(2));
// creating those documents left the group's digest unchanged, and a peer asking `dir {since, digest}` was
// told inSync and jumped past them for good. The set hash (protocol/digest.ts) changes with them.
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { batchFrame, canonicalJson, docIdOf, digestOf, encodeForBatch, sha256, utf8, type ClientMessage, type DocHeader, type DocId } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { closedGroup } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, groupStub, sqlRows, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const mallory = testAgent(61);
const bob = testAgent(62);
const alice = testAgent(63);

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

/**
 * Asks for the whole directory and checks its digest is the one a client computes from what it lists, and
 * that a client holding exactly that is told inSync. Returns the digest.
 */
async function expectDigestOfListing(peer: Peer): Promise<string> {
  const full = await dir(peer);
  expect(full.more).toBe(false);
  const live = full.docs.filter((entry) => !entry.deleted).map((entry) => [entry.id, entry.known] as const);
  expect(full.digest).toBe(digestOf(live));
  expect(await dir(peer, { digest: full.digest })).toMatchObject({ inSync: true, digest: full.digest });
  return full.digest;
}

describe("directory digest, folded when asked for", () => {
  it("stays exact through writes, a new session, hibernation, a restart and a deletion, each with writes not yet folded", async () => {
    const { group, adminPeer } = await closedGroup("digest-lazy", alice, [[bob, "writer"]]);
    let a = adminPeer;
    let b = await connect(group, bob);
    const one = testHeader(alice, group, "one");
    const two = testHeader(bob, group, "two");
    const aliceOne = new SessionWriter(alice, one.id);
    const bobOne = new SessionWriter(bob, one.id);
    const bobTwo = new SessionWriter(bob, two.id);
    const write = async (peer: Peer, log: SessionWriter, count: number, header?: DocHeader) => {
      peer.send(log.content(transactions(count, `${log.count}`), header));
      await peer.next("known", (k) => k.doc === log.doc && k.reason === "ack");
    };
    await write(a, aliceOne, 1, one.header);
    await write(b, bobTwo, 2, two.header);
    const first = await expectDigestOfListing(b);

    for (let i = 0; i < 5; i++) await write(a, aliceOne, 1);
    await write(b, bobOne, 3); // a second session in a document
    // The rows say what waits: the sessions written since the last dir are not folded yet.
    expect(await sqlRows(group, "SELECT count(*) AS n FROM sessions WHERE digested IS NOT NULL")).toEqual([{ n: 2 }]);
    const second = await expectDigestOfListing(b);
    expect(second).not.toBe(first);
    expect(await sqlRows(group, "SELECT count(*) AS n FROM sessions WHERE digested IS NOT NULL")).toEqual([{ n: 0 }]);

    // Written, then hibernated with the write unfolded; the woken object writes again before the dir.
    await write(a, aliceOne, 2);
    await evictDurableObject(groupStub(group));
    await write(b, bobTwo, 1);
    const third = await expectDigestOfListing(a);
    expect(third).not.toBe(second);

    // Written, then restarted (every socket dropped, a fresh instance from storage), asked at once.
    await write(b, bobOne, 1);
    await evictDurableObject(groupStub(group), { webSockets: "close" });
    a = await connect(group, alice);
    b = await connect(group, bob);
    const fourth = await expectDigestOfListing(b);
    expect(fourth).not.toBe(third);

    // Deleted with writes to it unfolded: it leaves the digest whole.
    await write(a, aliceOne, 1);
    await write(b, bobOne, 1);
    a.send({ type: "delete", doc: one.id });
    await a.next("deleted", (m) => m.doc === one.id);
    const fifth = await expectDigestOfListing(b);
    const afterDelete = await dir(b);
    expect(afterDelete.docs.find((entry) => entry.id === one.id)).toMatchObject({ deleted: true });
    expect(fifth).toBe(digestOf(afterDelete.docs.filter((entry) => entry.id !== one.id && !entry.deleted).map((entry) => [entry.id, entry.known])));
  }, 30_000);

  it("a frame of more new documents than may wait is folded as it is stored, and the next writes wait again", async () => {
    const group = uniqueGroup("digest-many");
    const a = await connect(group, alice);
    const docs = Array.from({ length: 70 }, (_, i) => testHeader(alice, group, `many-${i}`));
    const logs = docs.map(({ id }) => new SessionWriter(alice, id));
    a.sendRaw(batchFrame(docs.map(({ header }, i) => encodeForBatch(logs[i]!.content(transactions(2, `d${i}`), header) as ClientMessage))));
    for (const { id } of docs) await a.next("known", (k) => k.doc === id && k.reason === "ack");
    // Stored folded: nothing waits, no row was written twice.
    expect(await sqlRows(group, "SELECT count(*) AS n FROM sessions WHERE digested IS NOT NULL")).toEqual([{ n: 0 }]);
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs WHERE digested IS NOT NULL")).toEqual([{ n: 0 }]);
    const created = await expectDigestOfListing(a);
    a.send(logs[3]!.content(transactions(1, "later")));
    await a.next("known", (k) => k.doc === docs[3]!.id && k.reason === "ack");
    expect(await sqlRows(group, "SELECT count(*) AS n FROM sessions WHERE digested IS NOT NULL")).toEqual([{ n: 1 }]);
    expect(await expectDigestOfListing(a)).not.toBe(created);
  }, 30_000);
});
