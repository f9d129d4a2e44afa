// The relay's read path on the real Durable Object and SQLite: it serves stored chunks by scanning them and
// putting each text's stored JSON literal in the frame as it is (worker/transaction-chunks.ts readChunk).
// Whatever the text holds, a load and a resume from the middle of a chunk get every transaction exactly as
// appended (text as text, bytes as bytes), in frames the SDK accepts.
import { afterEach, describe, expect, it } from "vitest";
import { GENESIS_HASH, MAX_FRAME_BYTES, chainHash, type Transaction } from "../../protocol/index.ts";
import { comparableAll } from "../support/bytes.ts";
import { testAgent, testHeader } from "../support/identity.ts";
import { seededRandom } from "../unit/seeded-random.ts";
import { SessionWriter, closeAll, connect, emptyKnown, takeContent, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(91);
const bob = testAgent(92);

const random = seededRandom(0xfeed);
const PIECES = ['"', "\\", '\\"', "\n", "\u0000", "\u001f", "\u007f", "é", "一", "😀", "\u2028", "/", "],[", '","', "x".repeat(50)];
const randomData = (): string | Uint8Array =>
  random.below(6) === 0 ? random.bytes(random.below(300)) : Array.from({ length: random.below(20) }, () => PIECES[random.below(PIECES.length)]).join("");

/** What a peer received of `doc` in content frames, in order, checking each chunk follows the one before. */
function received(peer: Peer, doc: Parameters<typeof takeContent>[1], session: string, from: number): Transaction[] {
  const chunks = takeContent(peer, doc).get(session as never) ?? [];
  const all: Transaction[] = [];
  for (const chunk of chunks) {
    expect(chunk.after).toBe(from + all.length);
    all.push(...chunk.transactions);
  }
  return all;
}

describe("the read path", () => {
  it("a load and a resume from mid-chunk get 3,000 transactions of random text and bytes exactly as appended", async () => {
    const group = uniqueGroup("read-path");
    const { id, header } = testHeader(alice, group);
    const log = new SessionWriter(alice, id);
    const a = await connect(group, alice);
    const written: Transaction[] = [];
    for (let batch = 0; batch < 15; batch++) {
      const transactions = Array.from({ length: 200 }, (_, i) => ({ at: 1_700_000_000_000 + batch * 1000 + i * random.below(3), data: randomData() }));
      a.send(log.content(transactions, batch === 0 ? header : undefined));
      await a.next("known", (k) => k.reason === "ack");
      written.push(...transactions);
    }

    const b = await connect(group, bob);
    b.send({ type: "load", doc: id, known: emptyKnown });
    await b.next("known", (k) => k.reason === "load");
    const loaded = received(b, id, alice.session, 0);
    expect(comparableAll(loaded.map((transaction) => transaction.data))).toEqual(comparableAll(written.map((transaction) => transaction.data)));
    expect(loaded.map((transaction) => transaction.at)).toEqual(written.map((transaction) => transaction.at));
    // The chain the relay serves is the chain the writer signed.
    expect(chainHash(GENESIS_HASH, loaded)).toBe(log.lastHash);

    // A resume from an index inside a stored chunk.
    b.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 1234 } } });
    await b.next("known", (k) => k.reason === "load");
    const resumed = received(b, id, alice.session, 1234);
    expect(comparableAll(resumed.map((transaction) => transaction.data))).toEqual(comparableAll(written.slice(1234).map((transaction) => transaction.data)));

    expect(b.undecodable).toEqual([]);
    expect(Math.max(...b.received.map((message) => message.bytes))).toBeLessThanOrEqual(MAX_FRAME_BYTES);
  });
});
