// Bounded work per frame and per answer (issue 10, item 5): a frame may start only a few listings of the
// group, and a whole-group `open` or a directory from 0 streams in slices, so another member's write is
// acknowledged while the long answer is still going out, not after it.
import { afterEach, describe, expect, it } from "vitest";
import {
  MAX_LISTINGS_PER_FRAME,
  MAX_QUEUED_STREAM_ENTRIES_PER_PEER,
  MAX_TRANSACTIONS_PER_FRAME,
  RETRY_AFTER_BUSY_SECONDS,
  type DocId,
  type ServerMessage,
  type SessionId,
} from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { docHeader } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, emptyKnown, takeContent, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const creator = testAgent(41);
const writer = testAgent(42);
const reader = testAgent(43);

/** A group of `count` header-only documents, created in batch frames. */
async function groupOf(count: number): Promise<string> {
  const group = uniqueGroup("bounded");
  const peer = await connect(group, creator);
  for (let first = 0; first < count; first += 1_000) {
    const docs = Array.from({ length: Math.min(1_000, count - first) }, (_, i) => docHeader(creator, group, `d-${first + i}`));
    peer.send({ type: "batch", messages: docs.map(({ id, header }) => ({ type: "content", doc: id, header, sessions: {} })) });
    await peer.next("known", (k) => k.doc === docs.at(-1)!.id, 30_000);
  }
  await peer.close();
  return group;
}

/** A document of `count` transactions by the creator, written in the largest messages allowed. */
async function longDocument(group: string, count: number) {
  const long = docHeader(creator, group, "long");
  const c = await connect(group, creator);
  const log = new SessionWriter(creator, long.id);
  for (let i = 0; i < count; i += MAX_TRANSACTIONS_PER_FRAME) {
    c.send(log.content(transactions(MAX_TRANSACTIONS_PER_FRAME, `t${i}-`), i === 0 ? long.header : undefined));
    await c.next("known", (k) => k.doc === long.id && k.reason === "ack", 30_000);
  }
  return { long, c, log };
}

/** Resolves with the order in which `events` first happened. */
function order(): { mark(name: string): void; seen: string[] } {
  const seen: string[] = [];
  return { seen, mark: (name) => void (seen.includes(name) || seen.push(name)) };
}

