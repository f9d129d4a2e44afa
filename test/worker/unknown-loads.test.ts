// `load` of ids the relay does not have (issue 10, item 9): one frame of made-up ids used to write a
// subscription row each, rewritten on every reconnect. A peer now waits on at most MAX_WAITING_LOADS_PER_PEER.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_WAITING_LOADS_PER_PEER, type DocId } from "../../protocol/index.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { docHeader } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, emptyKnown, sqlRows, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const mallory = testAgent(51);
const alice = testAgent(52);

const madeUpId = (n: number) => `doc_${n.toString(36).padStart(43, "A")}` as DocId;

describe("loads of unknown documents", () => {
  it("a batch of 2,000 loads of made-up ids writes at most MAX_WAITING_LOADS_PER_PEER subscription rows, and each is answered", async () => {
    const group = uniqueGroup("unknown-loads");
    const peer = await connect(group, mallory);
    const ids = Array.from({ length: 2_000 }, (_, n) => madeUpId(n));
    peer.send({ type: "batch", messages: ids.map((doc) => ({ type: "load", doc, known: emptyKnown })) });
    const last = await peer.next("known", (k) => k.doc === ids.at(-1));
    expect(last).toMatchObject({ header: false, sessions: {}, reason: "load" });
    const rows = await sqlRows<{ count: number }>(group, "SELECT count(*) AS count FROM subscriptions");
    expect(rows[0]!.count).toBeLessThanOrEqual(MAX_WAITING_LOADS_PER_PEER);
    await peer.close();
  });

  it("a peer that opened the whole group is held to the same bound: its loads of made-up ids write at most MAX_WAITING_LOADS_PER_PEER rows", async () => {
    const group = uniqueGroup("unknown-loads-open");
    const peer = await connect(group, mallory);
    peer.send({ type: "open", known: {} });
    await peer.next("opened");
    for (let round = 0; round < 2; round++) {
      const ids = Array.from({ length: 2_000 }, (_, n) => madeUpId(round * 2_000 + n));
      peer.send({ type: "batch", messages: ids.map((doc) => ({ type: "load", doc, known: emptyKnown })) });
      await peer.next("known", (k) => k.doc === ids.at(-1));
    }
    const rows = await sqlRows<{ count: number }>(group, "SELECT count(*) AS count FROM subscriptions WHERE doc != '*'");
    expect(rows[0]!.count).toBeLessThanOrEqual(MAX_WAITING_LOADS_PER_PEER);
    await peer.close();
  });

  it("a peer waiting on a document that does not exist yet hears it once it is created", async () => {
    const group = uniqueGroup("unknown-then-created");
    const doc = docHeader(alice, group, "soon");
    const waiter = await connect(group, mallory);
    waiter.send({ type: "load", doc: doc.id, known: emptyKnown });
    await waiter.next("known", (k) => k.doc === doc.id);
    const creator = await connect(group, alice);
    creator.send(new SessionWriter(alice, doc.id).content(transactions(1), doc.header));
    await creator.next("known", (k) => k.doc === doc.id);
    expect(await waiter.next("content", (c) => c.doc === doc.id)).toMatchObject({ header: doc.header });
    await Promise.all([waiter.close(), creator.close()]);
  });

  it(`a peer that waited on more than ${MAX_WAITING_LOADS_PER_PEER} documents over its life, each created meanwhile, still hears the next one created`, async () => {
    const group = uniqueGroup("waited-many");
    const waiter = await connect(group, mallory);
    const creator = await connect(group, alice);
    const docs = Array.from({ length: MAX_WAITING_LOADS_PER_PEER + 20 }, (_, i) => docHeader(alice, group, `later-${i}`));
    const load = (id: DocId) => ({ type: "load", doc: id, known: emptyKnown });
    // Each created after being waited on; each load sent twice, the second in a frame of its own.
    for (let start = 0; start < docs.length; start += 50) {
      const slice = docs.slice(start, start + 50);
      waiter.send({ type: "batch", messages: slice.map(({ id }) => load(id)) });
      await waiter.sync();
      waiter.send({ type: "batch", messages: slice.map(({ id }) => load(id)) });
      await waiter.sync();
      for (const { id, header } of slice) creator.send(new SessionWriter(alice, id).content(transactions(1), header));
      await creator.next("known", (k) => k.doc === slice.at(-1)!.id && k.reason === "ack");
    }
    // Given up and asked for again in one frame: the last word stands, it is waited on.
    const again = docHeader(alice, group, "asked-again");
    waiter.send(load(again.id));
    await waiter.sync();
    waiter.send({ type: "batch", messages: [{ type: "unsub", doc: again.id }, load(again.id)] });
    await waiter.sync();
    creator.send(new SessionWriter(alice, again.id).content(transactions(1), again.header));
    expect(await waiter.next("content", (c) => c.doc === again.id)).toMatchObject({ header: again.header });
    const next = docHeader(alice, group, "the-next-one");
    waiter.send(load(next.id));
    await waiter.next("known", (k) => k.doc === next.id);
    creator.send(new SessionWriter(alice, next.id).content(transactions(1), next.header));
    expect(await waiter.next("content", (c) => c.doc === next.id)).toMatchObject({ header: next.header });
    await Promise.all([waiter.close(), creator.close()]);
  });
});
