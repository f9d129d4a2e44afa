// How SqliteStore packs a session log into rows: many transactions per row, so a write and a load touch
// (and are billed for) a few rows instead of one per transaction. A transaction is one JSON array,
// `[at, data]`, or `[at, data, signature]` when a signed batch ends on it; a chunk's text is such arrays
// joined by commas. Appending to a chunk is SQL's `||`, and reading one is a single JSON.parse. Text data
// is a JSON string; bytes are `[base64url]` (or `{"hex": …}`, as SQLite's hex() packed BLOBs stored one
// per row by an earlier version), so each comes back as it went in.
import { CHUNK_ROW_CHARS, CHUNK_ROW_TRANSACTIONS, fromBase64Url, toBase64Url, type Transaction, type TransactionData } from "../protocol/index.ts";
import type { StoredTransaction } from "./core/store.ts";

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

/** The transactions of a chunk whose first index is `first`, from index `from` (inclusive) to `to` (exclusive). */
export function* decodeChunk(text: string, first: number, from: number, to: number): Iterable<StoredTransaction> {
  if (text === "") return;
  const items = JSON.parse(`[${text}]`) as Item[];
  const end = Math.min(items.length, to - first);
  for (let i = Math.max(0, from - first); i < end; i++) {
    const [at, data, signature] = items[i]!;
    yield signature === undefined ? { index: first + i, at, data: dataOf(data) } : { index: first + i, at, data: dataOf(data), signature };
  }
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
