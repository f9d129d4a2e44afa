// The wire codec: every message type of each direction decodes, and every way a frame can be wrong is
// refused with the stable error code the sender will hear.
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  EMPTY_DIGEST,
  MAX_FRAME_BYTES,
  MAX_HEADER_BYTES,
  MAX_JSON_DEPTH,
  MAX_TRANSACTION_BYTES,
  MAX_TRANSACTIONS_PER_FRAME,
  decodeClientMessage,
  batchFrame,
  decodeClientFrame,
  clientMessageProblem,
  decodeServerFrame,
  packBatches,
  decodeServerMessage,
  encodeMessage,
  toColumns,
  clientFrameSchema,
  clientMessageSchema,
  serverFrameSchema,
  serverMessageSchema,
  type ClientMessage,
  type Decoded,
  type ErrorCode,
  type ServerMessage,
  type Transaction,
} from "../../protocol/index.ts";
import { helloFrame, signedChunk, testAgent, testHeader, transactions } from "../support/identity.ts";

const alice = testAgent(1);
const bob = testAgent(2);
const { id: doc, header } = testHeader(alice, "g1");
const { chunk } = signedChunk(alice, doc, 0, transactions(3));
const known = { header: true, sessions: { [alice.session]: 3, [bob.session]: 1 } };

/** A content frame whose chunks are given as they travel, in columns (see protocol/transaction-columns.ts). */
const content = (sessions: Record<string, unknown>, extra: object = {}) => JSON.stringify({ type: "content", doc, ...extra, sessions });
const columns = (chunk: { after: number; transactions: Transaction[]; signature?: string }) => {
  const { transactions, ...rest } = chunk;
  return { ...rest, ...toColumns(transactions, []) };
};
const wireChunk = columns(chunk);
const withData = (data: string) => content({ [alice.session]: columns({ after: 0, transactions: [{ at: 1, data }], signature: chunk.signature }) });
/** A ping frame padded (with an ignored member) to exactly `bytes` UTF-8 bytes using `unit`. */
const paddedPing = (bytes: number, unit: string, unitBytes: number): string => {
  const envelope = '{"type":"ping","pad":""}';
  const room = bytes - envelope.length;
  return `{"type":"ping","pad":"${unit.repeat(Math.floor(room / unitBytes))}${"a".repeat(room % unitBytes)}"}`;
};

describe("decodeClientMessage accepts every client message", () => {
  it.each([
    ["hello", helloFrame(alice, "g1", "nonce-1")],
    ["dir", { type: "dir" }],
    ["load with nothing known", { type: "load", doc, known: { header: false, sessions: {} } }],
    ["load with a known state", { type: "load", doc, known }],
    ["content with header", { type: "content", doc, header, sessions: { [alice.session]: chunk } }],
    ["content without header", { type: "content", doc, sessions: { [alice.session]: chunk } }],
    ["content with only a header", { type: "content", doc, header, sessions: {} }],
    ["unsub", { type: "unsub", doc }],
    ["dir since a cursor with a digest", { type: "dir", since: 12, digest: EMPTY_DIGEST }],
    ["hello with an app token", { ...helloFrame(alice, "g1", "nonce-1"), token: "a.b.c" }],
    ["open the whole group", { type: "open", known: { [doc]: known } }],
    ["delete", { type: "delete", doc }],
    ["ping", { type: "ping" }],
  ])("%s", (_name, message) => {
    const decoded = decodeClientMessage(encodeMessage(message as ClientMessage));
    expect(decoded).toEqual({ ok: true, message });
  });

  it("drops members the protocol does not define", () => {
    expect(decodeClientMessage('{"type":"ping","later":"feature"}')).toEqual({ ok: true, message: { type: "ping" } });
  });
});

