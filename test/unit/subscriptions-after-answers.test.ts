// A Durable Object holds every frame sent after a storage write until the write is durable (the output
// gate), and every frame the runtime has not yet put on its socket when a write starts, even if it was
// handed over before. A subscription is not data: the answers queued before it are sent first, in a frame
// of one message and in a batch alike, and the runtime is given a turn to put them on their sockets
// (Transport's flushOutput) before the event's first write, so a load or an open never waits for its own
// subscription's write. The writes that are data still come first: an ack leaves after its commit. An
// alarm event's pruning is a write too, and the slices of long answers that the event sent go before it. The
// real core and driver over a MemoryStore whose writes are logged in the transcript, in order with the
// frames and the turns given to the runtime (relay-transcript.ts).
import { describe, expect, it } from "vitest";
import { LOAD_FIRST_EVENT_ROWS, LOAD_SLICE_ROWS, MAX_TRANSACTIONS_PER_FRAME, batchFrame, encodeMessage, type ClientMessage, type DocId } from "../../protocol/index.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import type { ALL_DOCS, PeerId, PruneSlice, Write } from "../../worker/core/store.ts";
import { transactions } from "../support/identity.ts";
import { NOW, alice, bob, doc1, doc2, nothingKnown, scenario, short, snapshotOf, writer } from "./relay-transcript.ts";

/** A MemoryStore that writes a line into the transcript for each subscription and commit, as it happens. */
class LoggedStore extends MemoryStore {
  lines: string[] = [];

  override subscribe(peer: PeerId, doc: DocId | typeof ALL_DOCS): void {
    this.lines.push(short(`store | subscribe ${peer} ${doc}`));
    super.subscribe(peer, doc);
  }

  override commit(write: Write): void {
    this.lines.push(short(`store | commit ${write.doc}`));
    super.commit(write);
  }

  override prune(takenBy: number, budget: number): PruneSlice {
    const slice = super.prune(takenBy, budget);
    if (slice.work > 0) this.lines.push(`store | prune (work ${slice.work})`);
    return slice;
  }
}

async function twoDocuments() {
  const store = new LoggedStore();
  const relay = scenario([], {}, store);
  store.lines = relay.transport.lines;
  // As the Durable Object's transport does: a turn of the event loop, in which the runtime writes what it holds to the sockets.
  Object.assign(relay.transport, { flushOutput: async () => void relay.transport.lines.push("runtime | frames put on their sockets") });
  await relay.connect("p1", alice);
  /** Alice's writes to each document, her chain kept. */
  const alicesWrites = new Map([doc1, doc2].map((doc) => [doc.id, writer(alice, doc)]));
  for (const [doc, write] of alicesWrites) await relay.send("p1", write([{ at: NOW, data: `${doc}: one` }], { header: true }));
  await relay.connect("p2", bob);
  relay.transcript();
  return { ...relay, alicesWrites };
}

const load = (doc: DocId): ClientMessage => ({ type: "load", doc, known: nothingKnown });

/** `messages` from `peer` in one batch frame, as the SDK sends what it queued in one tick. */
async function sendBatch(relay: Awaited<ReturnType<typeof twoDocuments>>, peer: PeerId, messages: ClientMessage[]): Promise<void> {
  await relay.relay.dispatch({ type: "frame", peer, frame: batchFrame(messages.map((message) => encodeMessage(message) as string)), now: NOW });
}

const lines = (...all: string[]): string => all.join("\n");

