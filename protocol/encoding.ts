// Byte and text encodings shared by both ends: UTF-8, base64url, and the canonical JSON that
// hashes and signatures are computed over.
import { nodeBuiltin } from "./node-builtin.ts";
import { plainFromBase64Url, plainToBase64Url } from "./plain-base64url.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const utf8 = (text: string): Uint8Array => encoder.encode(text);
export const fromUtf8 = (bytes: Uint8Array): string => decoder.decode(bytes);
/** Writes a string's UTF-8 at the start of `into`, which has room for it (3 bytes a UTF-16 unit at most); returns the bytes written. */
export const utf8Into = (text: string, into: Uint8Array): number => encoder.encodeInto(text, into).written;

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes UTF-8, or undefined if the bytes are not valid UTF-8 (never replaced with U+FFFD). */
export function fromUtf8Strict(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

const NON_ASCII = /[^\u0000-\u007f]/;

const isLowSurrogate = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

/** Text up to this many UTF-16 units beyond ASCII is counted in a loop; longer text by the encoder, natively. */
const COUNTED_BY_LOOP = 16;
/** Where utf8Length has the encoder write what it counts, a piece at a time: allocated once, on first need. */
let counting: Uint8Array | undefined;

/** UTF-8 length of a string (as TextEncoder would encode it), without allocating more than once. */
export function utf8Length(text: string): number {
  // A native regex scan answers the common all-ASCII case far faster than anything below.
  if (!NON_ASCII.test(text)) return text.length;
  if (text.length > COUNTED_BY_LOOP) {
    // encodeInto writes what fits and says how much it read: a surrogate pair is never split, a lone
    // surrogate is written as U+FFFD (3 bytes), as the loop below counts it. 3 to 4 times the loop's speed.
    counting ??= new Uint8Array(16 * 1024);
    let bytes = 0;
    for (let read = 0; read < text.length; ) {
      const step = encoder.encodeInto(read === 0 ? text : text.slice(read), counting);
      read += step.read;
      bytes += step.written;
    }
    return bytes;
  }
  // Each UTF-16 unit takes 1 to 3 UTF-8 bytes, so ASCII-only fast paths are exact.
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4; // a surrogate pair is one 4-byte code point
      i++;
    } else bytes += 3; // the rest of the BMP, and lone surrogates (encoded as U+FFFD)
  }
  return bytes;
}

// Characters JSON escapes (controls, quote, backslash) or UTF-8 widens (non-ASCII).
const NOT_PLAIN_ASCII = /[\u0000-\u001f"\\\u007f-\uffff]/;

const NOT_ASCII = /[\u0080-\uffff]/;

/**
 * Bytes a string takes as a JSON string in a frame, quotes included: exact. Cheap for ASCII, escapes or
 * not (JSON text inside JSON is common); only text beyond ASCII is counted character by character.
 */
export function jsonStringBytes(text: string): number {
  if (!NOT_PLAIN_ASCII.test(text)) return text.length + 2;
  const escaped = JSON.stringify(text);
  return NOT_ASCII.test(escaped) ? utf8Length(escaped) : escaped.length;
}

/**
 * Bytes a transaction's data counts against MAX_TRANSACTION_BYTES, the same way at both ends: UTF-8 bytes
 * of text, the length of bytes.
 */
export const dataBytes = (data: string | Uint8Array): number => (typeof data === "string" ? utf8Length(data) : data.byteLength);

/**
 * Bytes a transaction's data takes in a frame, exact: text as a JSON string (quotes included); bytes as
 * their raw section in a binary frame plus the length written in the JSON (see binary-frame.ts).
 */
export const wireDataBytes = (data: string | Uint8Array): number =>
  typeof data === "string" ? jsonStringBytes(data) : data.byteLength + String(data.byteLength).length;

type NodeBuffer = {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): Uint8Array & { toString(encoding: "base64url"): string };
  from(text: string, encoding: "base64url"): Uint8Array;
};

// Natively where the runtime has node:buffer (Node, and workerd with nodejs_compat): a relay encodes its
// group's 2 KiB digest sum again at every write, 15 µs in JavaScript and 0.4 natively (Node 22); a
// client's chain hash at every append and every own transaction it restores, 0.3 µs and 0.1.
const nodeBuffer = nodeBuiltin<{ Buffer: NodeBuffer }>("node:buffer")?.Buffer;

/** Texts shorter than this decode faster in JavaScript than natively with the check below (Node 22: even at 86 characters, a signature). */
const NATIVE_DECODE_MIN_CHARS = 256;

/** RFC 4648 base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  if (!nodeBuffer || !(bytes instanceof Uint8Array)) return plainToBase64Url(bytes);
  return nodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Decodes base64url without padding; returns undefined for anything else. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!nodeBuffer || typeof text !== "string" || text.length < NATIVE_DECODE_MIN_CHARS) return plainFromBase64Url(text);
  const decoded = nodeBuffer.from(text, "base64url");
  // Node's decoder skips what is not base64url, takes padding and ignores spare bits: the text is the one
  // encoding of its bytes only if they encode back to it.
  if (nodeBuffer.from(decoded.buffer, decoded.byteOffset, decoded.byteLength).toString("base64url") !== text) return undefined;
  return new Uint8Array(decoded); // a copy of its own, not a view into Node's shared pool
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace, numbers as JSON.stringify
 * writes them. Only finite numbers are allowed; `undefined` members are dropped like JSON.stringify does.
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("canonicalJson: non-finite number");
    return JSON.stringify(value);
  }
  // Like JSON.stringify, an array slot holding undefined is written as null.
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  const keys = Object.keys(value)
    .filter((key) => value[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(",")}}`;
}

export function randomBase64Url(byteCount: number): string {
  const bytes = new Uint8Array(byteCount);
  crypto.getRandomValues(bytes);
  return toBase64Url(bytes);
}
