// A frame of many `content` messages (an SDK creating many documents at once) is verified and committed
// together, yet each message stays atomic on its own: a refused one is refused alone, with nothing of it
// stored, and the ones after it are judged as if it had never come. On the real Durable Object and SQLite.
import { afterEach, describe, expect, it } from "vitest";
import { batchFrame, encodeForBatch, signCheckpoint, type ClientMessage } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, heardByDoc, sqlRows, storedLog, uniqueGroup, type Peer } from "./socket.ts";
import { countSql } from "./sql-count.ts";

afterEach(closeAll);

const alice = testAgent(91);
const bob = testAgent(92);
const mallory = testAgent(93);

const sendBatch = (peer: Peer, messages: unknown[]) => peer.sendRaw(batchFrame(messages.map((message) => encodeForBatch(message as ClientMessage))));

/** What a peer was answered, in order, as short strings. */
const answers = (peer: Peer) =>
  peer.inbox.splice(0).map((m) => (m.type === "known" ? `${m.reason} ${m.doc} ${JSON.stringify(m.sessions)}` : m.type === "error" ? `error ${m.code} ${m.doc}` : m.type));

/** A writer's next content message, its checkpoint signed with Mallory's key: the chain moves on as if it were valid. */
function forged(writer: SessionWriter, count: number, prefix: string, header?: unknown) {
  const message = writer.content(transactions(count, prefix), header);
  message.sessions[writer.session]!.signature = signCheckpoint(mallory.secretKey, writer.doc, writer.session, writer.count, writer.lastHash);
  return message;
}

/** A group Bob has opened whole (he hears every new document), and Alice connected to it. */
async function setup(label: string) {
  const group = uniqueGroup(label);
  const b = await connect(group, bob);
  b.send({ type: "open", known: {} });
  await b.next("opened");
  const a = await connect(group, alice);
  return { group, a, b };
}

