// What storage costs, counted as Cloudflare bills it: the rows SQLite reads and writes (each cursor's
// rowsRead / rowsWritten) and the statements run, on the real Durable Object. Transactions are stored many
// to a row, so ingesting and loading touch a few rows per hundreds of transactions.
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { batchFrame, encodeForBatch, type ClientMessage, type DocId } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, emptyKnown, groupStub, heardByDoc, storedLog, uniqueGroup, type Peer } from "./socket.ts";
import { costOf, prunedAll, recordStatements, snapshotOf } from "./snapshot-helpers.ts";
import { countSql } from "./sql-count.ts";

afterEach(closeAll);

const alice = testAgent(81);
const bob = testAgent(82);

/** `count` documents of Alice's, `perDoc` transactions each (named after the document), written in one frame. */
async function writeMany(a: Peer, group: string, label: string, count: number, perDoc: number) {
  const docs = Array.from({ length: count }, (_, i) => testHeader(alice, group, `${label}-${i}`));
  a.sendRaw(batchFrame(docs.map(({ id, header }) => encodeForBatch(new SessionWriter(alice, id).content(transactions(perDoc, id.slice(-6)), header) as ClientMessage))));
  await a.sync();
  return docs.map(({ id }) => ({ id, data: transactions(perDoc, id.slice(-6)).map((tx) => tx.data) }));
}

/** The group's object evicted, its sockets closed: the next instance caches nothing and reads it all from storage. */
const evicted = (group: string) => evictDurableObject(groupStub(group), { webSockets: "close" });

/** 300 documents of 5 transactions stored, the object then evicted, and Bob connected to a fresh one. */
async function storedThenFresh(label: string) {
  const group = uniqueGroup(`rows-${label}`);
  const a = await connect(group, alice);
  const docs = await writeMany(a, group, label, 300, 5);
  await a.close();
  await evicted(group);
  return { group, docs, b: await connect(group, bob) };
}

/** A document of Alice's with 10,000 transactions (`b<batch>-<i>`), written in batches of 1,000. */
async function tenThousandStored(label: string) {
  const group = uniqueGroup(label);
  const a = await connect(group, alice);
  const { id, header } = testHeader(alice, group, label);
  const log = new SessionWriter(alice, id);
  for (let batch = 0; batch < 10; batch++) {
    a.send(log.content(transactions(1_000, `b${batch}`, 1_000 * batch), batch === 0 ? header : undefined));
    await a.next("known", (k) => k.reason === "ack");
  }
  return { group, id };
}

/** A client holding nothing of `doc` loads it: the rows that cost, and the transactions it got. */
async function freshLoad(group: string, who: ReturnType<typeof testAgent>, doc: DocId) {
  const b = await connect(group, who);
  const cost = await countSql(group, async () => {
    b.send({ type: "load", doc, known: emptyKnown });
    await b.next("known", (k) => k.reason === "load");
  });
  return { cost, received: b.drain("content").flatMap((m) => m.sessions[alice.session]?.transactions ?? []) };
}

