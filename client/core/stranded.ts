// Writes the local store kept past a hole in a session's log (a save between them damaged on the disk), of
// this agent's sessions: they wait aside until the relay's copy fills the hole, then join the log, and the
// unsent writes among them go up as any others do. Where the relay does not hold what the hole held (writes
// it never got were lost with the save), they cannot join, and are told lost. Pure functions of the
// document's state (doc-state.ts).
import { countOf, firstDifference, type KnownState, type SessionId } from "../../protocol/index.ts";
import type { StrandedRun } from "../storage/local-store.ts";
import { appendHeld, baseOf, docTransaction, heldCount, logOf, seenAt, type DocState, type DocTransaction } from "./doc-state.ts";

/** A session's writes that could not join its log: from `first` to `last`, counted from the session's start. */
export type LostRun = { session: SessionId; first: number; last: number };

/**
 * Joins to `session`'s log the runs kept aside that it now reaches. Returns what joined (new to this client's
 * view), and the runs that contradict the log where they overlap: the relay's copy is the session's, so
 * they are lost.
 */
export function joinStranded(doc: DocState, own: SessionId, session: SessionId): { added: DocTransaction[]; lost: LostRun[] } {
  const runs = doc.stranded.get(session);
  const added: DocTransaction[] = [];
  const lost: LostRun[] = [];
  while (runs && runs.length > 0 && runs[0]!.after <= heldCount(doc, session)) {
    const run = runs.shift()!;
    const held = heldCount(doc, session);
    if (firstDifference({ from: baseOf(doc, session), transactions: logOf(doc, session) }, { from: run.after, transactions: run.transactions }) !== undefined) {
      lost.push(lostOf(session, run));
      continue;
    }
    for (let index = held; index < run.after + run.transactions.length; index++) {
      const transaction = run.transactions[index - run.after]!;
      if (session === own) appendHeld(doc, own, transaction);
      else {
        logOf(doc, session).push(transaction);
        seenAt(doc, own, session, transaction.at);
      }
      added.push(docTransaction(transaction, session, index));
    }
  }
  if (runs?.length === 0) doc.stranded.delete(session);
  if (added.length > 0) doc.version++;
  return { added, lost };
}

/**
 * The relay answered a load with what it holds (`relay`): a run kept aside past more than that can never be
 * joined (the hole held writes it never got). Those are forgotten and returned; the rest wait for its copy.
 */
export function unjoinable(doc: DocState, relay: KnownState): LostRun[] {
  const lost: LostRun[] = [];
  for (const [session, runs] of doc.stranded) {
    const count = countOf(relay, session);
    for (const run of runs.filter((each) => each.after > count)) lost.push(lostOf(session, run));
    const kept = runs.filter((each) => each.after <= count);
    if (kept.length > 0) doc.stranded.set(session, kept);
    else doc.stranded.delete(session);
  }
  return lost;
}

const lostOf = (session: SessionId, run: StrandedRun): LostRun => ({ session, first: run.after, last: run.after + run.transactions.length - 1 });
