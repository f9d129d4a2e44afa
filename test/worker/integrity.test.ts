// Every client message commits whole or not at all, malformed messages get bad_frame, text is stored
// exactly, and an ack says only what changed: on the real Durable Object and SQLite.
import { afterEach, describe, expect, it } from "vitest";
import { GENESIS_HASH, MAX_CLOCK_AHEAD_MS, batchFrame, chainHash, docIdOf, encodeForBatch, encodeMessage, signCheckpoint, type ClientMessage, type DocHeader } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { SessionWriter, allRows, closeAll, connect, documentWithBystander, emptyKnown, sqlRows, storedLog, uniqueGroup, type Peer } from "./socket.ts";
import { countSql } from "./sql-count.ts";

afterEach(closeAll);

const alice = testAgent(51);
const aliceTwo = testAgent(51, "session-two");
const bob = testAgent(52);
const mallory = testAgent(53);

/** A group where Alice created a document with 3 transactions and Bob is subscribed to it. */
async function setup(label: string) {
  const { before, ...setting } = await documentWithBystander(label, alice, bob);
  const { group, a, b } = setting;
  /** Asserts nothing was stored, the sender got no ack, and Bob (a bystander) received nothing. */
  const unchanged = async () => {
    expect(await allRows(group)).toEqual(before);
    await Promise.all([a.sync(), b.sync()]);
    expect(a.drain("known").filter((k) => k.reason === "ack")).toEqual([]);
    expect(b.inbox).toEqual([]);
  };
  return { ...setting, unchanged };
}

/** A chunk that chains correctly but whose checkpoint is signed with Mallory's key. */
function forgedChunk(writer: SessionWriter, data = "forged") {
  const txs = transactions(1, data);
  const lastHash = chainHash(writer.lastHash, txs);
  return { after: writer.count, transactions: txs, signature: signCheckpoint(mallory.secretKey, writer.doc, writer.session, writer.count + 1, lastHash) };
}

async function expectError(peer: Peer, code: string, closeCode?: number) {
  const error = await peer.next("error");
  expect(error.code).toBe(code);
  if (closeCode !== undefined) expect((await peer.closed).code).toBe(closeCode);
  return error;
}

