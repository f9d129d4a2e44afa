// How a chunk's transactions travel: as two columns instead of one `{at, data}` object each.
//   data: ["…", 2048, "…"]          text as a string; bytes as their length, the bytes in a binary section
//                                   of the frame (binary-frame.ts)
//   at:   [1763780000000, 0, 3]      the first time in full, then each one's difference from the one before
// A writer appends in bursts, so most differences are a digit or two: about 5 bytes of envelope per
// transaction instead of 31. Both ends see `Transaction[]`; only the codec knows the columns.
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
