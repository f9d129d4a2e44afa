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
});
