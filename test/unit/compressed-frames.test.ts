// Compressed frames (protocol/binary-frame.ts): any frame the relay sends survives compress + inflate
// exactly; a corrupt or oversize one is refused with a reason, never thrown; and the relay compresses a
// large answer only for a peer whose hello offered to inflate it, never a small live frame.
import { deflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  COMPRESS_MIN_BYTES,
  MAX_FRAME_BYTES,
  compressFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeForBatch,
  encodeMessage,
  inflateFrame,
  inflateFrameNow,
  isCompressedFrame,
  packBatches,
  signSnapshot,
  splitBinaryFrame,
  type ClientMessage,
  type ServerMessage,
  type Transaction,
  type WireFrame,
} from "../../protocol/index.ts";
import { initialState } from "../../worker/core/relay-core.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { Relay, type Transport } from "../../worker/core/relay.ts";
import type { PeerId } from "../../worker/core/store.ts";
import { helloFrame } from "../support/identity.ts";
import { GROUP, NOW, alice, bob, carol, doc1, nothingKnown, writer } from "./relay-transcript.ts";

const deflateRaw = (bytes: Uint8Array) => deflateRawSync(bytes);

type Inflate = (frame: Uint8Array, maxBytes: number) => Promise<{ frame: Uint8Array } | { error: string }>;
/** The SDK's two ways to inflate: a DecompressionStream (browsers), and node:zlib at once where it exists (Node). */
const inflaters: [string, Inflate][] = [
  ["a DecompressionStream", inflateFrame],
  ["node:zlib at once", async (frame, maxBytes) => inflateFrameNow(frame, maxBytes) ?? { error: "no node:zlib here" }],
];

/** Compressed, then inflated as the SDK does, then decoded: the messages a client would get. */
async function roundTrip(frame: WireFrame, inflate: Inflate = inflateFrame): Promise<ServerMessage[]> {
  const compressed = compressFrame(frame, deflateRaw);
  expect(isCompressedFrame(compressed)).toBe(true);
  const inflated = await inflate(compressed, MAX_FRAME_BYTES);
  if ("error" in inflated) throw new Error(inflated.error);
  const decoded = decodeServerFrame(inflated.frame);
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.message;
}

const decoded = (frame: WireFrame): ServerMessage[] => {
  const result = decodeServerFrame(frame);
  if (!result.ok) throw new Error(result.reason);
  return result.message;
};

/** A compressed frame in the format, around any bytes. */
const framed = (payload: Uint8Array, format = 1): Uint8Array => {
  const frame = new Uint8Array(payload.byteLength + 2);
  frame[1] = format;
  frame.set(payload, 2);
  return frame;
};

const mixed: Transaction[] = [
  { at: 1, data: Uint8Array.of(0, 1, 2, 0xff) },
  { at: 2, data: "text stays text, déjà vu" },
  { at: 3, data: new Uint8Array(0) },
  { at: 4, data: Uint8Array.from({ length: 5_000 }, (_, i) => (i * 7) & 0xff) },
];
const content = (transactions: Transaction[]): ServerMessage => ({ type: "content", doc: doc1.id, sessions: { [alice.session]: { after: 0, transactions } } });