describe("decodeServerMessage accepts every server message", () => {
  const forwarded = { after: 0, transactions: chunk.transactions };
  it.each([
    ["challenge", { type: "challenge", v: 1, nonce: "bm9uY2UtMQ" }],
    ["welcome", { type: "welcome", v: 1, role: "writer" }],
    ["welcome to a group with members", { type: "welcome", v: 1, role: "admin", members: doc }],
    ["dir", { type: "dir", docs: [{ id: doc, header, known, updatedAt: 1_700_000_000_000 }], more: false, cursor: 7, digest: EMPTY_DIGEST, inSync: false }],
    ["dir with a tombstone", { type: "dir", docs: [{ id: doc, header, known: { header: false, sessions: {} }, updatedAt: 1, deleted: true }], more: false, cursor: 9, digest: EMPTY_DIGEST, inSync: false }],
    ["in-sync dir", { type: "dir", docs: [], more: false, cursor: 3, digest: EMPTY_DIGEST, inSync: true }],
    ["empty dir with more to come", { type: "dir", docs: [], more: true, cursor: 0, digest: EMPTY_DIGEST, inSync: false }],
    ["opened", { type: "opened", docs: 12, cursor: 40 }],
    ["deleted", { type: "deleted", doc }],
    ["content with header and signature", { type: "content", doc, header, sessions: { [alice.session]: chunk } }],
    ["content without signature", { type: "content", doc, sessions: { [alice.session]: forwarded } }],
    ["known reason=load", { type: "known", doc, ...known, reason: "load" }],
    ["known reason=ack", { type: "known", doc, ...known, reason: "ack" }],
    ["known reason=correction", { type: "known", doc, header: false, sessions: {}, reason: "correction" }],
    ["error", { type: "error", code: "bad_frame", message: "frame is not valid JSON" }],
    ["error with doc, session and retryAfter", { type: "error", code: "too_many_peers", message: "busy", doc, session: alice.session, retryAfter: 5 }],
    ["pong", { type: "pong" }],
  ])("%s", (_name, message) => {
    expect(decodeServerMessage(encodeMessage(message as ServerMessage))).toEqual({ ok: true, message });
  });

  it.each([
    ["an unknown error code", { type: "error", code: "teapot", message: "" }],
    ["an unknown known reason", { type: "known", doc, ...known, reason: "gossip" }],
    ["a client message", { type: "hello" }],
  ])("refuses %s with bad_frame", (_name, message) => {
    expect(decodeServerMessage(JSON.stringify(message))).toMatchObject({ ok: false, code: "bad_frame" });
  });
});

describe("decodeServerFrame", () => {
  const known = { type: "known", doc, header: true, sessions: { [alice.session]: 3 }, reason: "load" } as const;
  const content = { type: "content", doc, sessions: { [alice.session]: { after: 0, transactions: chunk.transactions } } } as const;

  it("gives a single message as a list of one", () => {
    expect(decodeServerFrame(encodeMessage(known))).toEqual({ ok: true, message: [known] });
  });

  it("unpacks a batch into its messages, in order", () => {
    const frame = batchFrame([encodeMessage(content) as string, encodeMessage(known), encodeMessage({ type: "pong" })]);
    expect(JSON.parse(frame).type).toBe("batch");
    expect(decodeServerFrame(frame)).toEqual({ ok: true, message: [content, known, { type: "pong" }] });
  });

  it("sends a batch of one as the message itself", () => {
    expect(batchFrame([encodeMessage(known)])).toBe(encodeMessage(known));
  });

  it.each([
    ["an empty batch", { type: "batch", messages: [] }],
    ["a batch inside a batch", { type: "batch", messages: [{ type: "batch", messages: [{ type: "pong" }] }] }],
    ["a batch holding a client message", { type: "batch", messages: [{ type: "ping" }] }],
    ["a batch with one bad message", { type: "batch", messages: [{ type: "pong" }, { type: "known", doc }] }],
    ["a batch whose messages are not a list", { type: "batch", messages: { type: "pong" } }],
  ])("refuses %s with bad_frame", (_name, frame) => {
    expect(decodeServerFrame(JSON.stringify(frame))).toMatchObject({ ok: false, code: "bad_frame" });
  });

  it("is not something a client may send", () => {
    expect(decodeClientMessage(batchFrame(['{"type":"ping"}', '{"type":"ping"}']))).toMatchObject({ ok: false, code: "bad_frame" });
  });
});