/** Starts a long answer for a reader, then a member writes: in which order did the ack and the answer's end come? */
async function ackDuring(group: string, start: (r: Peer) => Promise<unknown>, isDone: (m: ServerMessage) => boolean) {
  const r = await connect(group, reader);
  const w = await connect(group, writer);
  const doc = docHeader(writer, group, "the-write");
  const events = order();
  await start(r); // resolves once the answer has begun to arrive
  w.send(new SessionWriter(writer, doc.id).content(transactions(1), doc.header));
  const acked = w.next("known", (k) => k.doc === doc.id, 30_000).then(() => events.mark("ack"));
  const finished = (async () => {
    const deadline = Date.now() + 30_000;
    while (!r.inbox.some(isDone)) {
      if (Date.now() > deadline) throw new Error("the answer never ended");
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    events.mark("answer done");
  })();
  await Promise.all([acked, finished]);
  return Object.assign(events.seen, { reader: r });
}

describe("bounded work", () => {
  it(`a frame with more than ${MAX_LISTINGS_PER_FRAME} dir and open messages is refused whole`, async () => {
    const group = uniqueGroup("many-listings");
    const peer = await connect(group, reader);
    peer.send({ type: "batch", messages: Array.from({ length: MAX_LISTINGS_PER_FRAME + 1 }, () => ({ type: "dir" })) });
    expect(await peer.next("error")).toMatchObject({ code: "bad_frame" });
    expect((await peer.closed).code).toBe(1007);
    expect(peer.drain("dir")).toEqual([]);
  });

  it("a frame repeating a load of one document is answered once: the relay reads and sends it once, not once per load", async () => {
    const group = uniqueGroup("repeated-loads");
    const { long } = await longDocument(group, MAX_TRANSACTIONS_PER_FRAME);
    const r = await connect(group, reader);
    const load = { type: "load" as const, doc: long.id, known: emptyKnown };
    r.send({ type: "batch", messages: Array.from({ length: 500 }, () => load) });
    // A frame behind it is answered after every answer the first queued: then all of them are in.
    r.send({ type: "dir" });
    await r.next("dir", (m) => !m.more, 30_000);
    expect(r.inbox.filter((m) => m.type === "known" && m.reason === "load")).toHaveLength(1);
    const received = [...takeContent(r, long.id).values()].flat().reduce((sum, chunk) => sum + chunk.transactions.length, 0);
    expect(received).toBe(MAX_TRANSACTIONS_PER_FRAME);
  }, 60_000);

  it("a member's write is acknowledged while another peer's open of 3,000 documents is still streaming", async () => {
    const group = await groupOf(3_000);
    const seen = await ackDuring(group, (r) => (r.send({ type: "open", known: {} }), r.next("known", undefined, 30_000)), (m) => m.type === "opened");
    expect([...seen]).toEqual(["ack", "answer done"]);
  }, 60_000);

  it("a member's write is acknowledged while another peer's directory of 3,000 documents is still streaming", async () => {
    const group = await groupOf(3_000);
    const seen = await ackDuring(group, (r) => (r.send({ type: "dir" }), r.next("dir", (m) => m.more, 30_000)), (m) => m.type === "dir" && !m.more);
    expect([...seen]).toEqual(["ack", "answer done"]);
  }, 60_000);

  it("a load of a 30,000-transaction document streams in slices: another member's write is acked first, and a write to it mid-load arrives once", async () => {
    const group = uniqueGroup("bounded-load");
    const long = docHeader(creator, group, "long");
    const c = await connect(group, creator);
    const log = new SessionWriter(creator, long.id);
    for (let i = 0; i < 30_000; i += MAX_TRANSACTIONS_PER_FRAME) {
      c.send(log.content(transactions(MAX_TRANSACTIONS_PER_FRAME, `t${i}-`), i === 0 ? long.header : undefined));
      await c.next("known", (k) => k.doc === long.id && k.reason === "ack", 30_000);
    }
    const events = order();
    let midLoad: Promise<void> | undefined;
    const seen = await ackDuring(
      group,
      async (r) => {
        r.send({ type: "load", doc: long.id, known: emptyKnown });
        while (!r.received.some((frame) => frame.type === "content")) await new Promise((resolve) => setTimeout(resolve, 1));
        c.send(log.content(transactions(1, "mid-load")));
        midLoad = c.next("known", (k) => k.doc === long.id && k.reason === "ack").then(() => events.mark("mid-load write acked"));
      },
      (m) => m.type === "known" && m.doc === long.id,
    );
    await midLoad;
    expect([...seen]).toEqual(["ack", "answer done"]);
    expect(events.seen).toEqual(["mid-load write acked"]);
    // Every transaction once, in order, the one written mid-load included.
    const chunks = takeContent(seen.reader, long.id).get(creator.session) ?? [];
    const data = chunks.flatMap((chunk) => chunk.transactions.map((transaction) => transaction.data));
    expect(chunks.map((chunk) => chunk.after)).toEqual(chunks.map((_, i) => chunks.slice(0, i).reduce((n, chunk) => n + chunk.transactions.length, 0)));
    expect(data).toHaveLength(30_001);
    expect(data.filter((text) => typeof text === "string" && text.startsWith("mid-load"))).toHaveLength(1);
    await c.close();
  }, 120_000);

  it(`a peer that queues long answers holding more than ${MAX_QUEUED_STREAM_ENTRIES_PER_PEER.toLocaleString("en")} entries of known state is refused with busy and closed; others go on`, async () => {
    const group = uniqueGroup("bounded-queue");
    const { long, c, log } = await longDocument(group, 30_000);
    const r = await connect(group, reader);
    // Each load claims 9,500 sessions (the relay ignores those it does not have) and needs the whole
    // document: each streams over several events, so they queue behind one another.
    const claimed = (n: number) => Object.fromEntries(Array.from({ length: 9_500 }, (_, i) => [`${reader.agent}~claimed-${n}-${i}` as SessionId, 1]));
    const loads = Math.ceil(MAX_QUEUED_STREAM_ENTRIES_PER_PEER / 9_500) + 4;
    for (let n = 0; n < loads; n++) r.send({ type: "load", doc: long.id as DocId, known: { header: false, sessions: claimed(n) } });
    expect(await r.next("error", undefined, 30_000)).toMatchObject({ code: "busy", retryAfter: RETRY_AFTER_BUSY_SECONDS });
    expect((await r.closed).code).toBe(1013);

    // The writer is untouched, and the refused agent gets in again and is answered.
    c.send(log.content(transactions(1, "after-busy")));
    expect(await c.next("known", (k) => k.doc === long.id && k.reason === "ack")).toMatchObject({ sessions: { [creator.session]: 30_001 } });
    const again = await connect(group, reader);
    again.send({ type: "dir" });
    expect(await again.next("dir", (d) => !d.more)).toMatchObject({ docs: [{ id: long.id }] });
    await Promise.all([c.close(), again.close()]);
  }, 120_000);
});
