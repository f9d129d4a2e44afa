// The own chain's hashes, kept as bytes in one buffer (client/core/own-hashes.ts): what goes in comes back,
// in bytes and in base64url, as the list grows past its buffer, is cut short and loses its first hashes to a
// snapshot; and a document restored with thousands of own writes, then cut by a snapshot, signs and checks
// the same hashes as the chain computed afresh.
import { describe, expect, it } from "vitest";
import { OwnHashes } from "../../../client/core/own-hashes.ts";
import { appendOwn, applySnapshot, newDocState, ownHashAt, restoreDoc } from "../../../client/core/doc-state.ts";
import { GENESIS_HASH, chainHash, sha256, toBase64Url, type DocId, type SessionId, type Snapshot, type Transaction } from "../../../protocol/index.ts";
import { testAgent } from "../../support/identity.ts";

const hashOf = (n: number): Uint8Array => sha256(new Uint8Array([n & 255, n >> 8]));

describe("OwnHashes", () => {
  it("gives back each hash pushed, in bytes and base64url, past several growths of its buffer", () => {
    const hashes = new OwnHashes();
    for (let i = 0; i < 1_000; i++) hashes.push(hashOf(i));
    expect(hashes.length).toBe(1_000);
    for (const i of [0, 1, 15, 16, 17, 511, 999]) {
      expect([...hashes.bytesAt(i)]).toEqual([...hashOf(i)]);
      expect(hashes.at(i)).toBe(toBase64Url(hashOf(i)));
    }
  });

  it("is cut short, then grows again from there", () => {
    const hashes = new OwnHashes();
    for (let i = 0; i < 40; i++) hashes.push(hashOf(i));
    hashes.truncate(10);
    expect(hashes.length).toBe(10);
    hashes.push(hashOf(500));
    expect(hashes.at(10)).toBe(toBase64Url(hashOf(500)));
    expect(hashes.at(9)).toBe(toBase64Url(hashOf(9)));
    hashes.truncate(99);
    expect(hashes.length).toBe(11);
    hashes.truncate(0);
    expect(hashes.length).toBe(0);
  });

  it("refuses a hash it does not hold, rather than hand out bytes left in its buffer", () => {
    const hashes = new OwnHashes();
    for (let i = 0; i < 5; i++) hashes.push(hashOf(i));
    hashes.truncate(3);
    expect(() => hashes.bytesAt(3)).toThrow(RangeError);
    expect(() => hashes.at(4)).toThrow(RangeError);
    expect(() => hashes.bytesAt(-1)).toThrow(RangeError);
    expect(hashes.at(2)).toBe(toBase64Url(hashOf(2)));
  });

  it("drops its first hashes, the rest moving to the front", () => {
    const hashes = new OwnHashes();
    for (let i = 0; i < 50; i++) hashes.push(hashOf(i));
    hashes.dropFirst(20);
    expect(hashes.length).toBe(30);
    expect(hashes.at(0)).toBe(toBase64Url(hashOf(20)));
    expect(hashes.at(29)).toBe(toBase64Url(hashOf(49)));
    hashes.push(hashOf(700));
    expect(hashes.at(30)).toBe(toBase64Url(hashOf(700)));
    hashes.dropFirst(100);
    expect(hashes.length).toBe(0);
  });

  it("cleared, holds none and takes new ones from the first", () => {
    const hashes = new OwnHashes();
    for (let i = 0; i < 100; i++) hashes.push(hashOf(i));
    hashes.clear();
    expect(hashes.length).toBe(0);
    hashes.push(hashOf(900));
    expect(hashes.at(0)).toBe(toBase64Url(hashOf(900)));
  });
});

describe("a document's own chain", () => {
  it("restored from the store and extended, holds the hash chainHash computes from the genesis at every count", () => {
    const own = `${testAgent(1).agent}~own-hashes` as SessionId;
    const stored: Transaction[] = Array.from({ length: 3_000 }, (_, i) => (i % 3 === 0 ? { at: 1_000 + i, data: new Uint8Array([i & 255, 7]) } : { at: 1_000 + i, data: `write ${i} é` }));
    const doc = newDocState("doc_x" as DocId, undefined);
    restoreDoc(doc, own, { id: doc.id, header: undefined as never, sessions: { [own]: stored } });
    const appended = [appendOwn(doc, own, "after the restore", 10_000), appendOwn(doc, own, new Uint8Array([9]), 10_001)];
    const all = [...stored, ...appended.map(({ at, data }) => ({ at, data }))];
    expect(ownHashAt(doc, own, 0)).toBe(GENESIS_HASH);
    for (const count of [1, 2, 17, 1_024, 2_999, 3_000, 3_001, 3_002]) expect(ownHashAt(doc, own, count)).toBe(chainHash(GENESIS_HASH, all.slice(0, count)));
    // A snapshot covering the first 1,000: the log and its hashes start there, and a write after it goes on from the same chain.
    const snapshot = { doc: doc.id, session: own, covers: { [own]: 1_000 }, data: "state", at: 5_000, signature: "" } as Snapshot;
    expect(applySnapshot(doc, { agent: testAgent(1).agent, session: own }, snapshot)).toBe(true);
    const later = appendOwn(doc, own, "after the snapshot", 10_002);
    all.push({ at: later.at, data: later.data });
    for (const count of [1_000, 1_001, 2_500, 3_002, 3_003]) expect(ownHashAt(doc, own, count)).toBe(chainHash(GENESIS_HASH, all.slice(0, count)));
  });
});
