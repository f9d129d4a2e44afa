// The list app of the snapshot tests with a shared store: each transaction adds an item (`{"add": name,
// "note": …}`), and the app's state, what it snapshots, is the JSON list of the item names it holds.
import type { Doc } from "../../client/index.ts";

/** One transaction's data: an item added, with a note that makes the log outweigh the state. */
export const addItem = (item: string): string => JSON.stringify({ add: item, note: "n".repeat(100) });

/** The list's state: every item held, from the snapshot the document starts from and the transactions after it. */
export function itemsOf(held: Doc): string[] {
  const fromSnapshot = held.heldSnapshot ? (JSON.parse(held.heldSnapshot.data as string) as string[]) : [];
  return [...fromSnapshot, ...held.transactions().map((transaction) => (JSON.parse(transaction.data as string) as { add: string }).add)];
}
