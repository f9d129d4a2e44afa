// Turning frames into typed messages and back. Decoding never throws: it returns the message or the
// stable error code (and a readable reason) that the sender should hear.
import { clientFrameSchema, clientMessageSchema, serverFrameSchema, serverMessageSchema, type ClientMessage, type ServerMessage } from "./messages.ts";
import { frameCheck, messageCheck, type Checked } from "./frame-check.ts";
import { encodedChunkJson, encodedColumnsOf, toColumns } from "./transaction-columns.ts";
import { attachSections, batchFrame, splitBinaryFrame, type EncodedMessage, type WireFrame } from "./binary-frame.ts";
import { canonicalJson, dataBytes, jsonStringBytes, utf8Length, type Json } from "./encoding.ts";
import type { ErrorCode } from "./errors.ts";
import type { SessionId } from "./ids.ts";
import { MAX_FRAME_BYTES, MAX_HEADER_BYTES, MAX_SESSIONS_PER_FRAME, MAX_SNAPSHOT_BYTES, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_WIRE_BYTES, MAX_TRANSACTIONS_PER_FRAME } from "./limits.ts";
import type { TransactionData } from "./session-log.ts";

export type Decoded<T> = { ok: true; message: T } | { ok: false; code: ErrorCode; reason: string };

const fail = (code: ErrorCode, reason: string): Decoded<never> => ({ ok: false, code, reason });

const checkClientMessage = messageCheck<ClientMessage>(clientMessageSchema);
const checkClientFrame = frameCheck<ClientMessage>(clientMessageSchema, clientFrameSchema);
const checkServerMessage = messageCheck<ServerMessage>(serverMessageSchema);
const checkServerFrame = frameCheck<ServerMessage>(serverMessageSchema, serverFrameSchema);

/** Byte size of a frame as it travels: UTF-8 for text, raw length for binary. */
export function frameBytes(frame: string | ArrayBuffer | ArrayBufferView): number {
  if (typeof frame !== "string") return frame.byteLength;
  // Every UTF-16 unit is 1 to 3 UTF-8 bytes: only count exactly when the bounds straddle the limit.
  if (frame.length > MAX_FRAME_BYTES) return frame.length;
  if (frame.length * 3 <= MAX_FRAME_BYTES) return frame.length;
  return utf8Length(frame);
}

const bytesOf = (frame: ArrayBuffer | ArrayBufferView): Uint8Array =>
  frame instanceof ArrayBuffer ? new Uint8Array(frame) : new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);

