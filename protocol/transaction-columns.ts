// How a chunk's transactions travel: as two columns instead of one `{at, data}` object each.
//   data: ["…", "…", "…"]
//   at:   [1763780000000, 0, 3]      the first time in full, then each one's difference from the one before
// A writer appends in bursts, so most differences are a digit or two: about 5 bytes of envelope per
// transaction instead of 31. Both ends see `Transaction[]`; only the codec knows the columns.
import type { Transaction } from "./session-log.ts";

export type TransactionColumns = { at: number[]; data: string[] };

/** Bytes of envelope one transaction adds on the wire, at most: a 16-digit signed difference, 2 commas, 2 quotes. */
export const WIRE_BYTES_PER_TRANSACTION = 21;

export function toColumns(transactions: readonly Transaction[]): TransactionColumns {
  const at = new Array<number>(transactions.length);
  const data = new Array<string>(transactions.length);
  let previous = 0;
  for (let i = 0; i < transactions.length; i++) {
    const transaction = transactions[i]!;
    at[i] = transaction.at - previous;
    data[i] = transaction.data;
    previous = transaction.at;
  }
  return { at, data };
}

/**
 * The transactions two columns describe, or undefined if they are not two lists of the same length of
 * integer differences and strings whose running sum stays a non-negative safe integer.
 */
export function fromColumns(at: unknown, data: unknown): Transaction[] | undefined {
  if (!Array.isArray(at) || !Array.isArray(data) || at.length !== data.length) return undefined;
  const transactions = new Array<Transaction>(data.length);
  let time = 0;
  for (let i = 0; i < data.length; i++) {
    const difference: unknown = at[i];
    const text: unknown = data[i];
    if (typeof text !== "string" || typeof difference !== "number" || !Number.isSafeInteger(difference)) return undefined;
    time += difference;
    if (time < 0 || !Number.isSafeInteger(time)) return undefined;
    transactions[i] = { at: time, data: text };
  }
  return transactions;
}