describe("decodeClientFrame", () => {
  const hello = helloFrame(alice, "g1", "nonce-1");
  const load = { type: "load", doc, known } as const;

  it("unpacks the SDK's hello and the loads behind it, in order", () => {
    expect(decodeClientFrame(batchFrame([encodeMessage(hello), encodeMessage(load)]))).toEqual({ ok: true, message: [hello, load] });
    expect(decodeClientFrame(encodeMessage(load))).toEqual({ ok: true, message: [load] });
  });

  it.each([
    ["an empty batch", "bad_frame", JSON.stringify({ type: "batch", messages: [] })],
    ["a batch inside a batch", "bad_frame", JSON.stringify({ type: "batch", messages: [{ type: "batch", messages: [load] }] })],
    ["a batch holding a relay message", "bad_frame", JSON.stringify({ type: "batch", messages: [load, { type: "pong" }] })],
  ])("refuses %s with %s", (_name, code, frame) => {
    expect(decodeClientFrame(frame)).toMatchObject({ ok: false, code });
  });

  it("leaves a message over its own limits to clientMessageProblem, so that the relay refuses it alone", () => {
    const decoded = decodeClientFrame(batchFrame([encodeMessage(load), withData("x".repeat(MAX_TRANSACTION_BYTES + 1))]));
    expect(decoded.ok).toBe(true);
    const [first, second] = decoded.ok ? decoded.message : [];
    expect(clientMessageProblem(first!)).toBeUndefined();
    expect(clientMessageProblem(second!)).toMatchObject({ code: "transaction_too_large" });
  });

  it("refuses a batch whose contents hold more than MAX_TRANSACTIONS_PER_FRAME transactions together", () => {
    const half = columns({ after: 0, transactions: transactions(MAX_TRANSACTIONS_PER_FRAME / 2), signature: chunk.signature });
    const one = columns({ after: 0, transactions: transactions(1), signature: chunk.signature });
    const halves = [content({ [alice.session]: half }), content({ [alice.session]: half })];
    expect(decodeClientFrame(batchFrame(halves))).toMatchObject({ ok: true });
    expect(decodeClientFrame(batchFrame([...halves, content({ [alice.session]: one })]))).toMatchObject({ ok: false, code: "transaction_too_large" });
  });
});

describe("checking each message by its type", () => {
  // Frames are checked message by message, each by the schema of its type (protocol/frame-check.ts): what
  // they give must be what checking the whole frame against the protocol's schema gives, reasons included.
  const whole = (schema: v.GenericSchema, frame: string): Decoded<unknown> => {
    const result = v.safeParse(schema, JSON.parse(frame));
    if (result.success) return { ok: true, message: result.output };
    const path = v.getDotPath(result.issues[0]) ?? "";
    return { ok: false, code: "bad_frame", reason: `${path ? `${path}: ` : ""}${result.issues[0].message}` };
  };
  const load = { type: "load", doc, known };
  const frames = [
    ["a load", load],
    ["a load with a member the protocol does not define", { ...load, extra: 1 }],
    ["a batch of two", { type: "batch", messages: [load, { type: "unsub", doc }] }],
    ["a batch whose items carry members the protocol does not define", { type: "batch", extra: true, messages: [{ ...load, extra: 1 }] }],
    ["an unknown type", { type: "nope" }],
    ["no type", { doc }],
    ["not an object", 5],
    ["a batch whose second message has a bad field", { type: "batch", messages: [load, { type: "load", doc: 7, known }] }],
    ["a batch whose message has an unknown type", { type: "batch", messages: [load, { type: "nope" }] }],
    ["a batch holding a string", { type: "batch", messages: ["load"] }],
    ["an empty batch", { type: "batch", messages: [] }],
    ["a batch inside a batch", { type: "batch", messages: [{ type: "batch", messages: [load] }] }],
    ["a batch whose messages are not a list", { type: "batch", messages: {} }],
  ] as const;

  it.each(frames)("from a client: %s", (_name, json) => {
    const frame = JSON.stringify(json);
    expect(decodeClientFrame(frame)).toEqual(((expected) => (expected.ok ? { ok: true, message: expected.message.type === "batch" ? expected.message.messages : [expected.message] } : expected))(whole(clientFrameSchema, frame) as Decoded<{ type: string; messages?: unknown[] }>));
    expect(decodeClientMessage(frame)).toEqual(whole(clientMessageSchema, frame));
  });

  it.each([
    ["a pong", { type: "pong" }],
    ["a batch of a pong and a deleted", { type: "batch", messages: [{ type: "pong" }, { type: "deleted", doc }] }],
    ["a batch whose message has a bad field", { type: "batch", messages: [{ type: "pong" }, { type: "deleted", doc: [] }] }],
    ["a client message", load],
  ])("from the relay: %s", (_name, json) => {
    const frame = JSON.stringify(json);
    const expected = whole(serverFrameSchema, frame) as Decoded<{ type: string; messages?: unknown[] }>;
    expect(decodeServerFrame(frame)).toEqual(expected.ok ? { ok: true, message: expected.message.type === "batch" ? expected.message.messages : [expected.message] } : expected);
    expect(decodeServerMessage(frame)).toEqual(whole(serverMessageSchema, frame));
  });
});

