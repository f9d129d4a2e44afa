// Roles at work on real sockets: readers only read, nobody writes another agent's session, a removed member
// is cut off at once, a demoted one loses its write, and a `readers` list hides a document from the rest.
import { afterEach, describe, expect, it } from "vitest";
import { testAgent, transactions } from "../support/identity.ts";
import { MemberLog, changeMembers, closedGroup, docHeader, expectCutOff, expectHelloRefused, membersHeader, remove, setRole } from "./groups-helpers.ts";
import { SessionWriter, allRows, closeAll, connect, emptyKnown, sqlRows, takeContent, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(71);
const bob = testAgent(72);
const carol = testAgent(73);
const dave = testAgent(74);
const erin = testAgent(75);

/** Bob creates a document with `count` transactions and waits for the ack. */
async function bobCreates(peer: Peer, group: string, nonce: string, readers?: (typeof alice)[]) {
  const { id, header } = docHeader(bob, group, nonce, readers?.map((who) => who.agent));
  const log = new SessionWriter(bob, id);
  peer.send(log.content(transactions(2, nonce), header));
  expect(await peer.next("known", (k) => k.doc === id)).toMatchObject({ reason: "ack" });
  return { id, header, log };
}

describe("roles", () => {
  it("a reader's content is forbidden and nothing is stored, whether it writes or creates; it still reads", async () => {
    const { group, adminPeer } = await closedGroup("roles-reader", alice, [[bob, "writer"], [dave, "reader"]]);
    const b = await connect(group, bob);
    const doc = await bobCreates(b, group, "bobs-doc");
    const d = await connect(group, dave);
    const rows = await allRows(group);

    d.send(new SessionWriter(dave, doc.id).content(transactions(1, "dave")));
    expect(await d.next("error")).toMatchObject({ code: "forbidden", doc: doc.id });
    const own = docHeader(dave, group, "daves-doc");
    d.send(new SessionWriter(dave, own.id).content(transactions(1, "dave"), own.header));
    expect(await d.next("error")).toMatchObject({ code: "forbidden", doc: own.id });
    expect(await allRows(group)).toEqual(rows);
    expect(await sqlRows(group, "SELECT id FROM docs WHERE id = ?", own.id)).toEqual([]);

    // Not closed, and reading works.
    d.send({ type: "load", doc: doc.id, known: emptyKnown });
    expect(await d.next("known", (k) => k.reason === "load")).toMatchObject({ sessions: { [bob.session]: 2 } });
    expect(takeContent(d, doc.id).get(bob.session)?.flatMap((chunk) => chunk.transactions)).toEqual(transactions(2, "bobs-doc"));
    await Promise.all([adminPeer.close(), b.close(), d.close()]);
  });

  it("a frame writing another agent's session is forbidden whole, without closing the writer", async () => {
    const { group, adminPeer } = await closedGroup("roles-foreign", alice, [[bob, "writer"]]);
    const b = await connect(group, bob);
    const doc = await bobCreates(b, group, "shared");
    const rows = await allRows(group);
    // Alice's chunk is genuinely signed by her: the relay refuses it because Bob sends it.
    const aliceChunk = new SessionWriter(alice, doc.id).append(transactions(1, "alice"));
    const bobChunk = doc.log.fork().append(transactions(1, "bob"));
    b.send({ type: "content", doc: doc.id, sessions: { [bob.session]: bobChunk, [alice.session]: aliceChunk } });
    expect(await b.next("error")).toMatchObject({ code: "forbidden", doc: doc.id, session: alice.session });
    expect(await allRows(group)).toEqual(rows);
    // Still connected: the same append on its own is acked at 3, so Bob's half of the refused frame was not stored.
    b.send(doc.log.content(transactions(1, "bob")));
    expect(await b.next("known", (k) => k.doc === doc.id)).toMatchObject({ reason: "ack", sessions: { [bob.session]: 3 } });
    await Promise.all([adminPeer.close(), b.close()]);
  });

  it("removing a writer cuts off all its live sockets at once and refuses its next hello; others carry on", async () => {
    const { group, adminPeer, log } = await closedGroup("roles-remove", alice, [[bob, "writer"], [carol, "writer"]]);
    const b1 = await connect(group, bob);
    const b2 = await connect(group, testAgent(72, "session-two"));
    const c = await connect(group, carol);
    const doc = await bobCreates(b1, group, "before-removal");
    for (const peer of [b1, b2, c]) {
      peer.send({ type: "open", known: {} });
      await peer.next("opened");
      peer.drain("content");
    }

    expect(await changeMembers(adminPeer, log, [remove(bob)])).toMatchObject({ reason: "ack" });
    await expectCutOff(b1, "unauthorized");
    await expectCutOff(b2, "unauthorized");
    // The operation that removed Bob reached Carol, not Bob.
    expect((await c.next("content", (m) => m.doc === log.doc)).sessions[alice.session]?.transactions).toHaveLength(1);
    expect([...b1.drain("content"), ...b2.drain("content")]).toEqual([]);
    await expectHelloRefused(group, bob, "unauthorized");

    const aliceLog = new SessionWriter(alice, doc.id);
    adminPeer.send(aliceLog.content(transactions(1, "after")));
    expect((await c.next("content", (m) => m.doc === doc.id)).sessions[alice.session]?.transactions).toEqual(transactions(1, "after"));
    await Promise.all([adminPeer.close(), c.close()]);
  });

  it("the peers of an open group that its new membership log does not name are cut off at its creation; those it names carry on", async () => {
    const group = uniqueGroup("roles-genesis");
    const [a, b, c] = [await connect(group, alice), await connect(group, bob), await connect(group, carol)];
    const doc = await bobCreates(b, group, "before-the-log");
    c.send({ type: "load", doc: doc.id, known: emptyKnown });
    await c.next("known", (k) => k.doc === doc.id && k.reason === "load");
    const loaded = c.received.filter((frame) => frame.type === "content").length;
    const { id, header } = membersHeader(alice, group);
    const log = new MemberLog(alice, id, header);
    a.send(log.ops([setRole(bob, "writer")], { withHeader: true }));
    expect(await a.next("known", (k) => k.doc === id)).toMatchObject({ reason: "ack" });
    expect(await c.next("error")).toMatchObject({ code: "unauthorized", message: expect.stringMatching(/not a member .*membership log was just created/) });
    expect((await c.closed).code).toBe(1008);
    // Bob, named by the log, writes on, and Carol's socket heard none of it.
    b.send(doc.log.content(transactions(1, "after the log")));
    expect(await b.next("known", (k) => k.doc === doc.id)).toMatchObject({ reason: "ack", sessions: { [bob.session]: 3 } });
    await b.sync();
    expect(c.received.filter((frame) => frame.type === "content")).toHaveLength(loaded);
    await expectHelloRefused(group, carol, "unauthorized");
    await Promise.all([a.close(), b.close()]);
  });

  it("a writer demoted to reader has its next write forbidden, and still reads", async () => {
    const { group, adminPeer, log } = await closedGroup("roles-demote", alice, [[bob, "writer"]]);
    const b = await connect(group, bob);
    const doc = await bobCreates(b, group, "demoted");
    expect(await changeMembers(adminPeer, log, [setRole(bob, "reader")])).toMatchObject({ reason: "ack" });
    b.send(doc.log.fork().content(transactions(1, "late")));
    expect(await b.next("error")).toMatchObject({ code: "forbidden", doc: doc.id });
    const other = docHeader(bob, group, "new-after-demotion");
    b.send(new SessionWriter(bob, other.id).content(transactions(1), other.header));
    expect(await b.next("error")).toMatchObject({ code: "forbidden", doc: other.id });
    expect(await sqlRows(group, "SELECT s.count FROM sessions s JOIN docs d ON d.num = s.doc_num WHERE d.id = ?", doc.id)).toEqual([{ count: 2 }]);
    b.send({ type: "load", doc: doc.id, known: emptyKnown });
    expect(await b.next("known", (k) => k.reason === "load")).toMatchObject({ sessions: { [bob.session]: 2 } });
    await Promise.all([adminPeer.close(), b.close()]);
  });

  it("a member whose role changes hears its new role at once on every socket, in a welcome; nobody else hears one", async () => {
    const { group, adminPeer, log, membersDoc } = await closedGroup("roles-live", alice, [[bob, "writer"], [carol, "writer"]]);
    // The founder was a writer of the open group: creating the log made it its admin.
    expect(adminPeer.drain("welcome")).toMatchObject([{ role: "admin", members: membersDoc }]);
    const [b1, b2, c] = [await connect(group, bob), await connect(group, bob), await connect(group, carol)];
    expect(await changeMembers(adminPeer, log, [setRole(bob, "reader")])).toMatchObject({ reason: "ack" });
    for (const peer of [b1, b2]) expect(await peer.next("welcome")).toMatchObject({ role: "reader", members: membersDoc });
    expect(await changeMembers(adminPeer, log, [setRole(bob, "admin"), setRole(carol, "writer")])).toMatchObject({ reason: "ack" });
    expect(await b1.next("welcome")).toMatchObject({ role: "admin", members: membersDoc });
    // Setting the role it already has changes nothing: carol, and the admin who wrote, hear no welcome.
    await Promise.all([c.sync(), adminPeer.sync(), b1.sync()]);
    expect(c.drain("welcome")).toEqual([]);
    expect(adminPeer.drain("welcome")).toEqual([]);
    expect(b1.drain("welcome")).toEqual([]);
    await Promise.all([adminPeer.close(), b1.close(), b2.close(), c.close()]);
  });

  it("a document with readers is hidden from everyone else: dir, load, content, open and live fan-out", async () => {
    const { group, adminPeer, membersDoc } = await closedGroup("roles-readers", alice, [[bob, "writer"], [carol, "reader"], [dave, "reader"], [erin, "writer"]]);
    const [b, c, d, e] = [await connect(group, bob), await connect(group, carol), await connect(group, dave), await connect(group, erin)];
    for (const peer of [c, d]) {
      peer.send({ type: "open", known: {} });
      expect(await peer.next("opened")).toMatchObject({ docs: 1 });
    }
    const secret = await bobCreates(b, group, "secret", [carol]);
    const open = await bobCreates(b, group, "public");

    // Live fan-out: Carol (listed) receives both, Dave only the public one.
    await c.next("content", (m) => m.doc === secret.id);
    await c.next("content", (m) => m.doc === open.id);
    await d.next("content", (m) => m.doc === open.id);
    await d.sync();
    expect(d.drain("content").filter((m) => m.doc === secret.id)).toEqual([]);

    const listed = async (peer: Peer) => {
      peer.send({ type: "dir" });
      return (await peer.next("dir")).docs.map((entry) => entry.id).sort();
    };
    expect(await listed(d)).toEqual([membersDoc, open.id].sort());
    expect(await listed(e)).toEqual([membersDoc, open.id].sort());
    expect(await listed(c)).toEqual([membersDoc, open.id, secret.id].sort());
    expect(await listed(adminPeer)).toEqual([membersDoc, open.id, secret.id].sort());

    for (const peer of [d, e]) {
      peer.send({ type: "load", doc: secret.id, known: emptyKnown });
      expect(await peer.next("error")).toMatchObject({ code: "forbidden", doc: secret.id });
    }
    // A writer not listed may not write it either.
    e.send(new SessionWriter(erin, secret.id).content(transactions(1, "erin")));
    expect(await e.next("error")).toMatchObject({ code: "forbidden", doc: secret.id });
    expect(await sqlRows(group, "SELECT id FROM sessions WHERE id = ?", erin.session)).toEqual([]);

    // A fresh open by Dave skips it; by Carol includes it.
    for (const [peer, docs] of [[d, 2], [c, 3]] as const) {
      peer.drain("content");
      peer.drain("known");
      peer.send({ type: "open", known: {} });
      expect(await peer.next("opened")).toMatchObject({ docs });
      expect(peer.drain("content").some((m) => m.doc === secret.id)).toBe(peer === c);
      expect(peer.drain("known").some((m) => m.doc === secret.id)).toBe(peer === c);
    }
    await Promise.all([adminPeer, b, c, d, e].map((peer) => peer.close()));
  });
});
