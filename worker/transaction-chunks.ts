// How SqliteStore packs a session log into rows: many transactions per row, so a write and a load touch
// (and are billed for) a few rows instead of one per transaction. A transaction is one JSON array,
// `[at, data]`, or `[at, data, signature]` when a signed batch ends on it; a chunk's text is such arrays
// joined by commas. Appending to a chunk is SQL's `||`, and reading one is a scan of its text (readChunk)
// that hands each text on as the JSON literal stored, to go in frames as it is. Text data is a JSON
// string; bytes are `[base64url]` (or `{"hex": …}`, as SQLite's hex() packed BLOBs stored one per row by
// an earlier version), so each comes back as it went in.
import { CHUNK_ROW_CHARS, CHUNK_ROW_TRANSACTIONS, encodedDataBytes, fromBase64Url, toBase64Url, toWireData, type Transaction, type TransactionData, type WireData } from "../protocol/index.ts";
import type { TransactionRun } from "./core/store.ts";

type StoredData = string | [base64url: string] | { hex: string };
type Item = [at: number, data: StoredData, signature?: string];

const storedData = (data: TransactionData): StoredData => (typeof data === "string" ? data : [toBase64Url(data)]);

function dataOf(stored: StoredData): TransactionData {
  if (typeof stored === "string") return stored;
  if (Array.isArray(stored)) return fromBase64Url(stored[0]) ?? new Uint8Array();
  const bytes = new Uint8Array(stored.hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(stored.hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** The text of one transaction in a chunk. */
export function encodeItem(transaction: Transaction, signature: string | undefined): string {
  const data = storedData(transaction.data);
  return JSON.stringify(signature === undefined ? [transaction.at, data] : [transaction.at, data, signature]);
}

const QUOTE = 34;
const COMMA = 44;
const OPEN = 91;
const CLOSE = 93;
const ZERO = 48;
const NINE = 57;
// A JSON string literal, read with one native scan (sticky: it must start where lastIndex is). The first
// allows only ASCII, whose UTF-8 length is its length; the second any text. Unrolled (`[^"\\]*` runs
// between escapes), so a literal of any length takes no backtracking per character.
const ASCII_LITERAL = /"[^"\\\u0080-\uffff]*(?:\\[^][^"\\\u0080-\uffff]*)*"/y;
const LITERAL = /"[^"\\]*(?:\\[^][^"\\]*)*"/y;

/**
 * The end (past the closing quote) of the literal at `start` and whether it is ASCII, or undefined. Once a
 * chunk has text beyond ASCII (`mayBeAscii` false), its literals are read by the second expression alone:
 * the first, failing on such text after a scan of it, cost five times the read itself.
 */
function literalAt(text: string, start: number, mayBeAscii: boolean): { end: number; ascii: boolean } | undefined {
  ASCII_LITERAL.lastIndex = start;
  if (mayBeAscii && ASCII_LITERAL.test(text)) return { end: ASCII_LITERAL.lastIndex, ascii: true };
  LITERAL.lastIndex = start;
  return LITERAL.test(text) ? { end: LITERAL.lastIndex, ascii: false } : undefined;
}

/**
 * The transactions of a chunk whose first index is `first`, from index `from` (inclusive) to `to`
 * (exclusive) and at most `limit` of them, in wire form: text data as the JSON literal stored in the chunk
 * (a slice of its text: nothing is parsed or escaped again), bytes decoded. The chunk is scanned rather than
 * parsed; anything but the forms encodeItem writes (say, rows an earlier version packed inside SQLite) is
 * read with JSON.parse instead, to the same result.
 */
export function readChunk(text: string, first: number, from: number, to: number, limit = Infinity): TransactionRun {
  const run: TransactionRun = { first: Math.max(first, from), at: [], data: [], bytes: [], signatures: [] };
  if (text === "") return run;
  const end = Math.min(to, run.first + limit);
  let position = 0;
  let mayBeAscii = true;
  for (let index = first; index < end && position < text.length; index++) {
    // An item: `[at,"text"]` or `[at,["base64url"]]`, then `,"signature"` if one ends on it, then `]`.
    if (text.charCodeAt(position) !== OPEN) return parsedChunk(text, first, from, end);
    let cursor = position + 1;
    let at = 0;
    let code = text.charCodeAt(cursor);
    if (code < ZERO || code > NINE) return parsedChunk(text, first, from, end);
    for (; code >= ZERO && code <= NINE; code = text.charCodeAt(++cursor)) at = at * 10 + (code - ZERO);
    if (code !== COMMA || !Number.isSafeInteger(at)) return parsedChunk(text, first, from, end);
    const start = ++cursor;
    let data: WireData | undefined;
    code = text.charCodeAt(start);
    let ascii = false;
    if (code === QUOTE) {
      const literal = literalAt(text, start, mayBeAscii);
      if (!literal) return parsedChunk(text, first, from, end);
      cursor = literal.end;
      ascii = literal.ascii;
      mayBeAscii &&= ascii;
      if (index >= from) data = text.slice(start, cursor);
    } else if (code === OPEN && text.charCodeAt(start + 1) === QUOTE) {
      const close = text.indexOf('"', start + 2);
      if (close < 0 || text.charCodeAt(close + 1) !== CLOSE) return parsedChunk(text, first, from, end);
      // Bytes are decoded only for what is returned: a read from the middle of a chunk of binary updates
      // (a resume of a Yjs document) skips the rest as text.
      if (index >= from) {
        const bytes = fromBase64Url(text.slice(start + 2, close));
        if (!bytes) return parsedChunk(text, first, from, end);
        data = bytes;
      }
      cursor = close + 2;
    } else return parsedChunk(text, first, from, end);
    let signature: string | undefined;
    if (text.charCodeAt(cursor) === COMMA) {
      const close = text.indexOf('"', cursor + 2);
      if (text.charCodeAt(cursor + 1) !== QUOTE || close < 0) return parsedChunk(text, first, from, end);
      signature = text.slice(cursor + 2, close);
      if (signature.includes("\\")) return parsedChunk(text, first, from, end);
      cursor = close + 1;
    }
    if (text.charCodeAt(cursor) !== CLOSE || (cursor + 1 < text.length && text.charCodeAt(cursor + 1) !== COMMA)) return parsedChunk(text, first, from, end);
    position = cursor + 2; // past `]` and the comma before the next item
    if (index < from) continue;
    run.at.push(at);
    run.data.push(data!);
    run.bytes.push(typeof data === "string" && ascii ? data.length : encodedDataBytes(data!));
    if (signature !== undefined) run.signatures[run.at.length - 1] = signature;
  }
  return run;
}

/** What readChunk returns, by JSON.parse: for chunks in any other form. */
function parsedChunk(text: string, first: number, from: number, end: number): TransactionRun {
  const run: TransactionRun = { first: Math.max(first, from), at: [], data: [], bytes: [], signatures: [] };
  const items = JSON.parse(`[${text}]`) as Item[];
  for (let i = Math.max(0, from - first); i < Math.min(items.length, end - first); i++) {
    const [at, stored, signature] = items[i]!;
    const data = dataOf(stored);
    const wire = toWireData(data);
    run.at.push(at);
    run.data.push(wire);
    run.bytes.push(encodedDataBytes(wire));
    if (signature !== undefined) run.signatures[run.at.length - 1] = signature;
  }
  return run;
}
/** Where a session's chunks end: the open chunk (its tail) and what it holds. */
export type Tail = { first: number; count: number; chars: number };

/** Whether `items` (of `chars` characters) still fit in the open chunk described by `tail`. */
export const fitsTail = (tail: Tail, items: number, chars: number): boolean =>
  tail.count + items <= CHUNK_ROW_TRANSACTIONS && tail.chars + chars + items <= CHUNK_ROW_CHARS;

/**
 * Packs encoded items that start at index `first` into chunks of at most CHUNK_ROW_TRANSACTIONS items and
 * about CHUNK_ROW_CHARS characters (a chunk is closed once it reaches that, so it holds at most one
 * transaction more). Returns the closed chunks and the last, still open one.
 */
export function packChunks(items: readonly string[], first: number): { closed: { first: number; text: string }[]; open: { first: number; text: string; count: number } } {
  const closed: { first: number; text: string }[] = [];
  let start = 0;
  let chars = 0;
  for (let i = 0; i < items.length; i++) {
    chars += items[i]!.length + 1;
    const count = i - start + 1;
    if ((count >= CHUNK_ROW_TRANSACTIONS || chars >= CHUNK_ROW_CHARS) && i < items.length - 1) {
      closed.push({ first: first + start, text: items.slice(start, i + 1).join(",") });
      start = i + 1;
      chars = 0;
    }
  }
  return { closed, open: { first: first + start, text: items.slice(start).join(","), count: items.length - start } };
}

/** Where an append's transactions go: the chunks it closes, and the open chunk (`tail`) after it. */
export type AppendPlan = {
  /** The open chunk before it is full and moves, as it is, into the closed chunks. */
  sealsTail: boolean;
  /** New closed chunks of the append's own transactions. */
  closed: { first: number; text: string }[];
  /** The append's transactions that go in the open chunk: appended to it, or starting it. */
  open: { first: number; text: string; count: number };
  tail: Tail;
};

/**
 * Plans an append of encoded `items` after index `after` to a session whose open chunk is `tail`: onto it if
 * they fit, else it is closed as it is and the items start chunks of their own (packChunks).
 */
export function planAppend(tail: Tail, after: number, items: readonly string[]): AppendPlan {
  const text = items.join(",");
  const chars = text.length - Math.max(0, items.length - 1);
  if (fitsTail(tail, items.length, chars)) {
    const grown = tail.count > 0 ? tail.chars + 1 + text.length : text.length;
    return { sealsTail: false, closed: [], open: { first: tail.first, text, count: items.length }, tail: { first: tail.first, count: tail.count + items.length, chars: grown } };
  }
  const { closed, open } = packChunks(items, after);
  return { sealsTail: tail.count > 0, closed, open, tail: { first: open.first, count: open.count, chars: open.text.length } };
}