describe("packBatches", () => {
  it("packs messages in order into as few frames as fit the target, a long one alone", () => {
    const small = ['{"type":"ping"}', '{"type":"dir"}', '{"type":"ping"}'];
    expect(packBatches(small, 1_000)).toEqual([batchFrame(small)]);
    const long = `{"type":"dir","pad":"${"x".repeat(2_000)}"}`;
    expect(packBatches([small[0]!, long, small[1]!, small[2]!], 1_000)).toEqual([small[0], long, batchFrame([small[1]!, small[2]!])]);
    expect(packBatches([], 1_000)).toEqual([]);
  });
});

describe("encodeMessage", () => {
  it("sends a chunk's transactions as columns: the first time in full, then differences", () => {
    const txs = [{ at: 1_763_780_000_000, data: "a" }, { at: 1_763_780_000_000, data: "b" }, { at: 1_763_780_000_007, data: "c" }, { at: 1_763_779_999_999, data: "d" }];
    const frame = encodeMessage({ type: "content", doc, sessions: { [alice.session]: { after: 4, transactions: txs, signature: chunk.signature } } });
    expect(JSON.parse(frame as string).sessions[alice.session]).toEqual({ after: 4, at: [1_763_780_000_000, 0, 7, -8], data: ["a", "b", "c", "d"], signature: chunk.signature });
    expect(decodeClientMessage(frame)).toMatchObject({ ok: true, message: { sessions: { [alice.session]: { after: 4, transactions: txs } } } });
  });

  it("costs a few bytes per transaction, not an object each", () => {
    const txs = transactions(100);
    const frame = encodeMessage({ type: "content", doc, sessions: { [alice.session]: { after: 0, transactions: txs, signature: chunk.signature } } });
    const dataBytes = txs.reduce((sum, tx) => sum + tx.data.length, 0);
    expect(frame.length - dataBytes).toBeLessThan(300 + 100 * 6);
  });

  it("round-trips through the decoder of the other side", () => {
    const hello = helloFrame(alice, "g1", "nonce-1");
    expect(decodeClientMessage(encodeMessage(hello))).toEqual({ ok: true, message: hello });
    const welcome = { type: "welcome", v: 1, role: "writer" } as const;
    expect(decodeServerMessage(encodeMessage(welcome))).toEqual({ ok: true, message: welcome });
  });
});

