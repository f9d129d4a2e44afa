// How transactions of bytes travel: in binary WebSocket frames, never base64. A binary frame is the JSON of
// its message (or batch) in UTF-8, one zero byte, then the bytes of each transaction of bytes it carries,
// back to back. In the JSON such a transaction's entry in its chunk's `data` column is the number of its
// bytes (and a snapshot of bytes has the number of its bytes as its `data`); text stays a string. Sections follow in the order their entries appear in the JSON: messages of a
// batch in order, then sessions, then transactions. (JSON.parse keeps the text's key order, and the encoder
// writes keys in the order it walks them, so both ends walk alike.) A frame without bytes stays text.
//
// Why not base64 in JSON: measured in README ("Binary data"), a binary frame is 25% smaller for 100 KB of
// bytes and its encode+decode costs a fraction of base64's; for Yjs-sized updates (20–200 bytes) it saves
// the base64 third too.
import { fromUtf8Strict } from "./encoding.ts";

/** A message encoded for the wire: JSON text, or JSON plus the byte sections its `data` numbers refer to. */
export type EncodedMessage = string | BinaryMessage;
export type BinaryMessage = {
  json: string;
  sections: Uint8Array[];
  sectionBytes: number;
  /** Its frame when it goes alone, built once: a fan-out sends the same frame to every subscriber. */
  frame?: Uint8Array;
};

/** What goes on the socket: a text frame, or a binary frame. */
export type WireFrame = string | Uint8Array;

/** Size of an encoded message for packing: UTF-16 units of its JSON plus its section bytes. */
export const encodedLength = (message: EncodedMessage): number =>
  typeof message === "string" ? message.length : message.json.length + message.sectionBytes;

const encoder = new TextEncoder();

/** The binary frame of some JSON and its sections: JSON (UTF-8), a zero byte, the sections in order. */
export function binaryFrame(json: string, sections: readonly Uint8Array[], sectionBytes: number): Uint8Array {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; encodeInto writes in place, then the frame is trimmed.
  const buffer = new Uint8Array(json.length * 3 + 1 + sectionBytes);
  const { written } = encoder.encodeInto(json, buffer);
  let offset = written + 1; // buffer[written] is already the zero separator
  for (const section of sections) {
    buffer.set(section, offset);
    offset += section.byteLength;
  }
  return offset === buffer.length ? buffer : buffer.slice(0, offset);
}

/** The JSON text and the sections of a binary frame, or the reason it is not one. */
export function splitBinaryFrame(frame: Uint8Array): { json: string; sections: Uint8Array } | { error: string } {
  // JSON never holds a raw zero byte (a NUL in a string must be escaped), so the first one ends it.
  const end = frame.indexOf(0);
  if (end < 0) return { error: "a binary frame is JSON, a zero byte, then the bytes it refers to: no zero byte found" };
  const json = fromUtf8Strict(frame.subarray(0, end));
  if (json === undefined) return { error: "the JSON of a binary frame is not valid UTF-8" };
  return { json, sections: frame.subarray(end + 1) };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Replaces each number in the `data` columns of parsed JSON (a message or a batch) by its section of
 * `sections`, copied; returns the reason if they do not match exactly (too few bytes, bytes left over, a
 * number in a text frame). Anything else malformed is left for the schema to refuse.
 */
export function attachSections(json: unknown, sections: Uint8Array | undefined): string | undefined {
  const total = sections?.byteLength ?? 0;
  const messages = isRecord(json) && json.type === "batch" && Array.isArray(json.messages) ? json.messages : [json];
  let offset = 0;
  for (const message of messages) {
    if (isRecord(message) && message.type === "snapshot" && typeof message.data === "number") {
      // A snapshot of bytes: its `data` is the number of its bytes, one section.
      const length = message.data;
      if (!sections) return "data of bytes travels in binary frames; a text frame's data must be strings";
      if (!Number.isSafeInteger(length) || length < 0) return "a data entry of bytes must be its length: a non-negative integer";
      if (offset + length > total) return `data refers to ${offset + length} bytes, but the frame carries ${total}`;
      message.data = sections.slice(offset, offset + length);
      offset += length;
      continue;
    }
    if (!isRecord(message) || message.type !== "content" || !isRecord(message.sessions)) continue;
    for (const chunk of Object.values(message.sessions)) {
      if (!isRecord(chunk) || !Array.isArray(chunk.data)) continue;
      const data: unknown[] = chunk.data;
      for (let i = 0; i < data.length; i++) {
        const length = data[i];
        if (typeof length !== "number") continue;
        if (!sections) return "data of bytes travels in binary frames; a text frame's data must be strings";
        if (!Number.isSafeInteger(length) || length < 0) return "a data entry of bytes must be its length: a non-negative integer";
        if (offset + length > total) return `data refers to ${offset + length} bytes, but the frame carries ${total}`;
        data[i] = sections.slice(offset, offset + length);
        offset += length;
      }
    }
  }
  if (offset !== total) return `the frame carries ${total} bytes, but its data refers to ${offset}`;
  return undefined;
}

/**
 * Frames for encoded messages, as few as fit: each batch holds at most `target` (UTF-16 units of JSON plus
 * section bytes, so at most 3 × target bytes); a message longer than that goes alone. A batch with any
 * bytes is one binary frame.
 */
export function packBatches(messages: readonly EncodedMessage[], target: number): WireFrame[] {
  const packed: WireFrame[] = [];
  let batch: EncodedMessage[] = [];
  let size = 0;
  for (const message of messages) {
    const length = encodedLength(message);
    if (batch.length > 0 && size + length > target) {
      packed.push(batchFrame(batch));
      batch = [];
      size = 0;
    }
    batch.push(message);
    size += length + 1;
  }
  if (batch.length > 0) packed.push(batchFrame(batch));
  return packed;
}

/** One frame holding several encoded messages (see batchSchema); a single message goes as it is. */
export function batchFrame(messages: readonly string[]): string;
export function batchFrame(messages: readonly EncodedMessage[]): WireFrame;
export function batchFrame(messages: readonly EncodedMessage[]): WireFrame {
  const only = messages.length === 1 ? messages[0]! : undefined;
  if (typeof only === "string") return only;
  if (only) return (only.frame ??= binaryFrame(only.json, only.sections, only.sectionBytes));
  const jsons: string[] = [];
  const sections: Uint8Array[] = [];
  let sectionBytes = 0;
  for (const message of messages) {
    if (typeof message === "string") {
      jsons.push(message);
      continue;
    }
    jsons.push(message.json);
    sections.push(...message.sections);
    sectionBytes += message.sectionBytes;
  }
  const json = `{"type":"batch","messages":[${jsons.join(",")}]}`;
  return sections.length > 0 || messages.some((message) => typeof message !== "string") ? binaryFrame(json, sections, sectionBytes) : json;
}
