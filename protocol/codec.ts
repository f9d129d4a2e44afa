// Turning frames into typed messages and back. Decoding never throws: it returns the message or the
// stable error code (and a readable reason) that the sender should hear.
import * as v from "valibot";
import { clientFrameSchema, clientMessageSchema, serverFrameSchema, serverMessageSchema, type ClientMessage, type ServerMessage } from "./messages.ts";
import { toColumns } from "./transaction-columns.ts";
import { canonicalJson, utf8Length, type Json } from "./encoding.ts";
import type { ErrorCode } from "./errors.ts";
import { MAX_FRAME_BYTES, MAX_HEADER_BYTES, MAX_TRANSACTION_BYTES, MAX_TRANSACTIONS_PER_FRAME } from "./limits.ts";

export type Decoded<T> = { ok: true; message: T } | { ok: false; code: ErrorCode; reason: string };

const fail = (code: ErrorCode, reason: string): Decoded<never> => ({ ok: false, code, reason });

/** Byte size of a frame as it travels: UTF-8 for text, raw length for binary. */
export function frameBytes(frame: string | ArrayBuffer | ArrayBufferView): number {
  if (typeof frame !== "string") return frame.byteLength;
  // Every UTF-16 unit is 1 to 3 UTF-8 bytes: only count exactly when the bounds straddle the limit.
  if (frame.length > MAX_FRAME_BYTES) return frame.length;
  if (frame.length * 3 <= MAX_FRAME_BYTES) return frame.length;
  return utf8Length(frame);
}

function parseFrame<T>(
  frame: string | ArrayBuffer | ArrayBufferView,
  schema: v.GenericSchema<unknown, T>,
): Decoded<T> {
  if (typeof frame !== "string") return fail("bad_frame", "binary frames are not part of the protocol; send JSON text");
  const size = frameBytes(frame);
  if (size > MAX_FRAME_BYTES) return fail("frame_too_large", `frame of ${size} bytes exceeds ${MAX_FRAME_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(frame);
  } catch {
    return fail("bad_frame", "frame is not valid JSON");
  }
  const result = v.safeParse(schema, json);
  if (!result.success) {
    const issue = result.issues[0];
    const path = v.getDotPath(issue) ?? "";
    // The reason may quote the input (a lone surrogate included) and slicing may split a pair: the error
    // frame carrying it must itself be well-formed text, or the sender could not decode it.
    return fail("bad_frame", `${path ? `${path}: ` : ""}${issue.message}`.slice(0, 500).replace(/\p{Cs}/gu, "\uFFFD"));
  }
  return { ok: true, message: result.output };
}

/** Limits a schema cannot express cheaply: sizes of transaction data and of headers. */
function checkClientLimits(message: ClientMessage): Decoded<ClientMessage> {
  if (message.type !== "content") return { ok: true, message };
  let total = 0;
  for (const chunk of Object.values(message.sessions)) {
    if (!chunk) continue;
    total += chunk.transactions.length;
    for (const transaction of chunk.transactions) {
      const data = transaction.data;
      if (data.length * 3 > MAX_TRANSACTION_BYTES && utf8Length(data) > MAX_TRANSACTION_BYTES) {
        return fail("transaction_too_large", `a transaction's data exceeds ${MAX_TRANSACTION_BYTES} bytes`);
      }
    }
  }
  if (total > MAX_TRANSACTIONS_PER_FRAME) {
    return fail("transaction_too_large", `${total} transactions in one message; at most ${MAX_TRANSACTIONS_PER_FRAME}`);
  }
  if (message.header) {
    let encoded: string;
    try {
      encoded = canonicalJson(message.header as unknown as Json);
    } catch {
      // JSON.parse turns 1e999 into Infinity, which has no canonical form (and so no document id).
      return fail("bad_header", "header meta must hold only finite numbers");
    }
    if (utf8Length(encoded) > MAX_HEADER_BYTES) return fail("bad_header", `header exceeds ${MAX_HEADER_BYTES} bytes`);
  }
  return { ok: true, message };
}

export function decodeClientMessage(frame: string | ArrayBuffer | ArrayBufferView): Decoded<ClientMessage> {
  const decoded = parseFrame(frame, clientMessageSchema);
  return decoded.ok ? checkClientLimits(decoded.message) : decoded;
}

/** The messages of one frame from a client, in order: one, or the contents of a batch, each within the limits. */
export function decodeClientFrame(frame: string | ArrayBuffer | ArrayBufferView): Decoded<ClientMessage[]> {
  const decoded = parseFrame(frame, clientFrameSchema);
  if (!decoded.ok) return decoded;
  const messages = decoded.message.type === "batch" ? decoded.message.messages : [decoded.message];
  for (const message of messages) {
    const checked = checkClientLimits(message);
    if (!checked.ok) return checked;
  }
  return { ok: true, message: messages };
}

export const decodeServerMessage = (frame: string | ArrayBuffer | ArrayBufferView): Decoded<ServerMessage> =>
  parseFrame(frame, serverMessageSchema);

/** The messages of one frame from the relay, in order: one, or the contents of a batch. */
export function decodeServerFrame(frame: string | ArrayBuffer | ArrayBufferView): Decoded<ServerMessage[]> {
  const decoded = parseFrame(frame, serverFrameSchema);
  if (!decoded.ok) return decoded;
  return { ok: true, message: decoded.message.type === "batch" ? decoded.message.messages : [decoded.message] };
}

/** One frame holding several encoded messages (see batchSchema); a single message goes as it is. */
export const batchFrame = (frames: readonly string[]): string =>
  frames.length === 1 ? frames[0]! : `{"type":"batch","messages":[${frames.join(",")}]}`;

/**
 * Encoded messages as few frames as fit, in order: each batch holds at most `target` UTF-16 units (so at
 * most 3 × target UTF-8 bytes); a message longer than that goes alone.
 */
export function packBatches(frames: readonly string[], target: number): string[] {
  const packed: string[] = [];
  let batch: string[] = [];
  let size = 0;
  for (const frame of frames) {
    if (batch.length > 0 && size + frame.length > target) {
      packed.push(batchFrame(batch));
      batch = [];
      size = 0;
    }
    batch.push(frame);
    size += frame.length + 1;
  }
  if (batch.length > 0) packed.push(batchFrame(batch));
  return packed;
}

/** The frame for a message: JSON, with each chunk's transactions as columns (see transaction-columns.ts). */
export function encodeMessage(message: ClientMessage | ServerMessage): string {
  if (message.type !== "content") return JSON.stringify(message);
  const sessions: Record<string, unknown> = {};
  for (const [session, chunk] of Object.entries(message.sessions)) {
    if (!chunk) continue;
    const { transactions, ...rest } = chunk;
    sessions[session] = { ...rest, ...toColumns(transactions) };
  }
  return JSON.stringify({ ...message, sessions });
}
