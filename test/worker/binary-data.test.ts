// Data of bytes through the real Durable Object and SQLite: binary frames in, stored as BLOBs, served back
// as exactly those bytes (live and on a later load); malformed binary frames get bad_frame and store nothing.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, PROTOCOL_VERSION, encodeMessage, utf8, type ClientMessage, type Transaction } from "../../protocol/index.ts";
import { comparableAll } from "../support/bytes.ts";
import { helloFrame, testAgent, testHeader } from "../support/identity.ts";
import { SessionWriter, allRows, closeAll, connect, documentWithBystander, emptyKnown, openSocket, storedLog, takeContent, uniqueGroup, type Peer } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(81);
const bob = testAgent(82);
const carol = testAgent(83);

const large = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31 + 7) & 0xff);
const written: Transaction[] = [
  { at: 1, data: Uint8Array.of(0x00, 0xff, 0x7b, 0x22, 0x5c) },
  { at: 2, data: "text stays text" },
  { at: 3, data: new Uint8Array(0) },
  { at: 4, data: large },
];

const receivedData = (peer: Peer, doc: Parameters<typeof takeContent>[1]) =>
  [...takeContent(peer, doc).values()].flat().flatMap((chunk) => chunk.transactions.map((transaction) => transaction.data));

async function expectError(peer: Peer, code: string, closeCode?: number) {
  const error = await peer.next("error");
  expect(error.code).toBe(code);
  if (closeCode !== undefined) expect((await peer.closed).code).toBe(closeCode);
  return error;
}

describe("bytes end to end", () => {
  it("a writer's bytes reach a live reader and a later loader exactly, in binary frames, stored as BLOBs", async () => {
    const group = uniqueGroup("binary");
    const { id, header } = testHeader(alice, group);
    const log = new SessionWriter(alice, id);
    const a = await connect(group, alice);
    const b = await connect(group, bob);
    a.send(log.content([{ at: 0, data: "first" }], header));
    await a.next("known", (k) => k.reason === "ack");
    b.send({ type: "load", doc: id, known: emptyKnown });
    await b.next("known", (k) => k.reason === "load");
    b.drain("content");

    const frame = encodeMessage(log.content(written) as ClientMessage);
    expect(frame).toBeInstanceOf(Uint8Array);
    a.sendRaw(frame);
    expect(await a.next("known", (k) => k.reason === "ack")).toMatchObject({ sessions: { [alice.session]: 5 } });
    await b.sync();
    expect(b.undecodable).toEqual([]);
    expect(comparableAll(receivedData(b, id))).toEqual(comparableAll(written.map((transaction) => transaction.data)));

    // As stored (read back through the store: transactions are kept in chunks), text as text, bytes as bytes.
    const stored = (await storedLog(group, id, alice.session)).map(({ data }) =>
      typeof data === "string" ? { kind: "text", size: new TextEncoder().encode(data).length } : { kind: "blob", size: data.byteLength },
    );
    expect(stored).toEqual([
      { kind: "text", size: 5 },
      { kind: "blob", size: 5 },
      { kind: "text", size: 15 },
      { kind: "blob", size: 0 },
      { kind: "blob", size: 200_000 },
    ]);

    const c = await connect(group, carol);
    c.send({ type: "load", doc: id, known: emptyKnown });
    await c.next("known", (k) => k.reason === "load");
    const loaded = receivedData(c, id);
    expect(comparableAll(loaded)).toEqual(comparableAll(["first", ...written.map((transaction) => transaction.data)]));
    expect(loaded.map((data) => typeof data)).toEqual(["string", "object", "string", "object", "object"]);
  });

  it("a byte changed after signing is refused as bad_signature: the chain covers the bytes", async () => {
    const { group, log, a, b, before } = await documentWithBystander("binary-tamper", alice, bob);
    const frame = encodeMessage(log.fork().content([{ at: 9, data: Uint8Array.of(1, 2, 3) }]) as ClientMessage) as Uint8Array;
    frame[frame.length - 1] = 4; // the last byte of the data section
    a.sendRaw(frame);
    await expectError(a, "bad_signature");
    expect(await allRows(group)).toEqual(before);
    await b.sync();
    expect(b.inbox).toEqual([]);
  });
});

describe("malformed binary frames", () => {
  const chunkJson = (doc: string, session: string, data: unknown[]) =>
    JSON.stringify({ type: "content", doc, sessions: { [session]: { after: 3, at: data.map(() => 5), data, signature: "A".repeat(86) } } });
  const binary = (json: string, bytes: number[]) => {
    const head = utf8(json);
    const frame = new Uint8Array(head.length + 1 + bytes.length);
    frame.set(head);
    frame.set(bytes, head.length + 1);
    return frame;
  };
  const cases: [string, (doc: string, session: string) => Uint8Array][] = [
    ["no zero byte between JSON and bytes", (doc, session) => utf8(chunkJson(doc, session, ["x"]))],
    ["JSON that is not UTF-8", () => Uint8Array.of(0x7b, 0xc3, 0x28, 0x7d, 0x00)],
    ["a length past the end of the bytes", (doc, session) => binary(chunkJson(doc, session, [10]), [1, 2, 3])],
    ["bytes left over after the data", (doc, session) => binary(chunkJson(doc, session, [1]), [1, 2, 3])],
    ["a length that is not an integer", (doc, session) => binary(chunkJson(doc, session, [1.5]), [1, 2])],
  ];

  it.each(cases)("%s: bad_frame, close 1007, nothing stored, the bystander hears nothing", async (_name, build) => {
    const { group, id, a, b, before } = await documentWithBystander("binary-bad", alice, bob);
    a.sendRaw(build(id, alice.session));
    await expectError(a, "bad_frame", 1007);
    expect(await allRows(group)).toEqual(before);
    await b.sync();
    expect(b.inbox).toEqual([]);
  });

  it("a binary frame over MAX_FRAME_BYTES is frame_too_large, and nothing is stored", async () => {
    const { group, id, a, before } = await documentWithBystander("binary-big", alice, bob);
    a.sendRaw(binary(chunkJson(id, alice.session, [MAX_FRAME_BYTES]), Array.from({ length: MAX_FRAME_BYTES }, () => 1)));
    await expectError(a, "frame_too_large", 1009);
    expect(await allRows(group)).toEqual(before);
  });
});

describe("protocol version", () => {
  it("a client of protocol v1 (text only) is refused with unsupported_version naming both versions", async () => {
    const group = uniqueGroup("binary-v1");
    const peer = await openSocket(group);
    const { nonce, v } = await peer.next("challenge");
    expect(v).toBe(PROTOCOL_VERSION);
    expect(PROTOCOL_VERSION).toBe(4);
    peer.send({ ...helloFrame(alice, group, nonce), v: 1 });
    const error = await expectError(peer, "unsupported_version");
    expect(error.message).toMatch(/v4.*v1/);
  });
});
