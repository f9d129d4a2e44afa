// How transactions of bytes travel: in binary WebSocket frames, never base64. A binary frame is the JSON of
// its message (or batch) in UTF-8, one zero byte, then the bytes of each transaction of bytes it carries,
// back to back. In the JSON such a transaction's entry in its chunk's `data` column is the number of its
// bytes (and a snapshot of bytes has the number of its bytes as its `data`); text stays a string. Sections follow in the order their entries appear in the JSON: messages of a
// batch in order, then sessions, then transactions. (JSON.parse keeps the text's key order, and the encoder
// writes keys in the order it walks them, so both ends walk alike.) A frame without bytes stays text.
//
// Compressed frames: the relay sends a large frame (COMPRESS_MIN_BYTES and up) compressed to a client whose
// hello lists the format in `inflate`. Such a frame is binary: a zero byte, a format byte (1: deflate-raw,
// RFC 1951, the "deflate-raw" of DecompressionStream), then the compressed frame in binary form: a binary
// frame as it is, a text frame as its UTF-8 JSON and the zero byte, with no sections. No other frame starts
// with a zero byte (its JSON starts with `{`), and once inflated it decodes as any binary frame. The relay
// compresses only frames within MAX_FRAME_BYTES, so a receiver refuses one that inflates past it (and stops
// inflating there). Clients send no compressed frames.
//
// Why not base64 in JSON: measured in README ("Binary data"), a binary frame is 25% smaller for 100 KB of
// bytes and its encode+decode costs a fraction of base64's; for Yjs-sized updates (20–200 bytes) it saves
// the base64 third too.
import { fromUtf8Strict, utf8Length } from "./encoding.ts";

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
  // Most JSON is ASCII, one byte per UTF-16 unit: first tried in a buffer of exactly that size. Beyond ASCII
  // the buffer fills before the text ends: what is left is counted, and encoded after what was written, in
  // a buffer of the exact size (neither encoded twice nor trimmed by a copy).
  let buffer = new Uint8Array(json.length + 1 + sectionBytes);
  let { read, written } = encoder.encodeInto(json, buffer.subarray(0, json.length));
  if (read < json.length) {
    const rest = json.slice(read);
    const grown = new Uint8Array(written + utf8Length(rest) + 1 + sectionBytes);
    grown.set(buffer.subarray(0, written));
    written += encoder.encodeInto(rest, grown.subarray(written)).written;
    buffer = grown;
  }
  let offset = written + 1; // buffer[written] is already the zero separator
  for (const section of sections) {
    buffer.set(section, offset);
    offset += section.byteLength;
  }
  return buffer;
}

