// The object forgets everything in memory when it is evicted, while its sockets stay open: peers, handshakes
// and subscriptions must come back from attachments and SQLite. A restart that closes the sockets keeps data.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { helloFrame, testAgent, testHeader, transactions } from "../support/identity.ts";
import { AUTO_PING, SessionWriter, closeAll, connect, emptyKnown, groupStub, openSocket, sqlRows, takeContent, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(51);
const bob = testAgent(52);
const carol = testAgent(53);

/** Tags the live instance; a rebuilt instance (constructor run again) has no tag. Wakes the object. */
async function tagInstance(group: string, tag: string): Promise<string | undefined> {
  return runInDurableObject(groupStub(group), (instance) => {
    const fields = instance as unknown as { testTag?: string };
    const before = fields.testTag;
    fields.testTag = tag;
    return before;
  });
}

/** Evicts the object, keeping its sockets, and proves it is no longer in memory. */
async function hibernate(group: string): Promise<void> {
  await evictDurableObject(groupStub(group));
  await expect(evictDurableObject(groupStub(group))).rejects.toThrow(/not currently running/);
}

describe("hibernation", () => {
  it("after eviction, subscriptions, handshakes, acks and loads behave exactly as before", async () => {
    const group = uniqueGroup("hib-state");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const aliceLog = new SessionWriter(alice, id);
    const bobLog = new SessionWriter(bob, id);
    a.send(aliceLog.content(transactions(3, "a"), header));
    await a.next("known", (k) => k.reason === "ack");
    a.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 3 } } });
    b.send({ type: "load", doc: id, known: emptyKnown });
    await Promise.all([a.next("known"), b.next("known", (k) => k.reason === "load")]);
    expect(takeContent(b, id).get(alice.session)?.flatMap((chunk) => chunk.transactions)).toEqual(transactions(3, "a"));

    expect(await tagInstance(group, "before eviction")).toBeUndefined();
    await hibernate(group);

    // The runtime answers the keep-alive itself: the object stays asleep.
    a.sendRaw(AUTO_PING);
    await a.next("pong");
    await expect(evictDurableObject(groupStub(group))).rejects.toThrow(/not currently running/);

    // Bob writes his own session: the woken object still knows who Bob is (the ownership check passes),
    // acks him, and fans out to Alice, whose subscription came back from SQLite.
    b.send(bobLog.content(transactions(2, "b")));
    expect(await b.next("known")).toEqual({ type: "known", doc: id, header: true, sessions: { [bob.session]: 2 }, reason: "ack" });
    expect((await a.next("content")).sessions).toEqual({ [bob.session]: { after: 0, transactions: transactions(2, "b"), signature: expect.any(String) } });

    // Again with the writer and reader swapped, after another eviction.
    await hibernate(group);
    a.send(aliceLog.content(transactions(2, "a-after")));
    expect(await a.next("known")).toMatchObject({ reason: "ack", sessions: { [alice.session]: 5 } });
    expect((await b.next("content")).sessions[alice.session]).toMatchObject({ after: 3, transactions: transactions(2, "a-after") });
    await Promise.all([a.sync(), b.sync()]);
    expect([...a.inbox, ...b.inbox]).toEqual([]); // no echoes

    // A load after eviction returns exactly the delta.
    await hibernate(group);
    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 4, [bob.session]: 1 } } });
    expect(await c.next("known")).toMatchObject({ reason: "load", sessions: { [alice.session]: 5, [bob.session]: 2 } });
    const delta = takeContent(c, id);
    expect(delta.get(alice.session)).toEqual([{ after: 4, transactions: [transactions(2, "a-after")[1]], signature: expect.any(String) }]);
    expect(delta.get(bob.session)).toEqual([{ after: 1, transactions: [transactions(2, "b")[1]], signature: expect.any(String) }]);

    // And it really was a fresh instance that did all this.
    expect(await tagInstance(group, "after")).toBeUndefined();
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it("a handshake started before eviction completes after it", async () => {
    const group = uniqueGroup("hib-handshake");
    const first = await connect(group, alice); // creates the object and its group record
    const peer = await openSocket(group);
    const { nonce } = await peer.next("challenge");
    await hibernate(group);
    peer.send(helloFrame(bob, group, nonce));
    expect(await peer.next("welcome")).toMatchObject({ role: "writer" });
    // The rebuilt relay holds Bob's session for this socket: his own writes are acked.
    const { id, header } = testHeader(bob, group);
    peer.send(new SessionWriter(bob, id).content(transactions(1), header));
    expect(await peer.next("known", (m) => m.reason === "ack")).toMatchObject({ sessions: { [bob.session]: 1 } });
    // A hello signed for another connection's nonce is still refused after a rebuild.
    const other = await openSocket(group);
    await other.next("challenge");
    await hibernate(group);
    other.send(helloFrame(carol, group, nonce));
    expect(await other.next("error")).toMatchObject({ code: "unauthorized" });
    expect((await other.closed).code).toBe(1008);
    await Promise.all([first.close(), peer.close()]);
  });

  it("a peer that closes while the object sleeps is forgotten; the others still get updates", async () => {
    const group = uniqueGroup("hib-close");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const c = await connect(group, carol);
    const log = new SessionWriter(alice, id);
    a.send(log.content(transactions(1), header));
    await a.next("known");
    for (const peer of [b, c]) {
      peer.send({ type: "load", doc: id, known: emptyKnown });
      await peer.next("known");
      peer.drain("content");
    }
    await hibernate(group);
    await b.close();
    a.send(log.content(transactions(1, "later")));
    await a.next("known");
    expect((await c.next("content")).sessions[alice.session]?.after).toBe(1);
    // c, and a, subscribed when it created the document; b is forgotten.
    const subscribers = await sqlRows<{ n: number }>(group, "SELECT count(*) AS n FROM subscriptions WHERE doc = ?", id);
    expect(subscribers).toEqual([{ n: 2 }]);
    await Promise.all([a.close(), c.close()]);
  });

  it("after a restart that closes every socket, a new connection loads everything acked before", async () => {
    const group = uniqueGroup("hib-restart");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const aliceLog = new SessionWriter(alice, id);
    const bobLog = new SessionWriter(bob, id);
    a.send(aliceLog.content(transactions(4, "a"), header));
    await a.next("known");
    b.send({ type: "load", doc: id, known: emptyKnown });
    await b.next("known");
    b.send(bobLog.content(transactions(3, "b")));
    await b.next("known", (k) => k.reason === "ack");

    await evictDurableObject(groupStub(group), { webSockets: "close" });
    await Promise.all([a.closed, b.closed]);

    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: emptyKnown });
    expect(await c.next("known")).toMatchObject({ reason: "load", header: true, sessions: { [alice.session]: 4, [bob.session]: 3 } });
    const content = takeContent(c, id);
    expect(content.get(alice.session)?.flatMap((chunk) => chunk.transactions)).toEqual(transactions(4, "a"));
    expect(content.get(bob.session)?.flatMap((chunk) => chunk.transactions)).toEqual(transactions(3, "b"));
    // The object woke with no peer: the closed peers' subscriptions went then, and only Carol's is stored.
    expect(await sqlRows(group, "SELECT count(*) AS n FROM subscriptions")).toEqual([{ n: 1 }]);
    // Alice reconnects (a new connection, same session) and resumes her log where the relay says it stands.
    const again = await connect(group, alice);
    again.send(aliceLog.content(transactions(1, "resumed")));
    expect(await again.next("known")).toMatchObject({ reason: "ack", sessions: { [alice.session]: 5 } });
    expect((await c.next("content")).sessions[alice.session]?.after).toBe(4);
    // Still only Carol's: writing to a document does not subscribe the writer.
    expect(await sqlRows(group, "SELECT peer FROM subscriptions")).toHaveLength(1);
    await Promise.all([c.close(), again.close()]);
  });
});