describe("a client message commits whole or not at all", () => {
  it("one forged session of two: one bad_signature naming it, no ack, nothing stored or forwarded", async () => {
    const { id, log, a, unchanged } = await setup("atomic-sig");
    const second = new SessionWriter(aliceTwo, id);
    a.send({ type: "content", doc: id, sessions: { [alice.session]: log.fork().append(transactions(2, "valid")), [aliceTwo.session]: forgedChunk(second) } });
    expect(await expectError(a, "bad_signature")).toMatchObject({ doc: id, session: aliceTwo.session });
    await unchanged();
    expect(a.drain("error")).toEqual([]); // one error, not one per session
    // Both sessions are where they were: the honest frame at the same positions is acked whole.
    a.send({ type: "content", doc: id, sessions: { [alice.session]: log.append(transactions(2, "valid")), [aliceTwo.session]: second.append(transactions(1, "two")) } });
    expect(await a.next("known")).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 5, [aliceTwo.session]: 1 }, reason: "ack" });
  });

  it("a transaction stamped more than MAX_CLOCK_AHEAD_MS ahead of the relay's clock: one bad_time naming its session, nothing stored or forwarded", async () => {
    const { id, log, a, unchanged } = await setup("atomic-time");
    const second = new SessionWriter(aliceTwo, id);
    for (const at of [Date.now() + MAX_CLOCK_AHEAD_MS + 60_000, Number.MAX_SAFE_INTEGER]) {
      a.send({ type: "content", doc: id, sessions: { [alice.session]: log.fork().append(transactions(1, "now")), [aliceTwo.session]: second.fork().append([{ at, data: "ahead" }]) } });
      expect(await expectError(a, "bad_time")).toMatchObject({ doc: id, session: aliceTwo.session });
      await unchanged();
    }
    // A time within the margin is taken.
    a.send({ type: "content", doc: id, sessions: { [aliceTwo.session]: second.append([{ at: Date.now() + MAX_CLOCK_AHEAD_MS - 60_000, data: "a little ahead" }]) } });
    expect(await a.next("known")).toMatchObject({ reason: "ack", sessions: { [aliceTwo.session]: 1 } });
  });

  it("a new document whose only chunk is forged is not created and not acked", async () => {
    const { group, a, b, unchanged } = await setup("atomic-new");
    const { id, header } = testHeader(alice, group, "forged-first");
    a.send({ type: "content", doc: id, header, sessions: { [alice.session]: forgedChunk(new SessionWriter(alice, id)) } });
    expect(await expectError(a, "bad_signature")).toMatchObject({ doc: id, session: alice.session });
    await unchanged();
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs WHERE id = ?", id)).toEqual([{ n: 0 }]);
    b.send({ type: "dir" });
    expect((await b.next("dir")).docs.map((entry) => entry.id)).not.toContain(id);
    // Sent again honestly, the header and the chunk are created together and acked in one answer.
    a.send(new SessionWriter(alice, id).content(transactions(1), header));
    expect(await a.next("known")).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 1 }, reason: "ack" });
  });

  it("a wrong `after` on one of two sessions stores neither and corrects both", async () => {
    const { group, id, log, a, unchanged } = await setup("atomic-after");
    const second = new SessionWriter(aliceTwo, id);
    second.count = 4; // the relay has none of this session
    a.send({ type: "content", doc: id, sessions: { [alice.session]: log.fork().append(transactions(1, "valid")), [aliceTwo.session]: second.append(transactions(1, "gap")) } });
    expect(await a.next("known")).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 3, [aliceTwo.session]: 0 }, reason: "correction" });
    await unchanged();
    expect(await storedLog(group, id, aliceTwo.session)).toEqual([]);
  });

  it("each message of a batch is atomic on its own and answered in order", async () => {
    const { group, id, log, a, b } = await setup("atomic-batch");
    const first = log.append(transactions(1, "first"));
    const forged = forgedChunk(log.fork(), "forged");
    const third = new SessionWriter(aliceTwo, id);
    const messages = [
      { type: "content", doc: id, sessions: { [alice.session]: first } },
      { type: "content", doc: id, sessions: { [alice.session]: forged } },
      { type: "content", doc: id, sessions: { [aliceTwo.session]: third.append(transactions(1, "third")) } },
    ];
    a.sendRaw(batchFrame(messages.map((message) => encodeForBatch(message as ClientMessage))));
    await a.sync();
    const answers = a.inbox.splice(0).map((m) => (m.type === "known" ? `${m.reason} ${JSON.stringify(m.sessions)}` : m.type === "error" ? `error ${m.code}` : m.type));
    expect(answers).toEqual([
      `ack {"${alice.session}":4}`,
      "error bad_signature",
      `ack {"${aliceTwo.session}":1}`,
    ]);
    expect((await allRows(group)).map((row) => row.data)).toEqual(["tx-0", "tx-1", "tx-2", "first-0", "third-0"]);
    await b.sync();
    expect(b.drain("content").flatMap((m) => Object.values(m.sessions).flatMap((chunk) => chunk.transactions.map((tx) => tx.data)))).toEqual(["first-0", "third-0"]);
  });
});

describe("malformed messages get bad_frame", () => {
  it.each([
    ["content sessions as a list", (id: string) => ({ type: "content", doc: id, sessions: [] })],
    ["load known.sessions as a list", (id: string) => ({ type: "load", doc: id, known: { header: true, sessions: [] } })],
    ["open known as a list", () => ({ type: "open", known: [] })],
    ["an empty content", (id: string) => ({ type: "content", doc: id, sessions: {} })],
    ["a chunk with no transactions", (id: string) => ({ type: "content", doc: id, sessions: { [alice.session]: { after: 3, at: [], data: [], signature: "AAAA" } } })],
  ])("%s is bad_frame and closes with 1007", async (_label, make) => {
    const { id, a, b } = await setup("bad-shape");
    a.sendRaw(JSON.stringify(make(id)));
    await expectError(a, "bad_frame", 1007);
    await b.sync();
    expect(b.inbox).toEqual([]);
  });
});

