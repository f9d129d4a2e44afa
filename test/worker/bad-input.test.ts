// Bad input from one peer: it hears a stable error code (and a close where the protocol says so), storage is
// unchanged, and nobody else notices anything.
import { afterEach, describe, expect, it } from "vitest";
import {
  MAX_FRAME_BYTES,
  MAX_JSON_DEPTH,
  MAX_SESSIONS_PER_FRAME,
  MAX_TRANSACTION_BYTES,
  MAX_TRANSACTION_WIRE_BYTES,
  MAX_TRANSACTIONS_PER_FRAME,
  batchFrame,
  chainHash,
  docIdOf,
  encodeForBatch,
  encodeMessage,
  signCheckpoint,
  transactionSizeProblem,
  utf8Length,
  type ClientMessage,
} from "../../protocol/index.ts";
import { testAgent, testHeader, transactions } from "../support/identity.ts";
import { SessionWriter, allRows, closeAll, connect, documentWithBystander, sqlRows, type Peer } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(41);
const bob = testAgent(42);
const mallory = testAgent(43);

/** A group where Alice created a document with 3 transactions and Bob is subscribed to it. */
async function setup(label: string) {
  const { before, ...setting } = await documentWithBystander(label, alice, bob);
  const { group, b } = setting;
  expect(before).toHaveLength(3);
  /** Asserts nothing was stored and Bob (a bystander) received nothing. */
  const unchanged = async () => {
    expect(await allRows(group)).toEqual(before);
    await b.sync();
    expect(b.inbox).toEqual([]);
  };
  return { ...setting, unchanged };
}

/** Two transactions after Alice's three, with a checkpoint signed by `secretKey` for `count`. */
function forged(log: SessionWriter, secretKey: Uint8Array, count: number) {
  const txs = transactions(2, "x");
  return { after: log.count, transactions: txs, signature: signCheckpoint(secretKey, log.doc, alice.session, count, chainHash(log.lastHash, txs)) };
}

/** One batch frame of messages built by a SessionWriter. */
const batchOf = (messages: unknown[]) => batchFrame(messages.map((message) => encodeForBatch(message as ClientMessage)));

async function expectError(peer: Peer, code: string, closeCode?: number) {
  const error = await peer.next("error");
  expect(error.code).toBe(code);
  if (closeCode !== undefined) expect((await peer.closed).code).toBe(closeCode);
  return error;
}