describe("a frame of many contents", () => {
  it("200 new documents of 5 transactions in one frame: each acked, stored and forwarded once, in a dozen statements for them all and 8 rows written per document", async () => {
    const { group, a, b } = await setup("frame-many");
    const docs = Array.from({ length: 200 }, (_, i) => testHeader(alice, group, `many-${i}`));
    // A peer already waiting for one of them (it loaded the id before the document existed) hears it too.
    const waiting = await connect(group, testAgent(94));
    waiting.send({ type: "load", doc: docs[7]!.id, known: { header: false, sessions: {} } });
    await waiting.next("known", (k) => k.reason === "load");
    const cost = await countSql(group, async () => {
      sendBatch(a, docs.map(({ id, header }) => new SessionWriter(alice, id).content(transactions(5, id.slice(-6)), header)));
      await a.sync();
    });
    expect(answers(a)).toEqual(docs.map(({ id }) => `ack ${id} ${JSON.stringify({ [alice.session]: 5 })}`));
    expect(cost.statements).toBeLessThanOrEqual(12);
    expect(cost.rowsWritten).toBeLessThanOrEqual(8 * docs.length + 10);
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs")).toEqual([{ n: 200 }]);
    expect((await storedLog(group, docs[199]!.id, alice.session)).map((row) => row.data)).toEqual(transactions(5, docs[199]!.id.slice(-6)).map((tx) => tx.data));
    await b.sync();
    const heard = heardByDoc(b);
    for (const { id } of docs) expect(heard.get(id)).toEqual(transactions(5, id.slice(-6)).map((tx) => tx.data));
    expect(b.inbox).toEqual([]);
    await waiting.sync();
    expect(heardByDoc(waiting).get(docs[7]!.id)).toHaveLength(5);
    // Alice is subscribed to every document she created: Bob's write to one reaches her.
    b.send(new SessionWriter(bob, docs[3]!.id).content(transactions(1, "from-bob")));
    await b.next("known", (k) => k.reason === "ack");
    expect((await a.next("content")).doc).toBe(docs[3]!.id);
  });

  it("a forged message among valid ones is refused alone with bad_signature, nothing of it stored; the ones after it are judged as if it never came", async () => {
    const { group, a, b } = await setup("frame-forged");
    const [one, bad, two, three] = ["one", "bad", "two", "three"].map((name) => testHeader(alice, group, name)) as [ReturnType<typeof testHeader>, ...ReturnType<typeof testHeader>[]];
    const w1 = new SessionWriter(alice, one.id);
    const w3 = new SessionWriter(alice, three!.id);
    const messages = [
      w1.content(transactions(5, "one"), one.header),
      forged(new SessionWriter(alice, bad!.id), 5, "bad", bad!.header),
      new SessionWriter(alice, two!.id).content(transactions(5, "two"), two!.header),
      w1.content(transactions(5, "one-more")), // appends to a document created earlier in the same frame
      w3.content(transactions(5, "three"), three!.header),
      forged(w3, 5, "three-forged"),
      w3.content(transactions(5, "three-after")), // chained on the forged one: the relay never had it
    ];
    sendBatch(a, messages);
    await a.sync();
    const s = alice.session;
    expect(answers(a)).toEqual([
      `ack ${one.id} {"${s}":5}`,
      `error bad_signature ${bad!.id}`,
      `ack ${two!.id} {"${s}":5}`,
      `ack ${one.id} {"${s}":10}`,
      `ack ${three!.id} {"${s}":5}`,
      `error bad_signature ${three!.id}`,
      `correction ${three!.id} {"${s}":5}`,
    ]);
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs WHERE id = ?", bad!.id)).toEqual([{ n: 0 }]);
    expect((await storedLog(group, one.id, s)).map((row) => row.data)).toEqual([...transactions(5, "one"), ...transactions(5, "one-more")].map((tx) => tx.data));
    expect((await storedLog(group, three!.id, s)).map((row) => row.data)).toEqual(transactions(5, "three").map((tx) => tx.data));
    // Bob heard exactly what was stored.
    await b.sync();
    const heard = heardByDoc(b);
    expect(heard.get(one.id)).toEqual([...transactions(5, "one"), ...transactions(5, "one-more")].map((tx) => tx.data));
    expect(heard.has(bad!.id)).toBe(false);
    expect(heard.get(three!.id)).toEqual(transactions(5, "three").map((tx) => tx.data));
    // Sent again from where the relay is, Alice's writes are taken.
    a.send(new SessionWriter(alice, bad!.id).content(transactions(1, "bad-again"), bad!.header));
    expect(await a.next("known")).toMatchObject({ doc: bad!.id, sessions: { [s]: 1 }, reason: "ack" });
  });

  it("a header sent again, a correction and a refused document in one frame are answered in order around the contents stored together", async () => {
    const { group, a } = await setup("frame-mixed");
    const known = testHeader(alice, group, "known");
    const w = new SessionWriter(alice, known.id);
    a.send(w.content(transactions(2, "k"), known.header));
    await a.next("known", (k) => k.reason === "ack");
    const fresh = testHeader(alice, group, "fresh");
    const stale = new SessionWriter(alice, known.id);
    const messages = [
      new SessionWriter(alice, fresh.id).content(transactions(3, "fresh"), fresh.header),
      { type: "content", doc: known.id, header: known.header, sessions: {} },
      stale.content(transactions(1, "stale")), // after 0, where the relay holds 2
      new SessionWriter(alice, testHeader(alice, group, "no-header").id).content(transactions(1, "orphan")), // no header: unknown
      w.content(transactions(1, "k-next")),
    ];
    sendBatch(a, messages);
    await a.sync();
    const s = alice.session;
    expect(answers(a)).toEqual([
      `ack ${fresh.id} {"${s}":3}`,
      `ack ${known.id} {}`,
      `correction ${known.id} {"${s}":2}`,
      `error unknown_doc ${testHeader(alice, group, "no-header").id}`,
      `ack ${known.id} {"${s}":3}`,
    ]);
    expect((await storedLog(group, known.id, s)).map((row) => row.data)).toEqual(["k-0", "k-1", "k-next-0"]);
  });

  it("a frame of loads is answered in one frame, its subscriptions stored in one statement; an unsub later in the frame still wins", async () => {
    const { group, a } = await setup("frame-loads");
    const docs = Array.from({ length: 50 }, (_, i) => testHeader(alice, group, `load-${i}`));
    const c = await connect(group, testAgent(95));
    const framesBefore = c.frames;
    const cost = await countSql(group, async () => {
      sendBatch(c, [
        ...docs.map(({ id }) => ({ type: "load", doc: id, known: { header: false, sessions: {} } })),
        { type: "unsub", doc: docs[0]!.id },
      ]);
      await c.sync();
    });
    expect(c.drain("known").map((k) => `${k.reason} ${k.doc}`)).toEqual(docs.map(({ id }) => `load ${id}`));
    // The answers and the pong: not one frame per load.
    expect(c.frames - framesBefore).toBeLessThanOrEqual(3);
    expect(cost.statements).toBeLessThanOrEqual(5);
    expect(await sqlRows(group, "SELECT count(*) AS n FROM subscriptions WHERE doc IN (SELECT value FROM json_each(?))", JSON.stringify(docs.map((d) => d.id)))).toEqual([{ n: 49 }]);
    // Each document, once created, reaches the peer that loaded it, except the one it unsubscribed from.
    sendBatch(a, docs.map(({ id, header }) => new SessionWriter(alice, id).content(transactions(1, "x"), header)));
    await a.sync();
    await c.sync();
    const heard = heardByDoc(c);
    expect(heard.has(docs[0]!.id)).toBe(false);
    for (const { id } of docs.slice(1)) expect(heard.get(id)).toEqual(["x-0"]);
  });

  it("a frame of 500 contents whose signatures do not verify, each a new session: each refused once, in proportion to the frame, and the content after them stored", async () => {
    const { group, a } = await setup("frame-forged");
    const doc = testHeader(alice, group, "forged-many");
    const creator = new SessionWriter(alice, doc.id);
    sendBatch(a, [creator.content(transactions(1, "first"), doc.header)]);
    await a.sync();
    a.inbox.splice(0);
    const count = 500;
    const forgers = Array.from({ length: count }, (_, i) => new SessionWriter(testAgent(91, `forged-${String(i).padStart(4, "0")}`), doc.id));
    const cost = await countSql(group, async () => {
      sendBatch(a, [...forgers.map((writer) => forged(writer, 1, "f")), creator.content(transactions(1, "after"))]);
      await a.sync();
    });
    const heard = answers(a);
    expect(heard.filter((answer) => answer.startsWith("error bad_signature"))).toHaveLength(count);
    expect(heard.at(-1)).toBe(`ack ${doc.id} ${JSON.stringify({ [alice.session]: 2 })}`);
    // Each message judged once (a frame judged again after each refusal ran 125,251 statements).
    expect(cost.statements).toBeLessThanOrEqual(2 * count);
    expect(await sqlRows(group, "SELECT count(*) AS n FROM sessions")).toEqual([{ n: 1 }]);
  });

  it("a frame of many unsubs runs a few statements, not one per message; each document ends as the frame's last message about it left it", async () => {
    const { group } = await setup("frame-unsubs");
    const docs = Array.from({ length: 1_000 }, (_, i) => testHeader(alice, group, `unsub-${i}`).id);
    const c = await connect(group, testAgent(95));
    const load = (doc: string) => ({ type: "load", doc, known: { header: false, sessions: {} } });
    const subscribed = () => sqlRows(group, "SELECT doc FROM subscriptions WHERE peer = (SELECT peer FROM subscriptions WHERE doc = ? LIMIT 1) ORDER BY doc", docs[0]!);
    sendBatch(c, docs.slice(0, 200).map(load));
    await c.sync();
    expect(await subscribed()).toHaveLength(200);
    c.inbox.splice(0);
    const cost = await countSql(group, async () => {
      sendBatch(c, [...docs.map((doc) => ({ type: "unsub", doc })), ...docs.slice(0, 10).map(load), ...docs.slice(1, 5).map((doc) => ({ type: "unsub", doc }))]);
      await c.sync();
    });
    expect(cost.statements).toBeLessThanOrEqual(6);
    expect((await subscribed()).map((row) => row.doc)).toEqual([docs[0], ...docs.slice(5, 10)].sort());
  });
});