describe("decodeClientMessage refuses bad frames with a stable code", () => {
  const hello = helloFrame(alice, "g1", "nonce-1");
  it.each<[string, ErrorCode, string | ArrayBuffer | Uint8Array]>([
    ["a binary ArrayBuffer", "bad_frame", new ArrayBuffer(8)],
    ["a binary Uint8Array", "bad_frame", new TextEncoder().encode('{"type":"ping"}')],
    ["text that is not JSON", "bad_frame", "{type: ping}"],
    ["an empty frame", "bad_frame", ""],
    ["JSON that is not an object", "bad_frame", "[1,2]"],
    ["an unknown type", "bad_frame", '{"type":"subscribe"}'],
    ["no type", "bad_frame", "{}"],
    ["a server message", "bad_frame", '{"type":"pong"}'],
    ["hello without signature", "bad_frame", JSON.stringify({ ...hello, signature: undefined })],
    ["hello with version as a string", "bad_frame", JSON.stringify({ ...hello, v: "1" })],
    ["hello with a bad agent id", "bad_frame", JSON.stringify({ ...hello, agent: "ag_short" })],
    ["hello with a session name under 8 characters", "bad_frame", JSON.stringify({ ...hello, session: `${alice.agent}~short` })],
    ["hello with a session that has no agent", "bad_frame", JSON.stringify({ ...hello, session: "session-one" })],
    ["hello with a bad group id", "bad_frame", JSON.stringify({ ...hello, group: "g 1" })],
    ["hello with a signature that is not base64url", "bad_frame", JSON.stringify({ ...hello, signature: "a+b/" })],
    ["load without known", "bad_frame", JSON.stringify({ type: "load", doc })],
    ["load with a bad document id", "bad_frame", JSON.stringify({ type: "load", doc: "doc_x", known })],
    ["load with a bad session id in known", "bad_frame", JSON.stringify({ type: "load", doc, known: { header: true, sessions: { bob: 1 } } })],
    ["load with a negative count", "bad_frame", JSON.stringify({ type: "load", doc, known: { header: true, sessions: { [bob.session]: -1 } } })],
    ["unsub with a number for doc", "bad_frame", JSON.stringify({ type: "unsub", doc: 7 })],
    ["content with a negative after", "bad_frame", content({ [alice.session]: { ...wireChunk, after: -1 } })],
    ["content with a fractional after", "bad_frame", content({ [alice.session]: { ...wireChunk, after: 0.5 } })],
    ["content with after as a string", "bad_frame", content({ [alice.session]: { ...wireChunk, after: "0" } })],
    ["content without signature", "bad_frame", content({ [alice.session]: { ...wireChunk, signature: undefined } })],
    ["content with data that is not a string", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [1], data: [{}] } })],
    ["content with data null", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [1], data: [null] } })],
    ["content with a fractional at", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [1.5], data: [""] } })],
    ["content with a negative first at", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [-1], data: [""] } })],
    ["content whose at differences go below zero", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [5, -6], data: ["", ""] } })],
    ["content whose at sums past the safe integers", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [Number.MAX_SAFE_INTEGER, 1], data: ["", ""] } })],
    ["content with more times than data", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [1, 2], data: [""] } })],
    ["content with an at that is not a list", "bad_frame", content({ [alice.session]: { ...wireChunk, at: 1, data: [""] } })],
    ["content with data that is not a list", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [1], data: "" } })],
    ["content with transactions as objects instead of columns", "bad_frame", content({ [alice.session]: chunk })],
    ["content with a header whose meta is an array", "bad_frame", content({}, { header: { ...header, meta: [] } })],
    ["content with a header without creator", "bad_frame", content({}, { header: { ...header, creator: undefined } })],
    ["content with sessions as a list", "bad_frame", JSON.stringify({ type: "content", doc, sessions: [] })],
    ["content with neither header nor sessions", "bad_frame", content({})],
    ["content with a chunk of no transactions", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [], data: [] } })],
    ["load with known sessions as a list", "bad_frame", JSON.stringify({ type: "load", doc, known: { header: true, sessions: [] } })],
    ["open with known as a list", "bad_frame", JSON.stringify({ type: "open", known: [] })],
    ["content with data holding a lone high surrogate", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [1], data: ["x\ud800y"] } })],
    ["content with data holding a lone low surrogate", "bad_frame", content({ [alice.session]: { ...wireChunk, at: [1], data: ["\udc00"] } })],
    ["content with a lone surrogate in a meta value", "bad_frame", content({}, { header: { ...header, meta: { list: ["ok", "a\ud83d"] } } })],
    ["content with a lone surrogate in a meta key", "bad_frame", content({}, { header: { ...header, meta: { "\udfff": 1 } } })],
    ["content with a lone surrogate in kind", "bad_frame", content({}, { header: { ...header, kind: "\ud800" } })],
    ["hello with a lone surrogate in its token", "bad_frame", JSON.stringify({ ...hello, token: "a.\ud800.c" })],
  ])("%s -> %s", (_name, code, frame) => {
    expect(decodeClientMessage(frame)).toMatchObject({ ok: false, code });
  });
});

