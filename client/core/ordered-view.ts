// The ordered view of a document that Doc.transactions() returns: every transaction held, by time, then
// session, then index (the same order on every replica), kept from one version to the next.
import { baseOf, docTransaction, type DocState, type DocTransaction } from "./doc-state.ts";
import type { SessionId } from "../../protocol/index.ts";

/** The order every replica agrees on: by time, then session, then index. */
const inOrder = (a: DocTransaction, b: DocTransaction): number => a.at - b.at || (a.session < b.session ? -1 : a.session > b.session ? 1 : a.index - b.index);

/**
 * The ordered view of a document at one version, and how much of each session's log it holds: the next
 * version's view is this one with what was added since merged in, unless something was removed meanwhile.
 * Views share their transactions, and the next view is built from this one's list: both are frozen, so an
 * app cannot change them for the others (it copies before sorting or reversing; changing one throws).
 */
export type OrderedView = {
  readonly version: number;
  readonly rewrites: number;
  readonly held: ReadonlyMap<SessionId, number>;
  readonly transactions: readonly DocTransaction[];
};

/**
 * The ordered view (by time, then session, then index, the same order on every replica). Given the view of
 * an earlier version, only the transactions added since are made and sorted, then merged into it: a
 * document of n transactions that gains k costs O(n + k log k) (a copy of n references when the k come
 * after all the others, as new writes do) instead of making and sorting all n again.
 */
export function orderedView(doc: DocState, previous?: OrderedView, handOut: (transaction: DocTransaction) => DocTransaction = Object.freeze): OrderedView {
  if (previous?.version === doc.version && previous.rewrites === doc.rewrites) return previous;
  const growing = previous !== undefined && previous.rewrites === doc.rewrites && [...previous.held].every(([session, length]) => (doc.sessions.get(session)?.length ?? 0) >= length);
  const held = new Map<SessionId, number>();
  const added: DocTransaction[] = [];
  for (const [session, log] of doc.sessions) {
    const base = baseOf(doc, session);
    for (let i = growing ? (previous.held.get(session) ?? 0) : 0; i < log.length; i++) added.push(handOut(docTransaction(log[i]!, session, base + i)));
    held.set(session, log.length);
  }
  added.sort(inOrder);
  const transactions = growing ? mergeOrdered(previous.transactions, added) : added;
  return { version: doc.version, rewrites: doc.rewrites, held, transactions: Object.freeze(transactions) };
}

/** Two ordered lists as one; the first as it is when the second is empty. */
function mergeOrdered(held: readonly DocTransaction[], added: DocTransaction[]): readonly DocTransaction[] {
  if (added.length === 0) return held;
  if (held.length === 0 || inOrder(held[held.length - 1]!, added[0]!) < 0) return held.concat(added);
  const merged: DocTransaction[] = new Array(held.length + added.length);
  let i = 0;
  let j = 0;
  for (let k = 0; k < merged.length; k++) merged[k] = j >= added.length || (i < held.length && inOrder(held[i]!, added[j]!) < 0) ? held[i++]! : added[j++]!;
  return merged;
}

/** The ordered view, made afresh. */
export function orderedTransactions(doc: DocState): DocTransaction[] {
  return [...orderedView(doc).transactions];
}
