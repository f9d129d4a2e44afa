// Data of bytes on the wire: binary frames (JSON, a zero byte, the bytes), decoded back to exactly the bytes,
// text left as text, and every malformed binary frame refused with a stable code, never thrown.
import { describe, expect, it } from "vitest";
import {
  CHUNK_TARGET_BYTES,
  MAX_FRAME_BYTES,
  MAX_TRANSACTION_BYTES,
  decodeClientFrame,
  decodeClientMessage,
  decodeServerFrame,
  encodeForBatch,
  encodeMessage,
  packBatches,
  utf8,
  type ClientMessage,
  type ServerContent,
  type Transaction,
} from "../../protocol/index.ts";
import { ContentPacker } from "../../worker/core/content-packer.ts";
import { signedChunk, testAgent, testHeader } from "../support/identity.ts";

const alice = testAgent(1);
const { id: doc } = testHeader(alice, "g1");
const mixed: Transaction[] = [
  { at: 1_000, data: Uint8Array.of(0, 1, 2, 0xff) },
  { at: 1_001, data: "text stays text" },
  { at: 1_002, data: new Uint8Array(0) },
  { at: 1_003, data: Uint8Array.from({ length: 1_000 }, (_, i) => (i * 7) & 0xff) },
];
const content = (transactions: Transaction[]): ClientMessage => ({ type: "content", doc, sessions: { [alice.session]: signedChunk(alice, doc, 0, transactions).chunk } });

/** A binary frame from JSON text and raw sections, as a hand-made (or hostile) sender would build it. */
const rawBinary = (json: string, ...sections: number[][]): Uint8Array => {
  const head = utf8(json);
  const frame = new Uint8Array(head.length + 1 + sections.reduce((sum, section) => sum + section.length, 0));
  frame.set(head);
  let offset = head.length + 1;
  for (const section of sections) {
    frame.set(section, offset);
    offset += section.length;
  }
  return frame;
};
const chunkJson = (data: unknown[], at = data.map(() => 0)) =>
  JSON.stringify({ type: "content", doc, sessions: { [alice.session]: { after: 0, at, data, signature: "A".repeat(86) } } });

describe("binary frames", () => {
  it.each([
    ["ASCII", "plain text"],
    ["2-byte", "é".repeat(300)],
    ["3-byte", "一二三"],
    ["astral", "😀 and more"],
    ["long, beyond ASCII now and then", `${"x".repeat(50)}é一😀`.repeat(2_000)],
  ])("a binary frame whose JSON text is %s decodes to exactly its text and bytes, and is as long as it must be", (_name, text) => {
    const message = content([...mixed, { at: 1_004, data: text }]);
    const frame = encodeMessage(message) as Uint8Array;
    expect(decodeClientMessage(frame)).toEqual({ ok: true, message });
    // Its JSON in UTF-8, the zero byte, then the 1,004 bytes of data: nothing more.
    const json = new TextDecoder().decode(frame.subarray(0, frame.indexOf(0)));
    expect(frame.byteLength).toBe(utf8(json).byteLength + 1 + 1_004);
  });

  it("a message with bytes becomes one binary frame holding the bytes raw, and decodes to the same bytes and text", () => {
    const message = content(mixed);
    const frame = encodeMessage(message);
    expect(frame).toBeInstanceOf(Uint8Array);
    const json = JSON.stringify({ ...message, sessions: {} });
    // The bytes travel as they are: the frame is its JSON and 1,004 bytes, not 4/3 of them as base64.
    expect((frame as Uint8Array).byteLength).toBeLessThan(json.length + 400 + 1_004);
    const decoded = decodeClientMessage(frame);
    expect(decoded).toEqual({ ok: true, message });
    const data = decoded.ok && decoded.message.type === "content" ? decoded.message.sessions[alice.session]!.transactions.map((t) => t.data) : [];
    expect(data.map((value) => (typeof value === "string" ? "text" : value.constructor.name))).toEqual(["Uint8Array", "text", "Uint8Array", "Uint8Array"]);
  });

  it("a message of text alone stays a text frame, as before", () => {
    expect(typeof encodeMessage(content([{ at: 1, data: "only text" }]))).toBe("string");
  });

  it("a batch mixing text messages and messages with bytes keeps every message in order and every byte in place", () => {
    const first = content([{ at: 1, data: Uint8Array.of(1, 1) }]);
    const second: ClientMessage = { type: "ping" };
    const third = content([{ at: 2, data: "t" }, { at: 3, data: Uint8Array.of(3, 3, 3) }]);
    const [frame, ...rest] = packBatches([first, second, third].map(encodeForBatch), CHUNK_TARGET_BYTES);
    expect(rest).toEqual([]);
    expect(frame).toBeInstanceOf(Uint8Array);
    expect(decodeClientFrame(frame!)).toEqual({ ok: true, message: [first, second, third] });
    const server: ServerContent = { type: "content", doc, sessions: { [alice.session]: { after: 5, transactions: [{ at: 9, data: Uint8Array.of(9) }] } } };
    expect(decodeServerFrame(encodeMessage(server))).toEqual({ ok: true, message: [server] });
  });

  it("an ArrayBuffer, a Uint8Array and a view into a larger buffer all decode alike", () => {
    const frame = encodeMessage(content(mixed)) as Uint8Array;
    const padded = new Uint8Array(frame.byteLength + 10);
    padded.set(frame, 5);
    const expected = decodeClientMessage(frame);
    expect(decodeClientMessage(frame.slice().buffer)).toEqual(expected);
    expect(decodeClientMessage(padded.subarray(5, 5 + frame.byteLength))).toEqual(expected);
  });

  it("packs large bytes into frames that each stay within MAX_FRAME_BYTES", () => {
    const big = Uint8Array.from({ length: MAX_TRANSACTION_BYTES }, (_, i) => i & 0xff);
    const packer = new ContentPacker(doc);
    for (let index = 0; index < 12; index++) packer.add(alice.session, { index, at: index, data: big });
    packer.flush();
    const messages = packer.take();
    expect(messages.length).toBeGreaterThan(1);
    const frames = packBatches(messages.map(encodeForBatch), CHUNK_TARGET_BYTES);
    for (const frame of frames) expect((frame as Uint8Array).byteLength).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    const received = frames.flatMap((frame) => {
      const decoded = decodeServerFrame(frame);
      if (!decoded.ok) throw new Error(decoded.reason);
      return decoded.message.flatMap((message) => (message.type === "content" ? message.sessions[alice.session]!.transactions : []));
    });
    expect(received).toHaveLength(12);
    expect(received.every((transaction) => transaction.data instanceof Uint8Array && transaction.data.byteLength === big.byteLength)).toBe(true);
  });
});

