// A fresh client's load is kept, so the next fresh client of the same document is sent the same messages
// without the relay reading, packing or compressing them again (worker/core/load-cache.ts). What it must
// never do: send a kept answer that is no longer the whole document, send anything twice or out of order
// when the receiver's window fills at another place, keep a deleted document, or hold more than its bound.
// The real core and driver over a MemoryStore that counts its reads.
import { describe, expect, it } from "vitest";
import { ANSWER_WINDOW_BYTES, MAX_TRANSACTIONS_PER_FRAME, RELAY_FRAME_TARGET_BYTES, decodeServerFrame, signSnapshot, type DocId, type KnownState, type ServerMessage, type SessionId, type Transaction } from "../../protocol/index.ts";
import { LoadCache, keyOf, stateKey, type KeptSlice } from "../../worker/core/load-cache.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import type { TransactionRun } from "../../worker/core/store.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { seededRandom } from "./seeded-random.ts";
import { NOW, alice, bob, carol, doc1, doc2, nothingKnown, scenario, writer } from "./relay-transcript.ts";

/** A MemoryStore that counts the transactions it reads for answers. */
class CountingStore extends MemoryStore {
  read = 0;

  override *readRuns(doc: DocId, session: SessionId, from: number, to: number, limit?: number): Iterable<TransactionRun> {
    for (const run of super.readRuns(doc, session, from, to, limit)) {
      this.read += run.at.length;
      yield run;
    }
  }
}

/** Alice has written `count` transactions of `bytes` characters to `doc`, in frames the relay takes. */
async function written(setup: ReturnType<typeof scenario>, doc: typeof doc1, count: number, bytes = 20): Promise<(txs: Transaction[]) => Record<string, unknown>> {
  const write = writer(alice, doc);
  const all = transactions(count, `${doc.id.slice(-4)}-${"x".repeat(bytes)}`);
  for (let sent = 0; sent < count; sent += MAX_TRANSACTIONS_PER_FRAME) {
    await setup.send("alice", write(all.slice(sent, sent + MAX_TRANSACTIONS_PER_FRAME), { header: sent === 0 }));
  }
  return write;
}

async function relayWith(count: number, bytes?: number, peers: Parameters<typeof scenario>[0] = []) {
  const store = new CountingStore();
  const setup = scenario(peers, {}, store);
  await setup.connect("alice", alice);
  const write = await written(setup, doc1, count, bytes);
  setup.transcript();
  return { ...setup, store, write };
}

/** Every message `peer` was sent, decoded as the SDK would. */
function messagesTo(frames: { peer: string; text: string }[], peer: string): ServerMessage[] {
  return frames
    .filter((frame) => frame.peer === peer)
    .flatMap((frame) => {
      const decoded = decodeServerFrame(frame.text);
      if (!decoded.ok) throw new Error(decoded.reason);
      return decoded.message;
    });
}

/** The data of `doc` in what `peer` was sent, in order. */
const dataTo = (frames: { peer: string; text: string }[], peer: string, doc: DocId): string[] =>
  messagesTo(frames, peer).flatMap((message) =>
    message.type === "content" && message.doc === doc ? Object.values(message.sessions).flatMap((chunk) => chunk!.transactions.map((transaction) => transaction.data as string)) : [],
  );

const load = (doc: DocId, known: KnownState = nothingKnown) => ({ type: "load", doc, known });