describe("answers and the subscriptions they make", () => {
  it("a batch of loads is answered before the loads' subscriptions are written, and what is written next reaches the loader", async () => {
    const relay = await twoDocuments();
    await sendBatch(relay, "p2", [load(doc1.id), load(doc2.id)]);
    expect(relay.transcript()).toBe(
      lines(
        "relay -> p2 | content doc1 +header alice after=0 n=1",
        "relay -> p2 | known doc1 {alice:1} load",
        "relay -> p2 | content doc2 +header alice after=0 n=1",
        "relay -> p2 | known doc2 {alice:1} load",
        "runtime | frames put on their sockets",
        "store | subscribe p2 doc1",
        "store | subscribe p2 doc2",
      ),
    );
    // Subscribed all the same: what Alice writes next reaches the loader live.
    for (const [doc, write] of relay.alicesWrites) await relay.send("p1", write([{ at: NOW, data: `${doc}: two` }]));
    expect(relay.transcript().split("\n").filter((line) => line.startsWith("relay -> p2"))).toEqual([
      "relay -> p2 | content doc1 alice after=1 n=1",
      "relay -> p2 | content doc2 alice after=1 n=1",
    ]);
  });

  it("a load on its own is answered before its subscription is written", async () => {
    const relay = await twoDocuments();
    await relay.send("p2", load(doc1.id));
    expect(relay.transcript()).toBe(
      lines(
        "p2 -> relay | load doc1 (no header) {}",
        "relay -> p2 | content doc1 +header alice after=0 n=1",
        "relay -> p2 | known doc1 {alice:1} load",
        "runtime | frames put on their sockets",
        "store | subscribe p2 doc1",
      ),
    );
  });

  it("an open is answered before its subscription to the group is written", async () => {
    const relay = await twoDocuments();
    await relay.send("p2", { type: "open", known: {} });
    expect(relay.transcript()).toBe(
      lines(
        "p2 -> relay | open 0 docs",
        "relay -> p2 | content doc2 +header alice after=0 n=1",
        "relay -> p2 | known doc2 {alice:1} load",
        "relay -> p2 | content doc1 +header alice after=0 n=1",
        "relay -> p2 | known doc1 {alice:1} load",
        "relay -> p2 | opened docs=2 cursor=2",
        "runtime | frames put on their sockets",
        "store | subscribe p2 *",
      ),
    );
  });

  it("a batch that loads and then writes: the load's answer first, then its subscription and the commit, then the ack", async () => {
    const relay = await twoDocuments();
    const write = writer(bob, doc2)([{ at: NOW, data: "bob: one" }]);
    await sendBatch(relay, "p2", [load(doc1.id), write as ClientMessage]);
    expect(relay.transcript()).toBe(
      lines(
        "relay -> p2 | content doc1 +header alice after=0 n=1",
        "relay -> p2 | known doc1 {alice:1} load",
        "runtime | frames put on their sockets",
        "store | subscribe p2 doc1",
        "store | commit doc2",
        "relay -> p2 | known doc2 {bob:1} ack",
        "relay -> p1 | content doc2 bob after=0 n=1",
      ),
    );
  });

  it("a write with nothing sent before it in its event does not wait for a turn of the runtime: an ack still leaves only after its commit", async () => {
    const relay = await twoDocuments();
    await relay.send("p1", relay.alicesWrites.get(doc1.id)!([{ at: NOW, data: "alice: two" }]));
    expect(relay.transcript()).toBe(
      lines(
        "p1 -> relay | content doc1 alice after=1 n=1",
        "store | commit doc1",
        "relay -> p1 | known doc1 {alice:2} ack",
      ),
    );
  });

  it("only the event's first write lets what was sent go first: after it, frames wait for the event's writes anyway", async () => {
    const relay = await twoDocuments();
    const write = writer(bob, doc2);
    await sendBatch(relay, "p2", [load(doc1.id), write([{ at: NOW, data: "bob: one" }]) as ClientMessage, load(doc2.id), write([{ at: NOW, data: "bob: two" }], { after: 1 }) as ClientMessage]);
    expect(relay.transcript().split("\n").filter((line) => line.startsWith("runtime") || line.startsWith("store"))).toEqual([
      "runtime | frames put on their sockets",
      "store | subscribe p2 doc1",
      "store | commit doc2",
      "store | subscribe p2 doc2",
      "store | commit doc2",
    ]);
  });
});

describe("an alarm event's frames and its pruning", () => {
  it("the next slices of a long answer go before the alarm prunes what an old snapshot covers", async () => {
    const store = new LoggedStore();
    const relay = scenario([], { snapshotRetentionSeconds: 60 }, store);
    store.lines = relay.transport.lines;
    Object.assign(relay.transport, { flushOutput: async () => void relay.transport.lines.push("runtime | frames put on their sockets") });
    await relay.connect("p1", alice);
    await relay.connect("p2", bob);
    // doc2 has a snapshot whose retention ends at NOW + 60 s; doc1 is longer than a load's first event.
    const writeDoc2 = writer(alice, doc2);
    await relay.send("p1", writeDoc2(transactions(20, "doc2-"), { header: true }));
    await relay.send("p1", snapshotOf(alice, doc2.id, { [alice.session]: 20 }, "state"));
    const writeDoc1 = writer(alice, doc1);
    const total = LOAD_FIRST_EVENT_ROWS + LOAD_SLICE_ROWS;
    for (let sent = 0; sent < total; sent += MAX_TRANSACTIONS_PER_FRAME) {
      await relay.send("p1", writeDoc1(transactions(Math.min(MAX_TRANSACTIONS_PER_FRAME, total - sent), `t${sent}-`), { header: sent === 0 }));
    }
    await relay.send("p2", load(doc1.id));
    relay.transcript();
    // The alarm the load asked for goes off once the retention is over: it sends the load's rest and prunes.
    expect(await relay.fireDueAlarms(NOW + 60_000)).toBeGreaterThan(0);
    const after = relay.transcript().split("\n");
    const pruned = after.findIndex((line) => line.startsWith("store | prune"));
    expect(pruned).toBeGreaterThan(0);
    const before = after.slice(0, pruned);
    expect(before.filter((line) => line.startsWith("relay -> p2 | known doc1"))).toHaveLength(1);
    expect(before.at(-1)).toBe("runtime | frames put on their sockets");
    expect(after.slice(pruned).filter((line) => line.startsWith("relay -> p2"))).toEqual([]);
  });
});