function parseFrame<T>(frame: string | ArrayBuffer | ArrayBufferView, check: (json: unknown) => Checked<T>): Decoded<T> {
  // Bytes of another realm (an iframe's socket) are bytes too: their tag, not instanceof.
  if (typeof frame !== "string" && !ArrayBuffer.isView(frame) && Object.prototype.toString.call(frame) !== "[object ArrayBuffer]") return fail("bad_frame", `a frame is text or bytes, not ${frame === null ? "null" : typeof frame}`);
  const size = frameBytes(frame);
  if (size > MAX_FRAME_BYTES) return fail("frame_too_large", `frame of ${size} bytes exceeds ${MAX_FRAME_BYTES}`);
  let text: string;
  let sections: Uint8Array | undefined;
  if (typeof frame === "string") text = frame;
  else {
    const split = splitBinaryFrame(bytesOf(frame));
    if ("error" in split) return fail("bad_frame", split.error);
    text = split.json;
    sections = split.sections;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail("bad_frame", "frame is not valid JSON");
  }
  const unmatched = attachSections(json, sections);
  if (unmatched) return fail("bad_frame", unmatched);
  let result: Checked<T>;
  try {
    result = check(json);
  } catch (error) {
    // No input should get here (checks walk client-shaped JSON without recursing); if one does, it is refused.
    return fail("bad_frame", `the frame could not be checked: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500));
  }
  if (!result.ok) {
    const { issue, path } = result;
    // The reason may quote the input (a lone surrogate included) and slicing may split a pair: the error
    // frame carrying it must itself be well-formed text, or the sender could not decode it.
    return fail("bad_frame", `${path ? `${path}: ` : ""}${issue.message}`.slice(0, 500).replace(/\p{Cs}/gu, "\uFFFD"));
  }
  return { ok: true, message: result.value };
}

/** A refusal of one message, with its stable code. */
export type MessageProblem = { code: ErrorCode; reason: string };

/** Transactions a message carries, all sessions together (what MAX_TRANSACTIONS_PER_FRAME counts). */
export const transactionsIn = (message: ClientMessage): number => {
  if (message.type !== "content") return 0;
  let total = 0;
  for (const chunk of Object.values(message.sessions)) total += chunk?.transactions.length ?? 0;
  return total;
};

/**
 * What the relay refuses in one message whatever it holds: limits a schema cannot express cheaply (sizes of
 * transaction data, snapshots and headers). The relay refuses such a message alone, naming its document;
 * the other messages of its frame are handled as usual.
 */
export function clientMessageProblem(message: ClientMessage): MessageProblem | undefined {
  if (message.type === "snapshot") {
    const { data } = message;
    if ((typeof data !== "string" || data.length * 3 > MAX_SNAPSHOT_BYTES) && dataBytes(data) > MAX_SNAPSHOT_BYTES) {
      return { code: "snapshot_too_large", reason: `a snapshot's data exceeds ${MAX_SNAPSHOT_BYTES} bytes` };
    }
    return undefined;
  }
  if (message.type !== "content") return undefined;
  const sessions = Object.keys(message.sessions).length;
  if (sessions > MAX_SESSIONS_PER_FRAME) return { code: "too_many_sessions", reason: `a content message carries at most ${MAX_SESSIONS_PER_FRAME} sessions, this one ${sessions}` };
  for (const chunk of Object.values(message.sessions)) {
    if (!chunk) continue;
    for (const { data } of chunk.transactions) {
      const tooLarge = transactionSizeProblem(data);
      if (tooLarge) return { code: "transaction_too_large", reason: tooLarge };
    }
  }
  if (message.header) {
    let encoded: string;
    try {
      encoded = canonicalJson(message.header as unknown as Json);
    } catch {
      // JSON.parse turns 1e999 into Infinity, which has no canonical form (and so no document id).
      return { code: "bad_header", reason: "header meta must hold only finite numbers" };
    }
    if (utf8Length(encoded) > MAX_HEADER_BYTES) return { code: "bad_header", reason: `header exceeds ${MAX_HEADER_BYTES} bytes` };
  }
  return undefined;
}

/**
 * Why a transaction's data is too large, if it is: over MAX_TRANSACTION_BYTES as both ends count it (UTF-8
 * bytes of text, the length of bytes), or text whose JSON form, escapes included, would not fit a frame
 * beside the largest header (MAX_TRANSACTION_WIRE_BYTES). One judgement for both ends: the relay refuses
 * with these words (`transaction_too_large`), and the SDK refuses an append with them before it is stored.
 * A relay that took such text would have to send it to every reader in a frame over MAX_FRAME_BYTES.
 */
export function transactionSizeProblem(data: TransactionData): string | undefined {
  // Short text is not measured: UTF-8 takes at most 3 bytes a UTF-16 unit, and JSON at most 6 (a NUL is
  // \u0000), so text of up to a third of MAX_TRANSACTION_BYTES in units is within both limits.
  if (typeof data === "string" && data.length * 3 <= MAX_TRANSACTION_BYTES) return undefined;
  const size = dataBytes(data);
  if (size > MAX_TRANSACTION_BYTES) return `a transaction's data has ${size} bytes; at most ${MAX_TRANSACTION_BYTES}`;
  const wire = typeof data === "string" && data.length * 6 > MAX_TRANSACTION_WIRE_BYTES ? jsonStringBytes(data) : 0;
  if (wire > MAX_TRANSACTION_WIRE_BYTES) {
    return `a transaction's data has ${size} bytes, but as JSON (escapes included) ${wire}; a frame carries at most ${MAX_TRANSACTION_WIRE_BYTES} of one transaction`;
  }
  return undefined;
}

/** Limits of a frame as a whole: the transactions of all its messages together. */
function frameProblem(messages: readonly ClientMessage[]): MessageProblem | undefined {
  let total = 0;
  for (const message of messages) total += transactionsIn(message);
  if (total <= MAX_TRANSACTIONS_PER_FRAME) return undefined;
  return { code: "transaction_too_large", reason: `${total} transactions in one frame; at most ${MAX_TRANSACTIONS_PER_FRAME}, over all its messages` };
}

/** A single message, checked as a frame of its own and against its own limits (what the SDK refuses locally). */
export function decodeClientMessage(frame: string | ArrayBuffer | ArrayBufferView): Decoded<ClientMessage> {
  const decoded = parseFrame(frame, checkClientMessage);
  if (!decoded.ok) return decoded;
  const problem = frameProblem([decoded.message]) ?? clientMessageProblem(decoded.message);
  return problem ? { ok: false, ...problem } : decoded;
}