describe("answers kept for fresh clients", () => {
  it("a second fresh client is sent the same messages, and the relay reads nothing for it", async () => {
    const { connect, send, store, transport, transcript, fireDueAlarms } = await relayWith(3_000);
    await connect("bob", bob);
    await connect("carol", carol);
    transcript();
    store.read = 0;
    await send("bob", load(doc1.id));
    await fireDueAlarms();
    expect(store.read).toBeGreaterThanOrEqual(3_000);
    const bobs = transcript().split("\n").filter((line) => line.startsWith("relay -> bob"));
    store.read = 0;
    await send("carol", load(doc1.id));
    await fireDueAlarms();
    expect(store.read).toBe(0);
    const carols = transcript().split("\n").filter((line) => line.startsWith("relay -> carol"));
    expect(carols).toEqual(bobs.map((line) => line.replace("relay -> bob", "relay -> carol")));
    expect(dataTo(transport.frames, "carol", doc1.id)).toEqual(dataTo(transport.frames, "bob", doc1.id));
    expect(dataTo(transport.frames, "carol", doc1.id)).toHaveLength(3_000);
  });

  it("a document written to since is sent whole with what was written, and that answer is kept in turn", async () => {
    const { connect, send, store, transport, fireDueAlarms, write } = await relayWith(2_500);
    await connect("bob", bob);
    await connect("carol", carol);
    await connect("dave", testAgent(4));
    await send("bob", load(doc1.id));
    await send("alice", write(transactions(1, "since")));
    store.read = 0;
    await send("carol", load(doc1.id));
    await fireDueAlarms();
    const carols = dataTo(transport.frames, "carol", doc1.id);
    expect(carols).toHaveLength(2_501);
    expect(carols.at(-1)).toBe("since-0");
    expect(new Set(carols).size).toBe(2_501);
    expect(messagesTo(transport.frames, "carol").filter((message) => message.type === "known")).toEqual([expect.objectContaining({ sessions: { [alice.session]: 2_501 } })]);
    // Read again from where the document changed: the slices before it are still true and sent as kept.
    expect(store.read).toBeGreaterThan(0);
    expect(store.read).toBeLessThan(2_501);
    store.read = 0;
    await send("dave", load(doc1.id));
    expect(store.read).toBe(0);
    expect(dataTo(transport.frames, "dave", doc1.id)).toEqual(carols);
  });

  it("a client whose window fills at another place gets every transaction once, in order, the rest after its echo", async () => {
    // Over ANSWER_WINDOW_BYTES uncompressed, under LOAD_CACHE_BYTES kept: bob's answer pauses for his
    // echo, carol's earlier (she is still sent doc2, unread), so a kept slice is cut where hers fills.
    const { connect, send, store, transport, fireDueAlarms } = await relayWith(3_500, 300);
    await written({ send } as ReturnType<typeof scenario>, doc2, 2_000, 300);
    await connect("bob", bob);
    await connect("carol", carol);
    await send("bob", load(doc1.id));
    await fireDueAlarms();
    const bobs = dataTo(transport.frames, "bob", doc1.id);
    expect(bobs).toHaveLength(3_500);
    await send("carol", load(doc2.id));
    store.read = 0;
    await send("carol", load(doc1.id));
    expect(store.read).toBe(0);
    const before = dataTo(transport.frames, "carol", doc1.id).length;
    expect(before).toBeLessThan(2_000);
    // Stopped where her window filled, a frame past it at most, as an answer read from storage stops.
    const unread = transport.frames.filter((frame) => frame.peer === "carol").reduce((sum, frame) => sum + new TextEncoder().encode(frame.text).length, 0);
    expect(unread).toBeGreaterThan(ANSWER_WINDOW_BYTES);
    expect(unread).toBeLessThan(ANSWER_WINDOW_BYTES + RELAY_FRAME_TARGET_BYTES);
    await fireDueAlarms();
    expect(dataTo(transport.frames, "carol", doc1.id)).toEqual(bobs);
    expect(dataTo(transport.frames, "carol", doc2.id)).toHaveLength(2_000);
    const knowns = messagesTo(transport.frames, "carol").filter((message) => message.type === "known");
    expect(knowns).toEqual([expect.objectContaining({ doc: doc2.id }), expect.objectContaining({ doc: doc1.id, sessions: { [alice.session]: 3_500 } })]);
  });

  it("a snapshot taken since is served in place of a kept answer", async () => {
    const { connect, send, transcript } = await relayWith(40);
    await connect("bob", bob);
    await connect("carol", carol);
    await send("bob", load(doc1.id));
    const covers = { [alice.session]: 40 };
    await send("alice", { type: "snapshot", doc: doc1.id, session: alice.session, covers, data: "S", signature: signSnapshot(alice.secretKey, doc1.id, alice.session, covers, "S") });
    transcript();
    await send("carol", load(doc1.id));
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | load doc1 (no header) {}
      relay -> carol | content doc1 +header 
      relay -> carol | snapshot doc1 by alice covers {alice:40} text 1
      relay -> carol | known doc1 {alice:40} load"
    `);
  });

  it("a deleted document is not sent from what was kept: a fresh client is told it is deleted", async () => {
    // Carol is an admin (a token's role): she may delete documents.
    const carolAdmin = { id: "carol", phase: "ready" as const, agent: carol.agent, session: carol.session, token: { role: "admin" as const, expiresAt: NOW + 60_000 } };
    const { connect, send, transcript } = await relayWith(10, undefined, [carolAdmin]);
    await connect("bob", bob);
    await connect("dave", testAgent(4));
    await send("bob", load(doc1.id));
    await send("carol", { type: "delete", doc: doc1.id });
    transcript();
    await send("dave", load(doc1.id));
    expect(transcript()).toMatchInlineSnapshot(`
      "dave -> relay | load doc1 (no header) {}
      relay -> dave | error doc_deleted doc1 "this document was deleted""
    `);
  });

  it("an open by a second fresh client is sent the same documents, and the relay reads nothing for it", async () => {
    const { connect, send, store, transport, fireDueAlarms } = await relayWith(300);
    await written({ send } as ReturnType<typeof scenario>, doc2, 200);
    await connect("bob", bob);
    await connect("carol", carol);
    store.read = 0;
    await send("bob", { type: "open", known: {} });
    await fireDueAlarms();
    expect(store.read).toBeGreaterThanOrEqual(500);
    store.read = 0;
    await send("carol", { type: "open", known: {} });
    await fireDueAlarms();
    expect(store.read).toBe(0);
    for (const doc of [doc1.id, doc2.id]) expect(dataTo(transport.frames, "carol", doc)).toEqual(dataTo(transport.frames, "bob", doc));
    expect(messagesTo(transport.frames, "carol").at(-1)).toMatchObject({ type: "opened", docs: 2 });
  });
});

describe("answers kept for fresh clients, seeded", () => {
  // Writes of every size to two documents, and between them fresh clients that load one or open the group,
  // some reading at once, some only once their window is full: each ends with exactly what the relay holds.
  it.each([1, 2, 3, 4, 5, 6])("seed %i: every fresh client gets each document exactly as stored, once and in order", { timeout: 30_000 }, async (seed) => {
    const random = seededRandom(seed);
    const setup = scenario();
    const { connect, send, store, transport, fireDueAlarms } = setup;
    await connect("alice", alice);
    const docs = [doc1, doc2];
    const writes = docs.map((doc) => writer(alice, doc));
    const written = [0, 0];
    let fresh = 0;
    for (let step = 0; step < 40; step++) {
      const which = random.below(2);
      if (random.next() < 0.5) {
        const count = 1 + random.below(random.next() < 0.2 ? MAX_TRANSACTIONS_PER_FRAME : 50);
        const size = random.next() < 0.3 ? 400 : 10;
        await send("alice", writes[which]!(transactions(count, `s${step}-${"y".repeat(size)}`), { header: written[which] === 0 }));
        written[which]! += count;
        continue;
      }
      const peer = `fresh-${++fresh}`;
      await connect(peer, testAgent(100 + fresh));
      const opens = random.next() < 0.3;
      await send(peer, opens ? { type: "open", known: {} } : load(docs[which]!.id));
      await fireDueAlarms();
      for (const doc of opens ? docs : [docs[which]!]) {
        const held = store.knownState(doc.id).sessions[alice.session] ?? 0;
        const stored = [...store.readTransactions(doc.id, alice.session, 0, held)].map((transaction) => transaction.data);
        expect(dataTo(transport.frames, peer, doc.id)).toEqual(stored);
        const known = messagesTo(transport.frames, peer).filter((message) => message.type === "known" && message.doc === doc.id);
        if (held > 0) expect(known).toEqual([expect.objectContaining({ sessions: { [alice.session]: held } })]);
      }
      await setup.close(peer);
    }
    expect(fresh).toBeGreaterThan(5);
  });
});

describe("LoadCache", () => {
  const doc = doc1.id;
  const holding = (count: number): KnownState => ({ header: true, sessions: { [alice.session]: count } });
  const slice = (to: number, bytes: number, ended?: number): KeptSlice => ({
    messages: [{ message: { type: "content", doc, sessions: {} }, holds: holding(to) }],
    rows: to,
    endedAt: ended === undefined ? undefined : stateKey(holding(ended)),
    bytes,
  });

  it("keeps slices from nothing and those that follow a kept one, nothing else", () => {
    const cache = new LoadCache(10_000);
    expect(cache.keeps(doc, keyOf(doc, nothingKnown))).toBe(true);
    expect(cache.keeps(doc, keyOf(doc, holding(100)))).toBe(false);
    cache.keep(doc, keyOf(doc, nothingKnown), slice(100, 1_000));
    expect(cache.keeps(doc, keyOf(doc, holding(100)))).toBe(true);
    expect(cache.keeps(doc2.id, keyOf(doc2.id, holding(100)))).toBe(false);
    cache.keep(doc, keyOf(doc, holding(100)), slice(150, 1_000, 150));
    // The end of the document: nothing follows it.
    expect(cache.keeps(doc, keyOf(doc, holding(150)))).toBe(false);
    expect(cache.find(keyOf(doc, { header: true, sessions: { [alice.session]: 100, [bob.session]: 0 } }))).toBeDefined();
  });

  it("holds at most its bound, other documents' least recently used out first, and no slice over half of it", () => {
    const cache = new LoadCache(3_000);
    cache.keep(doc, keyOf(doc, nothingKnown), slice(10, 1_000));
    cache.keep(doc2.id, keyOf(doc2.id, nothingKnown), slice(10, 1_000));
    expect(cache.find(keyOf(doc, nothingKnown))).toBeDefined();
    cache.keep(doc, keyOf(doc, holding(10)), slice(20, 1_400));
    expect(cache.bytes).toBeLessThanOrEqual(3_000);
    expect(cache.find(keyOf(doc2.id, nothingKnown))).toBeUndefined();
    expect(cache.find(keyOf(doc, nothingKnown))).toBeDefined();
    cache.keep(doc2.id, keyOf(doc2.id, nothingKnown), slice(10, 1_501));
    expect(cache.find(keyOf(doc2.id, nothingKnown))).toBeUndefined();
  });

  it("keeps the beginning of a document larger than its bound: its later slices do not push out its first", () => {
    const cache = new LoadCache(3_000);
    cache.keep(doc, keyOf(doc, nothingKnown), slice(10, 1_200));
    cache.keep(doc, keyOf(doc, holding(10)), slice(20, 1_200));
    cache.keep(doc, keyOf(doc, holding(20)), slice(30, 1_200));
    expect(cache.find(keyOf(doc, nothingKnown))).toBeDefined();
    expect(cache.find(keyOf(doc, holding(10)))).toBeDefined();
    expect(cache.find(keyOf(doc, holding(20)))).toBeUndefined();
    expect(cache.bytes).toBe(2_400);
    // Another document's slice still makes room by pushing out the least recently used.
    cache.keep(doc2.id, keyOf(doc2.id, nothingKnown), slice(10, 1_200));
    expect(cache.find(keyOf(doc2.id, nothingKnown))).toBeDefined();
    expect(cache.find(keyOf(doc, nothingKnown))).toBeUndefined();
    expect(cache.find(keyOf(doc, holding(10)))).toBeDefined();
  });

  it("still keeps from where two kept slices left off once one of them is gone", () => {
    const cache = new LoadCache(10_000);
    // Two slices that left off at 150: one from nothing, one from 100 (cut short where a window filled).
    cache.keep(doc, keyOf(doc, nothingKnown), slice(150, 1_000));
    cache.keep(doc, keyOf(doc, holding(100)), slice(150, 1_000));
    // The one from 100 is kept again, reaching the end this time: the one from nothing still leads to 150.
    cache.keep(doc, keyOf(doc, holding(100)), slice(200, 1_000, 200));
    expect(cache.keeps(doc, keyOf(doc, holding(150)))).toBe(true);
    cache.keep(doc, keyOf(doc, nothingKnown), slice(200, 1_000, 200));
    expect(cache.keeps(doc, keyOf(doc, holding(150)))).toBe(false);
  });

  it("forgets a document's slices, and where they led", () => {
    const cache = new LoadCache(10_000);
    cache.keep(doc, keyOf(doc, nothingKnown), slice(100, 1_000));
    cache.keep(doc2.id, keyOf(doc2.id, nothingKnown), slice(100, 1_000));
    cache.forget(doc);
    expect(cache.find(keyOf(doc, nothingKnown))).toBeUndefined();
    expect(cache.keeps(doc, keyOf(doc, holding(100)))).toBe(false);
    expect(cache.find(keyOf(doc2.id, nothingKnown))).toBeDefined();
    expect(cache.bytes).toBe(1_000);
  });
});