describe("size limits", () => {
  it("accepts a frame of exactly MAX_FRAME_BYTES and refuses one byte more with frame_too_large", () => {
    expect(decodeClientMessage(paddedPing(MAX_FRAME_BYTES, "a", 1))).toMatchObject({ ok: true });
    expect(decodeClientMessage(paddedPing(MAX_FRAME_BYTES + 1, "a", 1))).toMatchObject({ ok: false, code: "frame_too_large" });
  });

  it.each([
    ["2-byte", "é", 2],
    ["3-byte", "一", 3],
    ["4-byte", "😀", 4],
  ])("counts %s characters in UTF-8 bytes, not string length", (_name, unit, unitBytes) => {
    const over = paddedPing(MAX_FRAME_BYTES + 1, unit, unitBytes);
    expect(over.length).toBeLessThan(MAX_FRAME_BYTES);
    expect(decodeClientMessage(over)).toMatchObject({ ok: false, code: "frame_too_large" });
    expect(decodeClientMessage(paddedPing(MAX_FRAME_BYTES, unit, unitBytes))).toMatchObject({ ok: true });
  });

  it("refuses a frame over the limit before trying to parse it", () => {
    expect(decodeClientMessage("x".repeat(MAX_FRAME_BYTES + 1))).toMatchObject({ ok: false, code: "frame_too_large" });
  });

  it.each([
    ["ASCII", "a", 1],
    ["3-byte", "一", 3],
  ])("accepts %s transaction data of exactly MAX_TRANSACTION_BYTES and refuses more with transaction_too_large", (_name, unit, unitBytes) => {
    const exact = unit.repeat(Math.floor(MAX_TRANSACTION_BYTES / unitBytes)) + "a".repeat(MAX_TRANSACTION_BYTES % unitBytes);
    expect(decodeClientMessage(withData(exact))).toMatchObject({ ok: true });
    expect(decodeClientMessage(withData(`${exact}a`))).toMatchObject({ ok: false, code: "transaction_too_large" });
  });

  it("refuses more than MAX_TRANSACTIONS_PER_FRAME transactions across sessions with transaction_too_large", () => {
    const half = MAX_TRANSACTIONS_PER_FRAME / 2;
    const chunkOf = (count: number) => columns({ after: 0, transactions: transactions(count), signature: chunk.signature });
    const other = testAgent(1, "session-two").session;
    expect(decodeClientMessage(content({ [alice.session]: chunkOf(half), [other]: chunkOf(half) }))).toMatchObject({ ok: true });
    expect(decodeClientMessage(content({ [alice.session]: chunkOf(half), [other]: chunkOf(half + 1) }))).toMatchObject({
      ok: false,
      code: "transaction_too_large",
    });
  });

  it("refuses more than MAX_TRANSACTIONS_PER_FRAME transactions in one session with transaction_too_large", () => {
    const many = columns({ after: 0, transactions: transactions(MAX_TRANSACTIONS_PER_FRAME + 1), signature: chunk.signature });
    expect(decodeClientMessage(content({ [alice.session]: many }))).toMatchObject({ ok: false, code: "transaction_too_large" });
  });

  it("refuses a header over MAX_HEADER_BYTES with bad_header, and accepts one just under", () => {
    const big = { ...header, meta: { title: "x".repeat(MAX_HEADER_BYTES) } };
    expect(decodeClientMessage(content({}, { header: big }))).toMatchObject({ ok: false, code: "bad_header" });
    const fits = { ...header, meta: { title: "x".repeat(MAX_HEADER_BYTES - 300) } };
    expect(decodeClientMessage(content({}, { header: fits }))).toMatchObject({ ok: true });
  });

  it("returns an error, never throws, for a header whose meta holds 1e999", () => {
    const frame = content({}, { header: { ...header, meta: "META" } }).replace('"META"', '{"n":1e999}');
    expect(() => decodeClientMessage(frame)).not.toThrow();
  });
});

