// Acks mean "stored": what a writer is told it wrote is in the object's SQLite, byte for byte, in order.
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { chainHash, GENESIS_HASH } from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, emptyKnown, groupStub, sqlRows, storedLog, takeContent, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(21);

describe("durability", () => {
  it("a write is acked only once its rows, header and checkpoint are in SQLite", async () => {
    const group = uniqueGroup("dur-ack");
    const { id, header } = testHeader(alice, group);
    const writer = new SessionWriter(alice, id);
    const peer = await connect(group, alice);
    // Data the relay must store verbatim: quotes, backslashes, newlines, non-ASCII, astral characters.
    const txs = [
      { at: 1_700_000_000_001, data: '{"op":"set","path":["a"],"value":"x\\"y"}' },
      { at: 1_700_000_000_002, data: "line one\nline two\ttab \\ backslash" },
      { at: 1_700_000_000_003, data: "grüße, 日本語, 🧵" },
    ];
    const frame = writer.content(txs, header);
    peer.send(frame);
    expect(await peer.next("known")).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 3 }, reason: "ack" });

    const rows = await storedLog(group, id, alice.session);
    expect(rows).toEqual(txs.map((tx, idx) => ({ idx, at: tx.at, data: tx.data, signature: idx === 2 ? frame.sessions[alice.session]!.signature : null })));
    const [session] = await sqlRows<{ count: number; last_hash: string; signature: string }>(
      group,
      "SELECT count, last_hash, signature FROM sessions WHERE id = ?",
      alice.session,
    );
    expect(session).toEqual({ count: 3, last_hash: chainHash(GENESIS_HASH, txs), signature: frame.sessions[alice.session]!.signature });
    const docs = await sqlRows<{ id: string; header: string }>(group, "SELECT id, header FROM docs");
    expect(docs).toHaveLength(1);
    expect(docs[0]!.id).toBe(id);
    expect(JSON.parse(docs[0]!.header)).toEqual(header);
    await peer.close();
  });

  it("pipelined frames (after=0,10,20,...) are all acked in order and all stored", async () => {
    const group = uniqueGroup("dur-pipeline");
    const { id, header } = testHeader(alice, group);
    const writer = new SessionWriter(alice, id);
    const peer = await connect(group, alice);
    const batches = Array.from({ length: 8 }, (_, batch) => transactions(10, `batch${batch}`, 1_700_000_000_000 + batch * 10));
    const frames = batches.map((txs, batch) => writer.content(txs, batch === 0 ? header : undefined));
    expect(frames.map((frame) => frame.sessions[alice.session]!.after)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    for (const frame of frames) peer.send(frame); // no waiting between frames

    const acks = [];
    for (let i = 0; i < frames.length; i++) acks.push(await peer.next("known"));
    expect(acks.map((ack) => ack.reason)).toEqual(Array(8).fill("ack"));
    expect(acks.map((ack) => ack.sessions[alice.session])).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    await peer.sync();
    expect(peer.inbox).toEqual([]); // no correction, no error

    const rows = await storedLog(group, id, alice.session);
    expect(rows.map((row) => row.idx)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(rows.map((row) => row.data)).toEqual(batches.flat().map((tx) => tx.data));
    // Each batch's checkpoint sits on its last row, and only there.
    const signed = rows.flatMap((row) => (row.signature ? [[row.idx, row.signature]] : []));
    expect(signed).toEqual(frames.map((frame, batch) => [batch * 10 + 9, frame.sessions[alice.session]!.signature]));
    await peer.close();
  });

  it("a write whose commit fails is never acked, stores nothing of its frame, and others go on", async () => {
    const group = uniqueGroup("dur-fail");
    const { id, header } = testHeader(alice, group);
    const writer = new SessionWriter(alice, id);
    const bob = testAgent(23);
    const peer = await connect(group, alice);
    const other = await connect(group, bob);
    peer.send(writer.content(transactions(2, "before"), header));
    await peer.next("known", (known) => known.reason === "ack");
    // Simulate storage refusing a row half-way through a frame's commit (after the document row), as a full
    // disk would: the session row that would take the poisoned transaction into its open chunk.
    await sqlRows(group, `CREATE TRIGGER refuse_poison BEFORE UPDATE ON sessions WHEN NEW.tail LIKE '%"poison"%' BEGIN SELECT RAISE(ABORT, 'refused'); END`);

    peer.send(writer.content([{ at: 1, data: "fine" }, { at: 2, data: "poison" }]));
    expect(await peer.next("error")).toMatchObject({ code: "internal" });
    expect((await peer.closed).code).toBe(1011);
    expect(peer.drain("known")).toEqual([]);
    expect((await storedLog(group, id, alice.session)).map((row) => row.data)).toEqual(["before-0", "before-1"]);
    const [session] = await sqlRows<{ count: number }>(group, "SELECT count FROM sessions WHERE id = ?", alice.session);
    expect(session!.count).toBe(2);

    // Another peer's write to the same object still lands and is acked.
    const bobWriter = new SessionWriter(bob, id);
    other.send(bobWriter.content(transactions(1, "bob")));
    expect(await other.next("known")).toMatchObject({ reason: "ack", sessions: { [bob.session]: 1 } });
    await other.close();
  });

  it("acked writes survive the object being torn down with its sockets", async () => {
    const group = uniqueGroup("dur-restart");
    const { id, header } = testHeader(alice, group);
    const writer = new SessionWriter(alice, id);
    const peer = await connect(group, alice);
    const txs = transactions(25, "kept");
    peer.send(writer.content(txs.slice(0, 5), header));
    peer.send(writer.content(txs.slice(5)));
    await peer.next("known", (known) => known.sessions[alice.session] === 25);

    await evictDurableObject(groupStub(group), { webSockets: "close" });
    await peer.closed;

    const reader = await connect(group, testAgent(22));
    reader.send({ type: "load", doc: id, known: emptyKnown });
    expect(await reader.next("known")).toMatchObject({ reason: "load", header: true, sessions: { [alice.session]: 25 } });
    const received = takeContent(reader, id).get(alice.session) ?? [];
    expect(received.flatMap((chunk) => chunk.transactions)).toEqual(txs);
    await reader.close();
  });
});