/** The JSON text and the sections of a binary frame, or the reason it is not one. */
export function splitBinaryFrame(frame: Uint8Array): { json: string; sections: Uint8Array } | { error: string } {
  if (isCompressedFrame(frame)) return { error: "a compressed frame is inflated before it is decoded, and only the relay sends them" };
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

/** The first byte of a compressed frame, which no other frame has. */
export const COMPRESSED_FRAME_MARK = 0;
/** Formats of compressed frames by name (as a hello's `inflate` lists them) and the byte that tells them. */
export const COMPRESSION_FORMATS = { "deflate-raw": 1 } as const;
export type CompressionFormat = keyof typeof COMPRESSION_FORMATS;
/** Compresses bytes whole, synchronously (the relay's: node:zlib's deflateRawSync). */
export type Deflate = (bytes: Uint8Array) => Uint8Array;

export const isCompressedFrame = (frame: Uint8Array): boolean => frame.byteLength > 0 && frame[0] === COMPRESSED_FRAME_MARK;

/** What a frame of `size` bytes inflates to once compressed: a text frame becomes a binary one, a byte longer. */
export const inflatedBytes = (frame: WireFrame, size: number): number => (typeof frame === "string" ? size + 1 : size);

/** The compressed frame of a frame, in deflate-raw (see the top of this file). */
export function compressFrame(frame: WireFrame, deflateRaw: Deflate): Uint8Array {
  const plain = typeof frame === "string" ? binaryFrame(frame, [], 0) : frame;
  const packed = deflateRaw(plain);
  const compressed = new Uint8Array(packed.byteLength + 2);
  compressed[0] = COMPRESSED_FRAME_MARK;
  compressed[1] = COMPRESSION_FORMATS["deflate-raw"];
  compressed.set(packed, 2);
  return compressed;
}

let inflates: boolean | undefined;
/** Whether this runtime can inflate compressed frames (DecompressionStream with "deflate-raw"). */
export function canInflate(): boolean {
  if (inflates === undefined) {
    try {
      inflates = typeof DecompressionStream === "function" && new DecompressionStream("deflate-raw") !== undefined;
    } catch {
      inflates = false; // a runtime whose DecompressionStream predates deflate-raw
    }
  }
  return inflates;
}

type SyncInflater = { inflateRawSync(bytes: Uint8Array, options: { maxOutputLength: number }): Uint8Array };
// Node (and runtimes like it) inflate in place, ten times faster than through a DecompressionStream and in
// order by nature; a browser has no such module and takes the stream. Looked up at each frame (a map lookup).
const syncInflater = (): SyncInflater | undefined =>
  (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.("node:zlib") as SyncInflater | undefined;

/**
 * The frame a compressed frame holds, inflated at once where the runtime can (Node's zlib), with the same
 * answers as inflateFrame; undefined where it cannot, and the caller takes inflateFrame. Never throws.
 */
export function inflateFrameNow(frame: Uint8Array, maxBytes: number): { frame: Uint8Array } | { error: string } | undefined {
  const inflater = syncInflater();
  if (!inflater?.inflateRawSync) return undefined;
  if (!isCompressedFrame(frame) || frame[1] !== COMPRESSION_FORMATS["deflate-raw"]) {
    return { error: `unknown compressed frame format ${frame[1] ?? "(none)"}` };
  }
  try {
    return { frame: inflater.inflateRawSync(frame.subarray(2), { maxOutputLength: maxBytes }) };
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") return { error: `a compressed frame inflates past ${maxBytes} bytes` };
    return { error: "a compressed frame is not valid deflate-raw data" };
  }
}

/** Compressed bytes are fed to the inflater this much at a time, so a frame that inflates past the limit is stopped early. */
const INFLATE_INPUT_STEP = 4 * 1024;

/**
 * The frame a compressed frame holds, in binary form, or the reason it has none: an unknown format, data
 * that is not deflate-raw, or more than `maxBytes` once inflated. Inflates with DecompressionStream
 * (current browsers, Node 20 and later, Workers), fed a step at a time and stopped as soon as the output passes
 * `maxBytes`: a frame of a few KiB may inflate to a thousand times as much. Never throws.
 */
export async function inflateFrame(frame: Uint8Array, maxBytes: number): Promise<{ frame: Uint8Array } | { error: string }> {
  if (!isCompressedFrame(frame) || frame[1] !== COMPRESSION_FORMATS["deflate-raw"]) {
    return { error: `unknown compressed frame format ${frame[1] ?? "(none)"}` };
  }
  const inflater = new DecompressionStream("deflate-raw");
  const writer = inflater.writable.getWriter();
  const reader = inflater.readable.getReader();
  let stopped = false;
  const feed = (async () => {
    for (let offset = 2; offset < frame.byteLength && !stopped; offset += INFLATE_INPUT_STEP) {
      await writer.write(frame.slice(offset, offset + INFLATE_INPUT_STEP));
    }
    if (!stopped) await writer.close();
  })();
  feed.catch(() => undefined); // a corrupt stream fails the reader too, which reports it
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        stopped = true;
        void reader.cancel().catch(() => undefined);
        void writer.abort().catch(() => undefined);
        return { error: `a compressed frame inflates past ${maxBytes} bytes` };
      }
      chunks.push(value);
    }
  } catch {
    stopped = true;
    void writer.abort().catch(() => undefined);
    return { error: "a compressed frame is not valid deflate-raw data" };
  }
  if (chunks.length === 1) return { frame: chunks[0]! };
  const inflated = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    inflated.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { frame: inflated };
}
