// Known state: what one side holds of a document, as a transaction count per session.
// Pure functions only; both the relay core and the SDK use them to send exactly what the other side lacks.
import type { SessionId } from "./ids.ts";

export type SessionCounts = Record<SessionId, number>;
export type KnownState = { header: boolean; sessions: SessionCounts };

/** A run of transactions of one session: indexes `from` (inclusive) to `to` (exclusive). */
export type Range = { session: SessionId; from: number; to: number };

export const emptyKnownState = (): KnownState => ({ header: false, sessions: {} });

export const countOf = (known: KnownState, session: SessionId): number => known.sessions[session] ?? 0;

/** The union of two known states: the larger count of every session. */
export function mergeKnownStates(a: KnownState, b: KnownState): KnownState {
  const sessions: SessionCounts = { ...a.sessions };
  for (const [session, count] of Object.entries(b.sessions) as [SessionId, number][]) {
    if (count > (sessions[session] ?? 0)) sessions[session] = count;
  }
  return { header: a.header || b.header, sessions };
}

/** True when `a` holds nothing that `b` lacks. */
export function isSubset(a: KnownState, b: KnownState): boolean {
  if (a.header && !b.header) return false;
  for (const [session, count] of Object.entries(a.sessions) as [SessionId, number][]) {
    if (count > (b.sessions[session] ?? 0)) return false;
  }
  return true;
}

export const knownStatesEqual = (a: KnownState, b: KnownState): boolean => isSubset(a, b) && isSubset(b, a);

/** What `have` lacks of `want`: whether it needs the header, and the missing ranges, sorted by session. */
export function missing(have: KnownState, want: KnownState): { header: boolean; ranges: Range[] } {
  const ranges: Range[] = [];
  for (const [session, count] of Object.entries(want.sessions) as [SessionId, number][]) {
    const held = have.sessions[session] ?? 0;
    if (count > held) ranges.push({ session, from: held, to: count });
  }
  ranges.sort((x, y) => (x.session < y.session ? -1 : x.session > y.session ? 1 : 0));
  return { header: want.header && !have.header, ranges };
}

/** Total number of transactions in a known state. */
export const transactionCount = (known: KnownState): number =>
  Object.values(known.sessions).reduce((sum, count) => sum + count, 0);