/**
 * The messages of one frame from a client, in order: one, or the contents of a batch, the frame within its
 * limits. Each message's own limits are left to clientMessageProblem, so that one over them is refused alone.
 */
export function decodeClientFrame(frame: string | ArrayBuffer | ArrayBufferView): Decoded<ClientMessage[]> {
  const decoded = parseFrame(frame, checkClientFrame);
  if (!decoded.ok) return decoded;
  const messages = decoded.message.type === "batch" ? decoded.message.messages : [decoded.message];
  const problem = frameProblem(messages);
  return problem ? { ok: false, ...problem } : { ok: true, message: messages };
}

export const decodeServerMessage = (frame: string | ArrayBuffer | ArrayBufferView): Decoded<ServerMessage> =>
  parseFrame(frame, checkServerMessage);

/** The messages of one frame from the relay, in order: one, or the contents of a batch. */
export function decodeServerFrame(frame: string | ArrayBuffer | ArrayBufferView): Decoded<ServerMessage[]> {
  const decoded = parseFrame(frame, checkServerFrame);
  if (!decoded.ok) return decoded;
  return { ok: true, message: decoded.message.type === "batch" ? decoded.message.messages : [decoded.message] };
}

type Message = ClientMessage | ServerMessage;

/** The frame for one message: JSON text, or a binary frame when it carries bytes (binary-frame.ts). */
export function encodeMessage(message: Exclude<Message, { type: "content" | "snapshot" }>): string;
export function encodeMessage(message: Message): WireFrame;
export function encodeMessage(message: Message): WireFrame {
  return batchFrame([encodeForBatch(message)]);
}

/**
 * A message encoded to be packed with others (packBatches): JSON, with each chunk's transactions as columns
 * (transaction-columns.ts), and the byte sections its data of bytes refers to, if any.
 */
export function encodeForBatch(message: Message): EncodedMessage {
  if (message.type === "snapshot" && typeof message.data !== "string") {
    const data = message.data;
    return { json: JSON.stringify({ ...message, data: data.byteLength }), sections: [data], sectionBytes: data.byteLength };
  }
  if (message.type !== "content") return JSON.stringify(message);
  const sectionList: Uint8Array[] = [];
  const json = Object.values(message.sessions).some((chunk) => chunk && encodedColumnsOf(chunk))
    ? contentJson(message, sectionList)
    : JSON.stringify({ ...message, sessions: sessionColumns(message.sessions, sectionList) });
  if (sectionList.length === 0) return json;
  let sectionBytes = 0;
  for (const section of sectionList) sectionBytes += section.byteLength;
  return { json, sections: sectionList, sectionBytes };
}

type Sessions = Extract<Message, { type: "content" }>["sessions"];

/** A chunk as it goes on the wire: its transactions as columns (bytes onto `sectionList`). */
function chunkColumns(chunk: NonNullable<Sessions[SessionId]>, sectionList: Uint8Array[]): Record<string, unknown> {
  const { transactions, ...rest } = chunk;
  return { ...rest, ...toColumns(transactions, sectionList) };
}

function sessionColumns(sessions: Sessions, sectionList: Uint8Array[]): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  for (const [session, chunk] of Object.entries(sessions)) if (chunk) columns[session] = chunkColumns(chunk, sectionList);
  return columns;
}

/**
 * The JSON of a content message some of whose chunks hold encoded columns (the relay's, read from storage):
 * the same text JSON.stringify writes, with their data put in as the literals they are. `sessions` goes
 * last, as in every content message the relay makes (ContentPacker).
 */
function contentJson(message: Extract<Message, { type: "content" }>, sectionList: Uint8Array[]): string {
  const { sessions, ...rest } = message;
  const parts: string[] = [];
  for (const [session, chunk] of Object.entries(sessions)) {
    if (!chunk) continue;
    const columns = encodedColumnsOf(chunk);
    const json = columns
      ? encodedChunkJson(chunk.after, chunk.signature, columns, sectionList)
      : JSON.stringify(chunkColumns(chunk, sectionList));
    parts.push(`${JSON.stringify(session)}:${json}`);
  }
  // Joined rather than concatenated: one flat string, which encoding it for the socket need not copy again.
  return [JSON.stringify(rest).slice(0, -1), ',"sessions":{', parts.join(","), "}}"].join("");
}
