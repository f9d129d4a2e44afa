// Sync between real peers: live fan-out, loading exactly what is missing, big documents in bounded frames,
// the directory, and unsubscribing.
import { afterEach, describe, expect, it } from "vitest";
import { EMPTY_DIGEST, MAX_FRAME_BYTES, chainHash, GENESIS_HASH, verifyCheckpoint, type SessionId } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, emptyKnown, takeContent, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(31);
const bob = testAgent(32);
const carol = testAgent(33);

describe("sync", () => {
  it("two peers see each other's transactions live, never their own echo", async () => {
    const group = uniqueGroup("sync-live");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const aliceLog = new SessionWriter(alice, id);
    const bobLog = new SessionWriter(bob, id);

    a.send(aliceLog.content(transactions(2, "a"), header));
    expect(await a.next("known")).toMatchObject({ reason: "ack", sessions: { [alice.session]: 2 } });
    a.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 2 } } });
    b.send({ type: "load", doc: id, known: emptyKnown });
    await a.next("known", (k) => k.reason === "load");
    await b.next("known", (k) => k.reason === "load");
    expect(takeContent(b, id).get(alice.session)?.flatMap((c) => c.transactions)).toEqual(transactions(2, "a"));

    b.send(bobLog.content(transactions(3, "b")));
    expect(await b.next("known")).toMatchObject({ reason: "ack", sessions: { [bob.session]: 3 } });
    a.send(aliceLog.content(transactions(1, "a2")));
    expect(await a.next("known")).toMatchObject({ reason: "ack", sessions: { [alice.session]: 3 } });
    await Promise.all([a.sync(), b.sync()]);

    const atA = takeContent(a, id);
    const atB = takeContent(b, id);
    expect([...atA.keys()]).toEqual([bob.session]);
    expect(atA.get(bob.session)).toEqual([{ after: 0, transactions: transactions(3, "b"), signature: expect.any(String) }]);
    expect([...atB.keys()]).toEqual([alice.session]);
    expect(atB.get(alice.session)).toEqual([{ after: 2, transactions: transactions(1, "a2"), signature: expect.any(String) }]);
    expect([...a.inbox, ...b.inbox]).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it("a load's answer names the chain hash at the relay's count of the loading peer's own session, and only of it", async () => {
    const group = uniqueGroup("sync-head");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const aliceLog = new SessionWriter(alice, id);
    const written = transactions(5, "a");
    a.send(aliceLog.content(written.slice(0, 3), header));
    a.send(aliceLog.content(written.slice(3)));
    await a.next("known", (k) => k.reason === "ack" && k.sessions[alice.session] === 5);
    await a.close();

    // Alice back on her session, holding less than the relay: the head is the relay's, at its count.
    const again = await connect(group, alice);
    again.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 2 } } });
    expect(await again.next("known", (k) => k.reason === "load")).toEqual({
      type: "known",
      doc: id,
      header: true,
      sessions: { [alice.session]: 5 },
      head: chainHash(GENESIS_HASH, written),
      reason: "load",
    });
    // Another agent's load names no head: it holds nothing of its own session there.
    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: emptyKnown });
    expect(await c.next("known", (k) => k.reason === "load")).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 5 }, reason: "load" });
    await Promise.all([again.close(), c.close()]);
  });

  it("a late joiner holding a prefix receives exactly the missing transactions, then known reason=load", async () => {
    const group = uniqueGroup("sync-prefix");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const aliceLog = new SessionWriter(alice, id);
    const bobLog = new SessionWriter(bob, id);
    const all = transactions(40, "a");
    for (let from = 0; from < 40; from += 8) a.send(aliceLog.content(all.slice(from, from + 8), from === 0 ? header : undefined));
    await a.next("known", (k) => k.sessions[alice.session] === 40);
    const b = await connect(group, bob);
    b.send(bobLog.content(transactions(5, "b")));
    await b.next("known", (k) => k.sessions[bob.session] === 5);

    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 27, [bob.session]: 5 } } });
    const known = await c.next("known");
    expect(known).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 40, [bob.session]: 5 }, reason: "load" });
    // No header for a peer that has it, and nothing of Bob's session, which it has in full.
    expect(c.inbox.filter((m) => m.type === "content" && m.header !== undefined)).toEqual([]);
    const content = takeContent(c, id);
    expect([...content.keys()]).toEqual([alice.session]);
    const chunks = content.get(alice.session)!;
    expect(chunks[0]!.after).toBe(27);
    expect(chunks.flatMap((chunk) => chunk.transactions)).toEqual(all.slice(27));
    expect(c.inbox).toEqual([]);

    // A peer that is up to date gets no content at all, only the known state.
    c.send({ type: "load", doc: id, known });
    expect(await c.next("known")).toMatchObject({ reason: "load", sessions: known.sessions });
    await c.sync();
    expect(c.drain("content")).toEqual([]);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it("a peer with nothing loads 5,000 transactions of ~300 bytes in several frames, none over the limit", async () => {
    const group = uniqueGroup("sync-big");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const aliceLog = new SessionWriter(alice, id);
    const all = Array.from({ length: 5_000 }, (_, i) => ({ at: 1_700_000_000_000 + i, data: `${i}:`.padEnd(300, "abcdefghij") }));
    for (let from = 0; from < all.length; from += 1_000) {
      a.send(aliceLog.content(all.slice(from, from + 1_000), from === 0 ? header : undefined));
    }
    await a.next("known", (k) => k.sessions[alice.session] === 5_000);

    const b = await connect(group, bob);
    b.send({ type: "load", doc: id, known: emptyKnown });
    expect(await b.next("known", undefined, 20_000)).toMatchObject({ reason: "load", header: true, sessions: { [alice.session]: 5_000 } });
    expect(b.undecodable).toEqual([]);
    const contentFrames = b.received.filter((frame) => frame.type === "content");
    expect(contentFrames.length).toBeGreaterThan(4); // ~1.5 MB cannot fit in fewer frames under the limit
    expect(Math.max(...contentFrames.map((frame) => frame.bytes))).toBeLessThanOrEqual(MAX_FRAME_BYTES);

    const frames = b.drain("content");
    expect(frames[0]!.header).toEqual(header);
    expect(frames.slice(1).every((frame) => frame.header === undefined)).toBe(true);
    const chunks = frames.map((frame) => frame.sessions[alice.session as SessionId]!);
    // Chunks are contiguous, and together they are the log exactly.
    let next = 0;
    for (const chunk of chunks) {
      expect(chunk.after).toBe(next);
      next += chunk.transactions.length;
    }
    const received = chunks.flatMap((chunk) => chunk.transactions);
    expect(received).toHaveLength(5_000);
    expect(received).toEqual(all);
    // The chunk that ends the log carries the writer's checkpoint, and it verifies over what arrived.
    const last = chunks.at(-1)!;
    expect(await verifyCheckpoint(last.signature!, id, alice.session, 5_000, chainHash(GENESIS_HASH, received))).toBe(true);
    await Promise.all([a.close(), b.close()]);
  }, 60_000);

  it("dir lists every created document with its header and known state", async () => {
    const group = uniqueGroup("sync-dir");
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    a.send({ type: "dir" });
    expect(await a.next("dir")).toEqual({ type: "dir", docs: [], more: false, cursor: 0, digest: EMPTY_DIGEST, inSync: false });

    const first = testHeader(alice, group, "first-doc");
    const second = testHeader(bob, group, "second-doc");
    a.send(new SessionWriter(alice, first.id).content(transactions(4), first.header));
    await a.next("known");
    const bobLog = new SessionWriter(bob, second.id);
    b.send(bobLog.content(transactions(1), second.header));
    await b.next("known");
    b.send(bobLog.content(transactions(2, "more")));
    await b.next("known");
    // A document in another group is not listed here.
    const elsewhere = uniqueGroup("sync-dir-other");
    const c = await connect(elsewhere, carol);
    const otherDoc = testHeader(carol, elsewhere);
    c.send(new SessionWriter(carol, otherDoc.id).content(transactions(1), otherDoc.header));
    await c.next("known");

    a.send({ type: "dir" });
    const dir = await a.next("dir");
    expect(dir.more).toBe(false);
    const byId = new Map(dir.docs.map((entry) => [entry.id, entry]));
    expect([...byId.keys()].sort()).toEqual([first.id, second.id].sort());
    expect(byId.get(first.id)).toMatchObject({ header: first.header, known: { header: true, sessions: { [alice.session]: 4 } } });
    expect(byId.get(second.id)).toMatchObject({ header: second.header, known: { header: true, sessions: { [bob.session]: 3 } } });
    expect(byId.get(first.id)!.updatedAt).toBeGreaterThan(0);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it("unsub stops live updates for that document only", async () => {
    const group = uniqueGroup("sync-unsub");
    const one = testHeader(alice, group, "doc-one");
    const two = testHeader(alice, group, "doc-two");
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    const logOne = new SessionWriter(alice, one.id);
    const logTwo = new SessionWriter(alice, two.id);
    a.send(logOne.content(transactions(1, "one"), one.header));
    a.send(logTwo.content(transactions(1, "two"), two.header));
    await a.next("known", (k) => k.doc === two.id);
    for (const doc of [one.id, two.id]) {
      b.send({ type: "load", doc, known: emptyKnown });
      await b.next("known", (k) => k.doc === doc && k.reason === "load");
    }
    b.drain("content");

    a.send(logOne.content(transactions(1, "one-live")));
    await b.next("content", (c) => c.doc === one.id);

    b.send({ type: "unsub", doc: one.id });
    await b.sync(); // the unsub is handled before anything Alice sends next
    a.send(logOne.content(transactions(1, "one-after-unsub")));
    a.send(logTwo.content(transactions(1, "two-live")));
    await a.next("known", (k) => k.doc === two.id && k.reason === "ack");
    const secondDoc = await b.next("content");
    expect(secondDoc.doc).toBe(two.id);
    await b.sync();
    expect(b.inbox).toEqual([]);
    // Loading again subscribes again, and the load brings what was missed.
    b.send({ type: "load", doc: one.id, known: { header: true, sessions: { [alice.session]: 2 } } });
    await b.next("known", (k) => k.doc === one.id);
    expect(takeContent(b, one.id).get(alice.session)?.flatMap((c) => c.transactions)).toEqual(transactions(1, "one-after-unsub"));
    a.send(logOne.content(transactions(1, "one-again")));
    expect((await b.next("content", (c) => c.doc === one.id)).sessions[alice.session]?.transactions).toEqual(transactions(1, "one-again"));
    await Promise.all([a.close(), b.close()]);
  });
});