describe("malformed binary frames are refused with a code, never thrown", () => {
  const refusals: [string, Uint8Array | string, string, RegExp?][] = [
    ["no zero byte", utf8('{"type":"ping"}'), "bad_frame", /zero byte/],
    ["JSON that is not UTF-8", Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d, 0), "bad_frame", /UTF-8/],
    ["JSON that does not parse", rawBinary("{not json"), "bad_frame", /JSON/],
    ["a length past the end of the bytes", rawBinary(chunkJson([4]), [1, 2, 3]), "bad_frame", /refers to 4 bytes/],
    ["bytes left over", rawBinary(chunkJson([2]), [1, 2, 3]), "bad_frame", /carries 3 bytes/],
    ["bytes no data refers to", rawBinary('{"type":"ping"}', [1]), "bad_frame", /carries 1 bytes/],
    ["a negative length", rawBinary(chunkJson([-1]), [1]), "bad_frame", /non-negative integer/],
    ["a fractional length", rawBinary(chunkJson([0.5]), [1]), "bad_frame", /non-negative integer/],
    ["a length in a text frame", chunkJson([3]), "bad_frame", /binary frames/],
    ["bytes over the transaction limit", rawBinary(chunkJson([MAX_TRANSACTION_BYTES + 1]), Array.from({ length: MAX_TRANSACTION_BYTES + 1 }, () => 7)), "transaction_too_large"],
    ["a frame over the frame limit", new Uint8Array(MAX_FRAME_BYTES + 1), "frame_too_large"],
  ];
  // Each as a message checked alone (decodeClientMessage, what the SDK checks before sending and the relay
  // judges each message of a frame by).
  it.each(refusals)("%s", (_name, frame, code, reason) => {
    const decoded = decodeClientMessage(frame);
    expect(decoded).toMatchObject({ ok: false, code });
    if (reason && !decoded.ok) expect(decoded.reason).toMatch(reason);
  });

  it("a binary frame without bytes is as good as a text frame", () => {
    expect(decodeClientFrame(rawBinary('{"type":"ping"}'))).toEqual({ ok: true, message: [{ type: "ping" }] });
  });

  it("bytes exactly at the transaction limit pass", () => {
    const decoded = decodeClientMessage(encodeMessage(content([{ at: 1, data: new Uint8Array(MAX_TRANSACTION_BYTES) }])));
    expect(decoded.ok).toBe(true);
  });
});