describe("text is stored exactly or refused", () => {
  it("data with a lone surrogate is bad_frame; nothing stored", async () => {
    const { group, log, a, b } = await setup("lone-surrogate");
    const before = await allRows(group);
    // JSON.stringify escapes the lone surrogate, so the frame itself is valid UTF-8.
    a.sendRaw(encodeMessage(log.fork().content([{ at: 1, data: "x\ud800y" }]) as ClientMessage));
    expect((await expectError(a, "bad_frame", 1007)).message).toMatch(/UTF-16|surrogate/);
    expect(await allRows(group)).toEqual(before);
    await b.sync();
    expect(b.inbox).toEqual([]);
  });

  it("a header whose meta holds a lone surrogate is bad_frame; no document is created", async () => {
    const { group, a } = await setup("lone-meta");
    const header: DocHeader = { group, kind: "json", creator: alice.agent, createdAt: 1, nonce: "n-meta", meta: { title: "a\udc00" } };
    const id = docIdOf(header);
    a.sendRaw(encodeMessage(new SessionWriter(alice, id).content(transactions(1), header) as ClientMessage));
    expect((await expectError(a, "bad_frame", 1007)).message).toMatch(/UTF-16|surrogate/);
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs WHERE id = ?", id)).toEqual([{ n: 0 }]);
  });

  it("astral characters, NUL and escapes round-trip exactly through storage and a later load", async () => {
    const { group, id, log, a } = await setup("exact-text");
    const texts = ["😀 pair", "nul\u0000inside", "\u2028\u2029", 'quote " back \\ slash', "\uFFFD", "é".repeat(10)];
    a.send(log.content(texts.map((data, i) => ({ at: 10 + i, data }))));
    expect(await a.next("known")).toMatchObject({ reason: "ack", sessions: { [alice.session]: 3 + texts.length } });
    expect((await storedLog(group, id, alice.session)).slice(3).map((row) => row.data)).toEqual(texts);
    const c = await connect(group, testAgent(54));
    c.send({ type: "load", doc: id, known: emptyKnown });
    await c.next("known", (k) => k.reason === "load");
    const loaded = c.drain("content").flatMap((m) => m.sessions[alice.session]?.transactions ?? []);
    expect(loaded.slice(3).map((tx) => tx.data)).toEqual(texts);
    // The chain the relay serves is the chain the writer signed.
    expect(chainHash(GENESIS_HASH, loaded)).toBe(log.lastHash);
  });
});

describe("a write costs what it changes", () => {
  /**
   * Alice writes one transaction to each of `count - 1` sessions of a new document, in frames of 500: with
   * the session she then writes as, it has `count` (all hers: as many as one agent may write).
   */
  async function manySessions(group: string, a: Peer, count: number) {
    const { id, header } = testHeader(alice, group, `many-${count}`);
    for (let start = 0; start === 0 || start < count - 1; start += 500) {
      const sessions: Record<string, unknown> = {};
      for (let i = start; i < Math.min(count - 1, start + 500); i++) {
        const writer = new SessionWriter(testAgent(51, `many-${String(i).padStart(4, "0")}`), id);
        sessions[writer.session] = writer.append(transactions(1, "x"));
      }
      a.send({ type: "content", doc: id, ...(start === 0 ? { header } : {}), sessions });
      await a.next("known", (k) => k.reason === "ack");
    }
    return id;
  }

  it("the ack of a one-transaction write to a 1,000-session document names only that session", async () => {
    const group = uniqueGroup("ack-size");
    const a = await connect(group, alice);
    const id = await manySessions(group, a, 1_000);
    const log = new SessionWriter(alice, id);
    a.send(log.content([{ at: 1, data: "x".repeat(300) }]));
    const ack = await a.next("known", (k) => k.reason === "ack");
    expect(ack).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 1 }, reason: "ack" });
    expect(a.received.at(-1)!.bytes).toBeLessThan(300);
  });

  it("a one-transaction write runs at most 2 SQL statements and reads a few rows, however many sessions the document has", async () => {
    const group = uniqueGroup("write-cost");
    const a = await connect(group, alice);
    const costs: { statements: number; rowsRead: number }[] = [];
    for (const sessions of [1, 1_000]) {
      const id = await manySessions(group, a, sessions);
      const log = new SessionWriter(alice, id);
      a.send(log.content(transactions(1, "warm")));
      await a.next("known", (k) => k.reason === "ack");
      const counted = await countSql(group, async () => {
        a.send(log.content(transactions(1, "measured")));
        await a.next("known", (k) => k.reason === "ack");
      });
      costs.push(counted);
    }
    for (const cost of costs) expect(cost.statements).toBeLessThanOrEqual(2);
    expect(costs[1]!.rowsRead).toBe(costs[0]!.rowsRead);
  });
});