describe("JSON a client shapes (meta, presence states) nests at most MAX_JSON_DEPTH deep", () => {
  /** `inner` inside `depth - 1` arrays and objects, taking turns: a value of nesting depth `depth`. */
  const nested = (depth: number, inner = "[]"): string => {
    let text = inner;
    for (let level = 1; level < depth; level++) text = level % 2 ? `[${text}]` : `{"k":${text}}`;
    return text;
  };
  const presence = (state: string) => JSON.stringify({ type: "presence", doc, state: "STATE" }).replace('"STATE"', state);
  const withMeta = (meta: string) => content({}, { header: { ...header, meta: "META" } }).replace('"META"', meta);

  it("refuses a presence state or a meta nested 200,000 deep with bad_frame, before a hello, without throwing", () => {
    const deep = nested(200_000);
    for (const frame of [presence(deep), withMeta(`{"k":${deep}}`)]) {
      const decoded = decodeClientFrame(frame);
      expect(decoded).toMatchObject({ ok: false, code: "bad_frame" });
      expect(decoded.ok ? "" : decoded.reason).toContain(`nest at most ${MAX_JSON_DEPTH} arrays and objects deep`);
    }
  });

  it("a client still reads a document whose meta, stored before the limit, nests deeper: only what clients send is held to it", () => {
    const served = withMeta(`{"k":${nested(MAX_JSON_DEPTH + 8)}}`);
    expect(decodeClientFrame(served)).toMatchObject({ ok: false, code: "bad_frame" });
    const decoded = decodeServerFrame(served);
    expect(decoded).toMatchObject({ ok: true });
    const entry = JSON.stringify({ type: "dir", docs: [{ id: doc, header: { ...header, meta: "META" }, known, updatedAt: 1 }], more: false, cursor: 1, digest: "A".repeat(43), inSync: false });
    expect(decodeServerFrame(entry.replace('"META"', `{"k":${nested(200_000)}}`))).toMatchObject({ ok: true });
  });

  it("accepts a state and a meta of exactly MAX_JSON_DEPTH, and refuses one level more", () => {
    expect(decodeClientFrame(presence(nested(MAX_JSON_DEPTH)))).toMatchObject({ ok: true });
    expect(decodeClientFrame(presence(nested(MAX_JSON_DEPTH + 1)))).toMatchObject({ ok: false, code: "bad_frame" });
    expect(decodeClientFrame(withMeta(`{"k":${nested(MAX_JSON_DEPTH - 1)}}`))).toMatchObject({ ok: true });
    expect(decodeClientFrame(withMeta(`{"k":${nested(MAX_JSON_DEPTH)}}`))).toMatchObject({ ok: false, code: "bad_frame" });
  });
});

describe("weft/protocol from plain JavaScript", () => {
  it("digestOf, the decoders and the predicates say what they were given, in their own words, rather than throw the engine's", async () => {
    const { ArgumentError, digestOf, decodeServerMessage, decodeClientMessage, fromBase64Url, isTokenRefusal, EMPTY_DIGEST } = await import("../../protocol/index.ts");
    for (const [docs, words] of [
      ["x", "digestOf: docs must be an iterable of [document id, known state] pairs (a Map, say), not string"],
      [{}, "digestOf: docs must be an iterable of [document id, known state] pairs (a Map, say), not object"],
      [undefined, "digestOf: docs must be an iterable of [document id, known state] pairs (a Map, say), not undefined"],
      [[null], "digestOf: docs[0] is not a [document id, known state] pair ({ header, sessions })"],
      [new Map([["doc_x", null]]), "digestOf: docs[0] is not a [document id, known state] pair ({ header, sessions })"],
    ] as const) {
      expect(() => digestOf(docs as never)).toThrow(new ArgumentError(words));
    }
    expect(digestOf(new Map())).toBe(EMPTY_DIGEST);
    for (const frame of [null, undefined, 5, {}]) {
      expect(decodeServerMessage(frame as never)).toMatchObject({ ok: false, code: "bad_frame" });
      expect(decodeClientMessage(frame as never)).toMatchObject({ ok: false, code: "bad_frame" });
    }
    expect(fromBase64Url(undefined as never)).toBeUndefined();
    expect(isTokenRefusal(undefined as never)).toBe(false);
  });
});