describe.each(inflaters)("the compressed frame format, inflated with %s", (_, inflate) => {
  it("a text frame, a binary frame with sections and a batch of both come back exactly", async () => {
    const text = encodeMessage({ type: "known", doc: doc1.id, header: true, sessions: { [alice.session]: 3 }, reason: "load" });
    const binary = encodeMessage(content(mixed));
    expect(typeof text).toBe("string");
    expect(binary).toBeInstanceOf(Uint8Array);
    const [batch, ...rest] = packBatches([encodeForBatch(content(mixed)), encodeForBatch(content([{ at: 9, data: "only text" }])), text], 1_000_000);
    expect(rest).toEqual([]);
    for (const frame of [text, binary, batch!]) expect(await roundTrip(frame, inflate)).toEqual(decoded(frame));
    expect((await roundTrip(batch!, inflate)).map((message) => message.type)).toEqual(["content", "content", "known"]);
  });

  it("refuses, with a reason and without throwing, a corrupt frame, an unknown format and one that inflates past MAX_FRAME_BYTES", async () => {
    const good = compressFrame(encodeMessage({ type: "pong" }), deflateRaw);
    expect(await inflate(framed(Uint8Array.of(0xff, 0xfe, 0xfd, 1, 2, 3)), MAX_FRAME_BYTES)).toEqual({ error: "a compressed frame is not valid deflate-raw data" });
    expect(await inflate(good.subarray(0, good.byteLength - 3), MAX_FRAME_BYTES)).toEqual({ error: "a compressed frame is not valid deflate-raw data" });
    expect(await inflate(framed(good.subarray(2), 7), MAX_FRAME_BYTES)).toEqual({ error: "unknown compressed frame format 7" });
    // A bomb: 20 KB that would inflate to 20 MB. Refused once past the limit, not after inflating it all.
    const bomb = framed(deflateRawSync(new Uint8Array(20_000_000), { level: 9 }));
    expect(bomb.byteLength).toBeLessThan(25_000);
    expect(await inflate(bomb, MAX_FRAME_BYTES)).toEqual({ error: `a compressed frame inflates past ${MAX_FRAME_BYTES} bytes` });
    // Exactly at the limit is fine.
    const atLimit = await inflate(framed(deflateRawSync(new Uint8Array(MAX_FRAME_BYTES))), MAX_FRAME_BYTES);
    expect("frame" in atLimit && atLimit.frame.byteLength).toBe(MAX_FRAME_BYTES);
  });
});

describe("the relay and compressed frames", () => {
  it("the relay refuses a compressed frame from a client with bad_frame", () => {
    const frame = compressFrame(encodeMessage({ type: "ping" }), deflateRaw);
    expect(decodeClientFrame(frame)).toEqual({ ok: false, code: "bad_frame", reason: "a compressed frame is inflated before it is decoded, and only the relay sends them" });
  });
});

/** The relay core over a memory store, with a transport that compresses and keeps every frame as sent. */
function relayWithCompression() {
  const sent: { peer: PeerId; frame: WireFrame }[] = [];
  const deflated: Uint8Array[] = [];
  const transport: Transport = {
    deflateRaw: (bytes) => {
      deflated.push(bytes);
      return deflateRaw(bytes);
    },
    send: (peer, frame) => void sent.push({ peer, frame }),
    close: () => {},
    savePeer: () => {},
    wakeAt: () => {},
  };
  const relay = new Relay(initialState(GROUP), new MemoryStore(), transport);
  const send = (peer: PeerId, message: unknown) => relay.dispatch({ type: "frame", peer, frame: encodeMessage(message as ClientMessage), now: NOW });
  const connect = async (peer: PeerId, who: typeof alice, inflate?: string[]) => {
    await relay.dispatch({ type: "opened", peer, nonce: `nonce-${peer}`, now: NOW });
    await send(peer, { ...helloFrame(who, GROUP, `nonce-${peer}`), ...(inflate ? { inflate } : {}) });
  };
  return { relay, sent, deflated, send, connect };
}

/** Every transaction in what `peer` was sent, inflating compressed frames. */
async function received(sent: { peer: PeerId; frame: WireFrame }[], peer: PeerId): Promise<Transaction[]> {
  const out: Transaction[] = [];
  for (const { frame } of sent.filter((entry) => entry.peer === peer)) {
    const messages = typeof frame !== "string" && isCompressedFrame(frame) ? await roundTripInflate(frame) : decoded(frame);
    for (const message of messages) if (message.type === "content") out.push(...Object.values(message.sessions).flatMap((chunk) => chunk!.transactions));
  }
  return out;
}

async function roundTripInflate(frame: Uint8Array): Promise<ServerMessage[]> {
  const inflated = await inflateFrame(frame, MAX_FRAME_BYTES);
  if ("error" in inflated) throw new Error(inflated.error);
  return decoded(inflated.frame);
}