describe("bad input", () => {
  it("a wrong `after` gets known reason=correction with the relay's count and stores nothing", async () => {
    const { group, id, log, a, b, unchanged } = await setup("bad-after");
    const ahead = new SessionWriter(alice, id);
    ahead.count = 5; // claims 5 are stored; the relay has 3
    a.send(ahead.content(transactions(2, "gap")));
    expect(await a.next("known")).toEqual({ type: "known", doc: id, header: true, sessions: { [alice.session]: 3 }, reason: "correction" });
    const behind = new SessionWriter(alice, id); // a replay of what is stored, from 0
    a.send(behind.content(transactions(1, "dup")));
    expect(await a.next("known")).toMatchObject({ sessions: { [alice.session]: 3 }, reason: "correction" });
    // A new session must start at 0.
    const fresh = new SessionWriter(testAgent(41, "second-session"), id);
    fresh.count = 2;
    a.send(fresh.content(transactions(1, "fresh")));
    // A correction names the relay's count of each session the message named, and only those.
    expect(await a.next("known")).toEqual({ type: "known", doc: id, header: true, sessions: { [fresh.session]: 0 }, reason: "correction" });
    await unchanged();
    expect(await sqlRows(group, "SELECT id FROM sessions ORDER BY id")).toEqual([{ id: alice.session }]);
    // After the correction the writer resumes from the relay's count and is acked.
    a.send(log.content(transactions(1, "next")));
    expect(await a.next("known")).toMatchObject({ sessions: { [alice.session]: 4 }, reason: "ack" });
    await Promise.all([a.close(), b.close()]);
  });

  it.each([
    // Exactly the checkpoint Alice would sign, signed with Mallory's key.
    ["signed with another key", (log: SessionWriter) => forged(log, mallory.secretKey, 5)],
    ["with tampered data", (log: SessionWriter) => ({ ...log.fork().append(transactions(2, "x")), transactions: transactions(2, "y") })],
    ["signed for another count", (log: SessionWriter) => forged(log, alice.secretKey, 4)],
  ])("a chunk %s gets bad_signature; nothing stored, nothing forwarded", async (_label, forge) => {
    const { id, log, a, b, unchanged } = await setup("bad-sig");
    a.send({ type: "content", doc: id, sessions: { [alice.session]: forge(log) } });
    const error = await expectError(a, "bad_signature");
    expect(error).toMatchObject({ doc: id, session: alice.session });
    await a.sync();
    expect(a.drain("known")).toEqual([]);
    await unchanged();
    // The session did not move: the honest chunk at the same position is accepted.
    a.send(log.content(transactions(2, "x")));
    expect(await a.next("known")).toMatchObject({ sessions: { [alice.session]: 5 }, reason: "ack" });
    expect((await b.next("content")).sessions[alice.session]?.transactions).toEqual(transactions(2, "x"));
    await Promise.all([a.close(), b.close()]);
  });

  it("writing a session of another agent is forbidden, stores nothing, and the writer stays connected", async () => {
    const { group, id, log, a, b, unchanged } = await setup("bad-owner");
    const m = await connect(group, mallory);
    // Alice's session, correctly chained and even signed by Alice: still not Mallory's to write.
    m.send(log.fork().content(transactions(1, "stolen")));
    const error = await expectError(m, "forbidden");
    expect(error).toMatchObject({ doc: id, session: alice.session });
    await unchanged();
    // Still connected: Mallory's own session is accepted on the same socket.
    m.send(new SessionWriter(mallory, id).content(transactions(1, "mine")));
    expect(await m.next("known")).toMatchObject({ reason: "ack", sessions: { [mallory.session]: 1 } });
    await Promise.all([a.close(), b.close(), m.close()]);
  });

  it("a frame mixing the sender's own session with another agent's is refused whole", async () => {
    const { group, id, log, a, b, unchanged } = await setup("bad-mixed");
    const m = await connect(group, mallory);
    const own = new SessionWriter(mallory, id);
    m.send({ type: "content", doc: id, sessions: { [alice.session]: log.fork().append(transactions(1, "stolen")), [mallory.session]: own.append(transactions(2, "mine")) } });
    await expectError(m, "forbidden");
    await Promise.all([a.close(), b.sync(), m.sync()]);
    await unchanged();
    await Promise.all([b.close(), m.close()]);
  });

  it("an oversized frame is frame_too_large and closes only that socket with 1009", async () => {
    const { group, id, a, b, unchanged } = await setup("bad-size");
    const carol = await connect(group, testAgent(44));
    carol.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: 3 } } });
    await carol.next("known");
    const frame = JSON.stringify({ type: "ping", pad: "" });
    const oversized = frame.replace('"pad":""', `"pad":"${"x".repeat(MAX_FRAME_BYTES + 1 - utf8Length(frame))}"`);
    expect(utf8Length(oversized)).toBe(MAX_FRAME_BYTES + 1);
    a.sendRaw(oversized);
    await expectError(a, "frame_too_large", 1009);
    await unchanged();

    // Bob and Carol go on: Bob writes, Carol receives it live, and the reverse.
    const bobLog = new SessionWriter(bob, id);
    b.send(bobLog.content(transactions(1, "bob")));
    expect(await b.next("known")).toMatchObject({ reason: "ack", sessions: { [bob.session]: 1 } });
    expect((await carol.next("content")).sessions[bob.session]?.transactions).toEqual(transactions(1, "bob"));
    const carolLog = new SessionWriter(testAgent(44), id);
    carol.send(carolLog.content(transactions(1, "carol")));
    expect((await b.next("content")).sessions[carolLog.session]?.transactions).toEqual(transactions(1, "carol"));
    // A frame of exactly the limit is not refused for its size.
    const atLimit = oversized.slice(0, -3) + '"}';
    expect(utf8Length(atLimit)).toBe(MAX_FRAME_BYTES);
    b.sendRaw(atLimit);
    await b.next("pong");
    await Promise.all([b.close(), carol.close()]);
  });

  it("malformed JSON is bad_frame and close 1007", async () => {
    const { a, b, unchanged } = await setup("bad-json");
    a.sendRaw('{"type":"content",');
    await expectError(a, "bad_frame", 1007);
    await unchanged();
    await b.close();
  });

  it("a presence state nested 200,000 deep is bad_frame and close 1007, not an internal failure; nothing stored, the bystander hears nothing", async () => {
    const { id, a, b, unchanged } = await setup("deep-json");
    let state = "[]";
    for (let level = 0; level < 200_000; level++) state = `[${state}]`;
    a.sendRaw(JSON.stringify({ type: "presence", doc: id, state: "STATE" }).replace('"STATE"', state));
    const error = await expectError(a, "bad_frame", 1007);
    expect(error.message).toContain(`nest at most ${MAX_JSON_DEPTH} arrays and objects deep`);
    await unchanged();
    await b.close();
  });

  it("a binary frame is bad_frame", async () => {
    const { a, b, unchanged } = await setup("bad-binary");
    a.sendRaw(new TextEncoder().encode('{"type":"ping"}').buffer as ArrayBuffer);
    await expectError(a, "bad_frame", 1007);
    await unchanged();
    await b.close();
  });

  it("a frame of the wrong shape is bad_frame and names the field", async () => {
    const { id, a, b, unchanged } = await setup("bad-shape");
    a.send({ type: "load", doc: id, known: { header: true, sessions: { [alice.session]: -1 } } });
    const error = await expectError(a, "bad_frame", 1007);
    expect(error.message).toMatch(/sessions/);
    await unchanged();
    await b.close();
  });

  it("a header that does not hash to the id is bad_header; nothing is created and the socket stays usable", async () => {
    const { group, a, b, unchanged } = await setup("bad-header");
    const { id, header } = testHeader(alice, group, "another-doc");
    const wrongs = [
      { ...header, meta: { title: "changed after hashing" } },
      { ...header, group: "some-other-group" },
      { ...header, creator: mallory.agent },
    ];
    for (const wrong of wrongs) {
      const doc = wrong === wrongs[0] ? id : docIdOf(wrong); // the last two hash fine but are still refused
      a.send(new SessionWriter(alice, doc).content(transactions(1), wrong));
      expect(await expectError(a, "bad_header")).toMatchObject({ doc });
    }
    // No header at all for a document the relay has never seen.
    a.send(new SessionWriter(alice, id).content(transactions(1)));
    await expectError(a, "unknown_doc");
    await unchanged();
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs")).toEqual([{ n: 1 }]);
    a.send(new SessionWriter(alice, id).content(transactions(1), header));
    expect(await a.next("known")).toMatchObject({ doc: id, reason: "ack" });
    await Promise.all([a.close(), b.close()]);
  });

  it("a transaction over MAX_TRANSACTION_BYTES is transaction_too_large and stores nothing", async () => {
    const { log, a, b, unchanged } = await setup("bad-tx");
    a.send(log.fork().content([{ at: 1, data: "é".repeat(MAX_TRANSACTION_BYTES / 2 + 1) }]));
    await expectError(a, "transaction_too_large");
    await unchanged();
    await Promise.all([a.close(), b.close()]);
  });

  it("a transaction within MAX_TRANSACTION_BYTES but over MAX_TRANSACTION_WIRE_BYTES as JSON (NULs) is transaction_too_large, naming its document; nothing is stored and the next frame is", async () => {
    const { log, id, a, b, unchanged } = await setup("bad-tx-escapes");
    // 166,000 UTF-8 bytes, but 996,002 as JSON (each NUL is \u0000): a frame a client may send, whose
    // transaction the relay could not send on beside a header.
    const data = "\u0000".repeat(166_000);
    expect(utf8Length(data)).toBeLessThan(MAX_TRANSACTION_BYTES);
    const frame = encodeMessage(log.fork().content([{ at: 1, data }]) as ClientMessage);
    expect(utf8Length(frame as string)).toBeLessThan(MAX_FRAME_BYTES);
    a.sendRaw(frame);
    const error = await expectError(a, "transaction_too_large");
    // The SDK's own words for the same data (it refuses such an append before storing it).
    expect(error).toMatchObject({ doc: id, message: transactionSizeProblem(data) });
    expect(error.message).toContain(`as JSON (escapes included) 996002; a frame carries at most ${MAX_TRANSACTION_WIRE_BYTES}`);
    await unchanged();
    a.send(log.content(transactions(1, "next")));
    expect(await a.next("known", (k) => k.reason === "ack")).toMatchObject({ doc: id, sessions: { [alice.session]: 4 } });
    await Promise.all([a.close(), b.close()]);
  });

  it("in a batch, a content with a transaction over MAX_TRANSACTION_BYTES is refused alone, naming its document; the messages around it are stored", async () => {
    const { group, log, id, a, b } = await setup("bad-tx-in-batch");
    const other = testHeader(alice, group, "nonce-other");
    const otherLog = new SessionWriter(alice, other.id);
    const tooLarge = log.fork().content([{ at: 1, data: "é".repeat(MAX_TRANSACTION_BYTES / 2 + 1) }]);
    a.sendRaw(batchOf([otherLog.content(transactions(1), other.header), tooLarge, log.content(transactions(2, "after"))]));
    expect(await expectError(a, "transaction_too_large")).toMatchObject({ doc: id });
    expect(await a.next("known", (k) => k.doc === id && k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 5 } });
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs")).toEqual([{ n: 2 }]);
    expect((await b.next("content", (c) => c.doc === id)).sessions[alice.session]?.transactions).toHaveLength(2);
    await Promise.all([a.close(), b.close()]);
  });

  it("in a batch, a content with more than MAX_SESSIONS_PER_FRAME sessions is refused alone with too_many_sessions, naming its document; the messages around it are stored", async () => {
    const { group, a, b } = await setup("many-sessions-in-batch");
    const [first, crowded, last] = ["first", "crowded", "last"].map((nonce) => testHeader(alice, group, `nonce-${nonce}`));
    const sessions = Object.fromEntries(
      Array.from({ length: MAX_SESSIONS_PER_FRAME + 1 }, (_, i) => {
        const writer = new SessionWriter(testAgent(41, `s-${String(i).padStart(6, "0")}`), crowded!.id);
        return [writer.session, writer.append(transactions(1))];
      }),
    );
    const firstLog = new SessionWriter(alice, first!.id);
    a.sendRaw(batchOf([firstLog.content(transactions(1), first!.header), { type: "content", doc: crowded!.id, header: crowded!.header, sessions }, new SessionWriter(alice, last!.id).content(transactions(1), last!.header)]));
    const error = await expectError(a, "too_many_sessions");
    expect(error).toMatchObject({ doc: crowded!.id, message: `a content message carries at most ${MAX_SESSIONS_PER_FRAME} sessions, this one ${MAX_SESSIONS_PER_FRAME + 1}` });
    for (const doc of [first!, last!]) expect(await a.next("known", (k) => k.doc === doc.id && k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 1 } });
    expect(await sqlRows(group, "SELECT count(*) AS n FROM docs")).toEqual([{ n: 3 }]);
    expect(await sqlRows(group, `SELECT count(*) AS n FROM docs WHERE id = '${crowded!.id}'`)).toEqual([{ n: 0 }]);
    // The connection stays open: the next write is stored.
    a.send(firstLog.content(transactions(1, "next")));
    expect(await a.next("known", (k) => k.doc === first!.id && k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 2 } });
    await Promise.all([a.close(), b.close()]);
  });

  it("a frame of several contents with more than MAX_TRANSACTIONS_PER_FRAME transactions together is refused whole; the next frame is stored", async () => {
    const { group, log, a, b, unchanged } = await setup("many-tx-in-frame");
    const docs = Array.from({ length: 3 }, (_, i) => testHeader(alice, group, `nonce-d${i}`));
    const each = Math.ceil((MAX_TRANSACTIONS_PER_FRAME + 1) / docs.length);
    const writers = docs.map((doc) => new SessionWriter(alice, doc.id));
    a.sendRaw(batchOf(docs.map((doc, i) => writers[i]!.fork().content(transactions(each), doc.header))));
    expect((await expectError(a, "transaction_too_large")).message).toMatch(/in one frame/);
    await unchanged();
    a.send(log.content(transactions(1, "next")));
    expect(await a.next("known", (k) => k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 4 } });
    await Promise.all([a.close(), b.close()]);
  });
});