describe("rows per transaction", () => {
  it("ingesting 1,000 transactions in batches of 100 writes at most 100 rows, and each is stored as sent", async () => {
    const group = uniqueGroup("rows-ingest");
    const a = await connect(group, alice);
    const { id, header } = testHeader(alice, group, "ingest");
    const log = new SessionWriter(alice, id);
    a.send(log.content(transactions(1, "first"), header));
    await a.next("known", (k) => k.reason === "ack");
    const cost = await countSql(group, async () => {
      for (let batch = 0; batch < 10; batch++) {
        a.send(log.content(transactions(100, `b${batch}`)));
        await a.next("known", (k) => k.reason === "ack");
      }
    });
    expect(cost.rowsWritten).toBeLessThanOrEqual(100);
    const stored = await storedLog(group, id, alice.session);
    expect(stored).toHaveLength(1_001);
    expect(stored.slice(1, 3).map((row) => row.data)).toEqual(["b0-0", "b0-1"]);
    expect(stored.at(-1)).toMatchObject({ idx: 1_000, data: "b9-99", signature: expect.any(String) });
  });

  it("a fresh load of 10,000 transactions reads at most 100 rows and gets every transaction in order", async () => {
    const { group, id } = await tenThousandStored("rows-load");
    const { cost, received } = await freshLoad(group, bob, id);
    expect(cost.rowsRead).toBeLessThanOrEqual(100);
    expect(received).toHaveLength(10_000);
    expect(received.map((tx) => tx.data).slice(999, 1_001)).toEqual(["b0-999", "b1-0"]);
  });

  it("a second fresh load of the same 10,000 transactions reads none of them again, and gets every one in order", async () => {
    const { group, id } = await tenThousandStored("rows-load-again");
    const first = await freshLoad(group, bob, id);
    const second = await freshLoad(group, testAgent(83), id);
    // 10,000 transactions are 40 rows of 256: the second load reads none of them, only a few rows of its own.
    expect(first.cost.rowsRead - second.cost.rowsRead).toBeGreaterThanOrEqual(40);
    expect(second.cost.rowsRead).toBeLessThan(10);
    expect(second.received).toHaveLength(10_000);
    expect(second.received).toEqual(first.received);
  });

  it("a one-transaction write runs 2 statements; the one that finds its open chunk full runs one more, and nothing is lost", async () => {
    const group = uniqueGroup("rows-one");
    const a = await connect(group, alice);
    const { id, header } = testHeader(alice, group, "one");
    const log = new SessionWriter(alice, id);
    a.send(log.content(transactions(1, "w0"), header));
    await a.next("known", (k) => k.reason === "ack");
    // 255 more fill the open chunk to CHUNK_ROW_TRANSACTIONS (256).
    for (let i = 1; i < 256; i++) a.send(log.content(transactions(1, `w${i}`)));
    for (let i = 1; i < 256; i++) await a.next("known", (k) => k.reason === "ack");
    const statements: number[] = [];
    for (let i = 256; i < 259; i++) {
      const cost = await countSql(group, async () => {
        a.send(log.content(transactions(1, `w${i}`)));
        await a.next("known", (k) => k.reason === "ack");
      });
      statements.push(cost.statements);
    }
    expect(statements).toEqual([3, 2, 2]);
    expect((await storedLog(group, id, alice.session)).map((row) => row.data)).toEqual(Array.from({ length: 259 }, (_, i) => `w${i}-0`));
  }, 30_000);

  it("creating a document of 5 transactions runs 7 statements: 2 lookups (the document, its waiting subscribers) and 5 writes", async () => {
    const group = uniqueGroup("rows-create");
    const a = await connect(group, alice);
    const warm = testHeader(alice, group, "warm");
    a.send(new SessionWriter(alice, warm.id).content(transactions(5, "warm"), warm.header));
    await a.next("known", (k) => k.reason === "ack");
    const { id, header } = testHeader(alice, group, "created");
    const cost = await countSql(group, async () => {
      a.send(new SessionWriter(alice, id).content(transactions(5, "c"), header));
      await a.next("known", (k) => k.reason === "ack");
    });
    expect(cost.statements).toBeLessThanOrEqual(7);
    expect((await storedLog(group, id, alice.session)).map((row) => row.data)).toEqual(["c-0", "c-1", "c-2", "c-3", "c-4"]);
  });

  it("opening a group of 300 small documents, the object fresh from storage, runs a few statements per 200 documents, not one per document; each arrives whole", async () => {
    const { group, docs, b } = await storedThenFresh("open");
    const cost = await countSql(group, async () => {
      b.send({ type: "open", known: {} });
      await b.next("opened", undefined, 30_000);
    });
    // The listing's (one per slice of 200: each document with its sessions' heads and open chunks), the
    // subscriptions, the group's facts.
    expect(cost.statements).toBeLessThanOrEqual(10);
    expect(cost.rowsRead).toBeLessThanOrEqual(5 * docs.length);
    const heard = heardByDoc(b);
    for (const { id, data } of docs) expect(heard.get(id)).toEqual(data);
    expect(b.drain("known").map((k) => k.doc).sort()).toEqual(docs.map(({ id }) => id).sort());
  }, 30_000);

  it("an open still sends whole what the listing does not carry: an open chunk over 2 KiB, the open chunks of a document of 6 sessions, a document of 40", async () => {
    const group = uniqueGroup("rows-open-large");
    const a = await connect(group, alice);
    const big = testHeader(alice, group, "big");
    const many = testHeader(alice, group, "many");
    const small = testHeader(alice, group, "small");
    const expected = new Map<DocId, Map<string, string[]>>();
    const write = async (doc: { id: DocId; header: unknown }, writer: SessionWriter, count: number, prefix: string, header = false) => {
      a.send(writer.content(transactions(count, prefix), header ? doc.header : undefined));
      await a.next("known", (k) => k.doc === doc.id && k.reason === "ack");
      const sessions = expected.get(doc.id) ?? new Map<string, string[]>();
      sessions.set(writer.session, [...(sessions.get(writer.session) ?? []), ...transactions(count, prefix).map((tx) => String(tx.data))]);
      expected.set(doc.id, sessions);
    };
    await write(big, new SessionWriter(alice, big.id), 60, "x".repeat(90), true);
    await write(many, new SessionWriter(alice, many.id), 1, "first", true);
    for (let i = 0; i < 39; i++) await write(many, new SessionWriter(testAgent(81, `device-${i}`), many.id), 2, `s${i}`);
    await write(small, new SessionWriter(alice, small.id), 3, "small", true);
    const six = testHeader(alice, group, "six");
    await write(six, new SessionWriter(alice, six.id), 1, "six-first", true);
    for (let i = 0; i < 5; i++) await write(six, new SessionWriter(testAgent(81, `device-six-${i}`), six.id), 2, `six${i}`);
    await a.close();
    await evicted(group);
    const b = await connect(group, bob);
    b.send({ type: "open", known: {} });
    await b.next("opened", undefined, 30_000);
    const heard = new Map<DocId, Map<string, string[]>>();
    for (const message of b.drain("content")) {
      const sessions = heard.get(message.doc) ?? new Map<string, string[]>();
      for (const [session, chunk] of Object.entries(message.sessions)) sessions.set(session, [...(sessions.get(session) ?? []), ...chunk!.transactions.map((tx) => String(tx.data))]);
      heard.set(message.doc, sessions);
    }
    expect(heard).toEqual(expected);
    expect(expected.get(many.id)!.size).toBe(40);
    expect(expected.get(six.id)!.size).toBe(6);
  }, 30_000);

  it("a frame of 300 loads, the object fresh from storage, runs a few statements, not one or two per document; each arrives whole", async () => {
    const { group, docs, b } = await storedThenFresh("load");
    const cost = await countSql(group, async () => {
      b.sendRaw(batchFrame(docs.map(({ id }) => encodeForBatch({ type: "load", doc: id, known: emptyKnown }))));
      for (let i = 0; i < docs.length; i++) await b.next("known", (k) => k.reason === "load", 30_000);
    });
    expect(cost.statements).toBeLessThanOrEqual(10);
    const heard = heardByDoc(b);
    for (const { id, data } of docs) expect(heard.get(id)).toEqual(data);
  }, 30_000);

  it("a load in the same frame as a write to its document, after it, gets the document with the write", async () => {
    const group = uniqueGroup("rows-load-after-write");
    const a = await connect(group, alice);
    const { id, header } = testHeader(alice, group, "written");
    const log = new SessionWriter(alice, id);
    a.send(log.content(transactions(3, "before"), header));
    await a.next("known", (k) => k.reason === "ack");
    await a.close();
    await evicted(group);
    const b = await connect(group, alice);
    // Read ahead at the frame's start: the document as it was (3), then the write (2 more), then the load.
    b.sendRaw(batchFrame([encodeForBatch({ type: "load", doc: id, known: emptyKnown }), encodeForBatch(log.content(transactions(2, "after")) as ClientMessage), encodeForBatch({ type: "load", doc: id, known: emptyKnown })]));
    const first = await b.next("known", (k) => k.reason === "load");
    expect(first.sessions).toEqual({ [alice.session]: 3 });
    expect(await b.next("known", (k) => k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 5 } });
    const second = await b.next("known", (k) => k.reason === "load");
    expect(second.sessions).toEqual({ [alice.session]: 5 });
    const data = b.drain("content").flatMap((message) => Object.values(message.sessions).flatMap((chunk) => chunk!.transactions.map((tx) => String(tx.data))));
    expect(data).toEqual([...transactions(3, "before"), ...transactions(3, "before"), ...transactions(2, "after")].map((tx) => tx.data));
  });

  it("listing a group of 300 documents (dir) runs a few statements, not one per document, and lists each with its sessions", async () => {
    const group = uniqueGroup("rows-dir");
    const a = await connect(group, alice);
    const docs = await writeMany(a, group, "dir", 300, 2);
    const listed: { id: DocId; known: { sessions: Record<string, number> } }[] = [];
    let digest = "";
    const cost = await countSql(group, async () => {
      a.send({ type: "dir" });
      for (let more = true; more; ) {
        const frame = await a.next("dir");
        listed.push(...frame.docs);
        more = frame.more;
        digest = frame.digest;
      }
    });
    expect(cost.statements).toBeLessThanOrEqual(5);
    expect(listed.map((entry) => entry.id).sort()).toEqual(docs.map(({ id }) => id).sort());
    for (const entry of listed) expect(entry.known.sessions).toEqual({ [alice.session]: 2 });
    // Asked again with the digest it got: in sync, and no document is read to say so (not even to learn
    // that none has readers of its own, which a writer's dir checks every time).
    const again = await countSql(group, async () => {
      a.send({ type: "dir", digest });
      expect(await a.next("dir")).toMatchObject({ inSync: true, docs: [] });
    });
    expect(again.rowsRead).toBeLessThanOrEqual(2);
  });

  it("a fresh load of a 10,000-transaction document whose snapshot pruned them reads under 10 rows; storing the snapshot wrote 3", async () => {
    const group = uniqueGroup("rows-snapshot");
    const a = await connect(group, alice);
    const { id, header } = testHeader(alice, group, "snapshotted");
    const log = new SessionWriter(alice, id);
    for (let batch = 0; batch < 10; batch++) {
      a.send(log.content(transactions(1_000, `b${batch}`, 1_000 * batch), batch === 0 ? header : undefined));
      await a.next("known", (k) => k.reason === "ack");
    }
    // Counted statement by statement: the alarm that prunes (at once in this project) may run meanwhile.
    const recorder = await recordStatements(group);
    a.send(snapshotOf(alice, id, { [alice.session]: 9_990 }, "the merged state"));
    await a.next("snapshotted");
    await recorder.stop();
    // Its row, its entry in the index of snapshots to prune, and (by a trigger) its author's usage.
    expect(costOf(recorder.statements, "INSERT INTO snapshots")).toMatchObject({ statements: 1, rowsWritten: 3 });
    await prunedAll(group);
    const b = await connect(group, bob);
    const cost = await countSql(group, async () => {
      b.send({ type: "load", doc: id, known: emptyKnown });
      await b.next("known", (k) => k.reason === "load");
    });
    expect(cost.rowsRead).toBeLessThan(10);
    expect(b.drain("snapshot")).toMatchObject([{ data: "the merged state" }]);
    expect(b.drain("content").flatMap((m) => m.sessions[alice.session]?.transactions ?? []).map((tx) => tx.data)).toEqual(Array.from({ length: 10 }, (_, i) => `b9-${990 + i}`));
  });
});