const isCompressed = (frame: WireFrame) => typeof frame !== "string" && isCompressedFrame(frame);
const typing = (count: number, from = 0): Transaction[] =>
  Array.from({ length: count }, (_, i) => ({ at: NOW + from + i, data: `{"op":"insert","pos":${from + i},"text":"k"}` }));

describe("the relay compresses large frames", () => {
  it("sends a large answer compressed to a peer that offered deflate-raw, and plain to one that did not", async () => {
    const { sent, send, connect } = relayWithCompression();
    await connect("alice", alice);
    await connect("bob", bob, ["deflate-raw"]);
    await connect("carol", carol, ["gzip", "some-future-format"]); // names the relay does not know are ignored
    const write = writer(alice, doc1);
    const all = typing(1_500);
    await send("alice", write(all, { header: true }));
    sent.length = 0;
    for (const peer of ["bob", "carol"]) await send(peer, { type: "load", doc: doc1.id, known: nothingKnown });

    const bobs = sent.filter((entry) => entry.peer === "bob");
    const carols = sent.filter((entry) => entry.peer === "carol");
    expect(bobs.some((entry) => isCompressed(entry.frame))).toBe(true);
    expect(carols.some((entry) => isCompressed(entry.frame))).toBe(false);
    expect(await received(sent, "bob")).toEqual(all);
    expect(await received(sent, "carol")).toEqual(all);
    const bytes = (entries: { frame: WireFrame }[]) => entries.reduce((sum, { frame }) => sum + (typeof frame === "string" ? frame.length : frame.byteLength), 0);
    expect(bytes(bobs)).toBeLessThan(bytes(carols) / 3);
  });

  it("sends a second fresh loader the first one's compressed frames, deflating nothing again", async () => {
    const { sent, deflated, send, connect } = relayWithCompression();
    await connect("alice", alice);
    await connect("bob", bob, ["deflate-raw"]);
    await connect("carol", carol, ["deflate-raw"]);
    const all = typing(1_500);
    await send("alice", writer(alice, doc1)(all, { header: true }));
    sent.length = 0;
    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    const compressions = deflated.length;
    expect(compressions).toBeGreaterThan(0);
    await send("carol", { type: "load", doc: doc1.id, known: nothingKnown });
    expect(deflated).toHaveLength(compressions);
    const frames = (peer: PeerId) => sent.filter((entry) => entry.peer === peer).map((entry) => entry.frame);
    expect(frames("carol").filter(isCompressed)).toEqual(frames("bob").filter(isCompressed));
    expect(await received(sent, "carol")).toEqual(all);
  });

  it("sends a text frame of exactly MAX_FRAME_BYTES plain, since compressed it would inflate one byte past the limit", async () => {
    const { sent, send, connect } = relayWithCompression();
    await connect("alice", alice);
    await connect("bob", bob, ["deflate-raw"]);
    const write = writer(alice, doc1);
    // More bytes of transactions than the snapshot holds, so a load from nothing is served the snapshot.
    await send("alice", write([0, 1, 2].map((i) => ({ at: NOW + i, data: String(i).repeat(250_000) })), { header: true }));
    // Quotes: one byte each against the snapshot limit, two in the frame; padded to the frame limit exactly.
    const covers = { [alice.session]: 3 };
    const snapshot = (data: string): ClientMessage => ({ type: "snapshot", doc: doc1.id, session: alice.session, covers, data, signature: signSnapshot(alice.secretKey, doc1.id, alice.session, covers, data) });
    const room = MAX_FRAME_BYTES - encodeMessage(snapshot("")).length;
    const data = '"'.repeat(Math.floor(room / 2)) + "x".repeat(room % 2);
    expect(encodeMessage(snapshot(data)).length).toBe(MAX_FRAME_BYTES);
    await send("alice", snapshot(data));
    sent.length = 0;

    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    const messages: ServerMessage[] = [];
    for (const { frame } of sent.filter((entry) => entry.peer === "bob")) {
      if (!isCompressed(frame)) {
        messages.push(...decoded(frame));
        continue;
      }
      const inflated = inflateFrameNow(frame as Uint8Array, MAX_FRAME_BYTES);
      if (!inflated || "error" in inflated) throw new Error(`bob cannot inflate a frame: ${inflated?.error}`);
      messages.push(...decoded(inflated.frame));
    }
    expect(messages.find((message) => message.type === "snapshot")).toMatchObject({ type: "snapshot", doc: doc1.id, data });
  });

  it("never compresses a small live frame, and compresses a large one fanned out to many peers once", async () => {
    const { sent, send, connect } = relayWithCompression();
    await connect("alice", alice);
    const readers = ["r1", "r2", "r3"];
    for (const [i, peer] of readers.entries()) await connect(peer, { ...bob, session: `${bob.agent}~reader-${i}` } as typeof bob, ["deflate-raw"]);
    const write = writer(alice, doc1);
    await send("alice", write(typing(1), { header: true }));
    for (const peer of readers) await send(peer, { type: "load", doc: doc1.id, known: nothingKnown });
    sent.length = 0;

    await send("alice", write(typing(1, 1)));
    const live = sent.filter((entry) => readers.includes(entry.peer));
    expect(live).toHaveLength(3);
    for (const { frame } of live) expect(isCompressed(frame)).toBe(false);

    sent.length = 0;
    const burst = typing(400, 2);
    await send("alice", write(burst));
    const fanned = sent.filter((entry) => readers.includes(entry.peer));
    expect(fanned).toHaveLength(3);
    for (const { frame } of fanned) expect(isCompressed(frame)).toBe(true);
    // One compressed frame for all three: the same object, compressed once.
    expect(new Set(fanned.map((entry) => entry.frame)).size).toBe(1);
    for (const peer of readers) expect(await received(sent, peer)).toEqual(burst);
    expect(COMPRESS_MIN_BYTES).toBeLessThan(JSON.stringify(burst).length);
  });

  it("compresses a large binary frame fanned out to many peers once, and each inflates exactly the bytes written", async () => {
    const { sent, deflated, send, connect } = relayWithCompression();
    await connect("alice", alice);
    const readers = ["r1", "r2", "r3", "r4"];
    for (const [i, peer] of readers.entries()) await connect(peer, { ...bob, session: `${bob.agent}~reader-${i}` } as typeof bob, ["deflate-raw"]);
    const write = writer(alice, doc1);
    await send("alice", write(typing(1), { header: true }));
    for (const peer of readers) await send(peer, { type: "load", doc: doc1.id, known: nothingKnown });
    sent.length = 0;
    deflated.length = 0;

    // Binary updates, as a CRDT sends them (each repeats its structure, so they compress), and a text one:
    // a binary frame with sections, well past COMPRESS_MIN_BYTES.
    const update = (i: number) => Uint8Array.from({ length: 40 + (i % 7) }, (_, j) => (j < 8 ? (i >> j) & 0xff : (j * 31) & 0xff));
    const burst: Transaction[] = Array.from({ length: 300 }, (_, i) => ({ at: NOW + 1 + i, data: i === 150 ? "one text op among them" : update(i) }));
    await send("alice", write(burst));
    const fanned = sent.filter((entry) => readers.includes(entry.peer));
    expect(fanned).toHaveLength(readers.length);
    for (const { frame } of fanned) expect(isCompressed(frame)).toBe(true);
    // Compressed once for all four: one call to deflate, one frame object sent to each.
    expect(deflated).toHaveLength(1);
    // What was compressed is the binary frame, its sections every byte of the binary updates.
    const split = splitBinaryFrame(deflated[0]!);
    if ("error" in split) throw new Error(split.error);
    const binaryBytes = burst.reduce((sum, tx) => sum + (tx.data instanceof Uint8Array ? tx.data.byteLength : 0), 0);
    expect(split.sections.byteLength).toBe(binaryBytes);
    expect(deflated[0]!.byteLength).toBeGreaterThan(COMPRESS_MIN_BYTES);
    expect(new Set(fanned.map((entry) => entry.frame)).size).toBe(1);
    for (const peer of readers) {
      const got = await received(sent, peer);
      expect(got).toEqual(burst);
      expect(got.filter((tx) => tx.data instanceof Uint8Array)).toHaveLength(burst.length - 1);
    }
  });
});
