// How a chunk's transactions travel: as two columns instead of one `{at, data}` object each.
//   data: ["…", 2048, "…"]          text as a string; bytes as their length, the bytes in a binary section
//                                   of the frame (binary-frame.ts)
//   at:   [1763780000000, 0, 3]      the first time in full, then each one's difference from the one before
// A writer appends in bursts, so most differences are a digit or two: about 5 bytes of envelope per
// transaction instead of 31. Both ends see `Transaction[]`; only the codec knows the columns.
import { utf8Length } from "./encoding.ts";
import type { Transaction } from "./session-log.ts";

export type TransactionColumns = { at: number[]; data: (string | number)[] };

/** Bytes of envelope one transaction adds on the wire, at most: a 16-digit signed difference, 2 commas, 2 quotes. */
export const WIRE_BYTES_PER_TRANSACTION = 21;

/** The columns of some transactions; the bytes of each transaction of bytes are pushed onto `sections`. */
export function toColumns(transactions: readonly Transaction[], sections: Uint8Array[]): TransactionColumns {
  const at = new Array<number>(transactions.length);
  const data = new Array<string | number>(transactions.length);
  let previous = 0;
  for (let i = 0; i < transactions.length; i++) {
    const transaction = transactions[i]!;
    at[i] = transaction.at - previous;
    const value = transaction.data;
    if (typeof value === "string") data[i] = value;
    else {
      data[i] = value.byteLength;
      sections.push(value);
    }
    previous = transaction.at;
  }
  return { at, data };
}

/**
 * The transactions two columns describe, or undefined if they are not two lists of the same length of
 * integer differences whose running sum stays a non-negative safe integer, and data: strings, or bytes
 * (already put in place of their lengths by attachSections).
 */
export function fromColumns(at: unknown, data: unknown): Transaction[] | undefined {
  if (!Array.isArray(at) || !Array.isArray(data) || at.length !== data.length) return undefined;
  const transactions = new Array<Transaction>(data.length);
  let time = 0;
  for (let i = 0; i < data.length; i++) {
    const difference: unknown = at[i];
    const value: unknown = data[i];
    if (!(typeof value === "string" || value instanceof Uint8Array) || typeof difference !== "number" || !Number.isSafeInteger(difference)) return undefined;
    time += difference;
    if (time < 0 || !Number.isSafeInteger(time)) return undefined;
    transactions[i] = { at: time, data: value };
  }
  return transactions;
}

/**
 * A transaction's data as it goes in a `data` column, already encoded: text as its JSON string literal
 * (quotes and escapes included, exactly the text that goes in the frame), bytes as they are. The relay
 * reads text from storage in this form and puts it in frames as it is, without parsing or re-escaping it.
 */
export type WireData = string | Uint8Array;

/** Bytes encoded data takes in a frame, exact: a literal's UTF-8 bytes, or bytes plus their length written in the JSON. */
export const encodedDataBytes = (data: WireData): number =>
  typeof data === "string" ? utf8Length(data) : data.byteLength + String(data.byteLength).length;

/** Columns whose text data are JSON literals (WireData); `at` holds the times in full. */
export type EncodedColumns = { at: number[]; data: WireData[] };

const encodedColumns = new WeakMap<object, EncodedColumns>();

/** The encoded columns a chunk was made from (encodedChunk), if it was. */
export const encodedColumnsOf = (chunk: object): EncodedColumns | undefined => encodedColumns.get(chunk);

/** A transaction's data in wire form: text as its JSON literal, bytes as they are. */
export const toWireData = (data: string | Uint8Array): WireData => (typeof data === "string" ? JSON.stringify(data) : data);

/** A transaction's data from its wire form: a literal parsed back to its text, bytes as they are. */
export const fromWireData = (data: WireData): string | Uint8Array => (typeof data === "string" ? (JSON.parse(data) as string) : data);

/**
 * A chunk (`{after, transactions, signature?}`) made from encoded columns, which the codec writes into a
 * frame as they are. Its `transactions` are the columns decoded, when first read.
 */
export function encodedChunk(after: number, columns: EncodedColumns, signature: string | undefined): { after: number; transactions: Transaction[]; signature?: string } {
  let decoded: Transaction[] | undefined;
  const chunk = { after } as { after: number; transactions: Transaction[]; signature?: string };
  Object.defineProperty(chunk, "transactions", {
    enumerable: true,
    configurable: true,
    get: () => (decoded ??= columns.at.map((at, i) => ({ at, data: fromWireData(columns.data[i]!) }))),
  });
  if (signature !== undefined) chunk.signature = signature;
  encodedColumns.set(chunk, columns);
  return chunk;
}

/**
 * The JSON of a chunk made by encodedChunk, exactly as the codec writes any chunk
 * (`{"after":…,"signature":…,"at":[…],"data":[…]}`), pushing the bytes of its transactions of bytes onto
 * `sections`.
 */
export function encodedChunkJson(after: number, signature: string | undefined, columns: EncodedColumns, sections: Uint8Array[]): string {
  const { at, data } = columns;
  const differences = new Array<number>(at.length);
  const entries = new Array<string | number>(data.length);
  let previous = 0;
  for (let i = 0; i < at.length; i++) {
    differences[i] = at[i]! - previous;
    previous = at[i]!;
    const value = data[i]!;
    if (typeof value === "string") entries[i] = value;
    else {
      entries[i] = value.byteLength;
      sections.push(value);
    }
  }
  const signed = signature === undefined ? "" : `,"signature":${JSON.stringify(signature)}`;
  return `{"after":${after}${signed},"at":[${differences.join(",")}],"data":[${entries.join(",")}]}`;
}
