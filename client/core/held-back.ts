// What a refusal holds back of a document: the own writes the relay refused and those after them, and the
// tails of this agent's other sessions (orphan tails, pushed from here: push.ts) when their push was refused;
// and what discarding them forgets. Pure functions of the document's state (doc-state.ts).
import { agentOfSession, countOf, type SessionId } from "../../protocol/index.ts";
import type { RelayError } from "../errors.ts";
import { baseOf, cutOwnLog, docTransaction, hasUnsynced, heldCount, heldSlice, isOrphanSession, recountLastAt, type DocState, type DocTransaction, type Holder, type Refusal } from "./doc-state.ts";

/** Where a session's orphan tail starts: past what the relay holds of it, and never before what a snapshot stands for. */
const orphanTailFrom = (doc: DocState, session: SessionId): number => Math.max(countOf(doc.relay, session), baseOf(doc, session));

/** The relay refused own writes in flight: they, and what follows them, are held back. False if nothing changed. */
export function refuseWrites(doc: DocState, own: SessionId, error: RelayError): boolean {
  // A header the relay has not confirmed counts whoever created it: a document this agent may no longer
  // read is refused whole, and the tails of its other sessions are listed with it.
  const headerUnconfirmed = doc.header !== undefined && !doc.relay.header;
  if (doc.refusal || doc.deleted || !(hasUnsynced(doc, own) || headerUnconfirmed)) return false;
  // Not whole where the relay does not know a document another agent made (unknown_doc): the store's copy
  // may be the only one of it, its creator's to push, and discarding these writes must not take it away.
  const othersUnknown = error.code === "unknown_doc" && doc.header?.creator !== agentOfSession(own);
  doc.refusal = { error, from: countOf(doc.relay, own), wholeDocument: !doc.relay.header && !othersUnknown };
  doc.sent = doc.refusal.from;
  doc.headerInFlight = false;
  return true;
}

/**
 * The relay refused a document whose own writes were not in flight but an orphan tail was (push.ts:
 * takeOrphanTails): the tails of this agent's other sessions are held back. False if nothing changed.
 */
export function refuseOrphanTails(doc: DocState, error: RelayError): boolean {
  if (doc.orphanRefusal || doc.deleted) return false;
  if (![...doc.orphansSent].some(([session, sent]) => sent > countOf(doc.relay, session))) return false;
  doc.orphanRefusal = error;
  doc.orphansSent.clear();
  return true;
}

/** What the tails of this agent's other sessions hold past what the relay has: held back while orphanRefusal is set. */
export function orphanTailTransactions(doc: DocState, holder: Holder): DocTransaction[] {
  const tails: DocTransaction[] = [];
  for (const session of doc.sessions.keys()) {
    if (!isOrphanSession(session, holder)) continue;
    const from = orphanTailFrom(doc, session);
    heldSlice(doc, session, from, heldCount(doc, session)).forEach((transaction, offset) => tails.push(docTransaction(transaction, session, from + offset)));
  }
  return tails;
}

/**
 * Forgets, in this client only, the tails of this agent's other sessions held back by a refusal: the local
 * store keeps them (their session may have a live holder elsewhere), so the next client to load the group
 * pushes them again. The logs are replaced, not cut in place: a rewrite of the store under way keeps them.
 */
export function discardOrphanTails(doc: DocState, holder: Holder): void {
  doc.orphanRefusal = undefined;
  for (const [session, log] of doc.sessions) {
    if (!isOrphanSession(session, holder)) continue;
    const keep = orphanTailFrom(doc, session);
    if (keep >= heldCount(doc, session)) continue;
    doc.sessions.set(session, log.slice(0, keep - baseOf(doc, session)));
    doc.saved.set(session, Math.min(doc.saved.get(session) ?? 0, keep));
    doc.version++;
    doc.rewrites++;
  }
}

/** The own transactions held back, if any. */
function refusedTransactions(doc: DocState, own: SessionId): DocTransaction[] {
  const refusal = doc.refusal;
  if (!refusal) return [];
  return heldSlice(doc, own, refusal.from, heldCount(doc, own)).map((transaction, offset) => docTransaction(transaction, own, refusal.from + offset));
}

/**
 * What a refusal holds back of `doc`, if anything: the own writes refused (and those after them), with the
 * tails of this agent's other sessions (push.ts: takeOrphanTails), and why.
 */
export function heldBack(doc: DocState, holder: Holder): { error: Refusal["error"]; transactions: DocTransaction[]; wholeDocument: boolean } | undefined {
  const error = doc.refusal?.error ?? doc.orphanRefusal;
  if (!error) return undefined;
  const transactions = [...refusedTransactions(doc, holder.session), ...orphanTailTransactions(doc, holder)];
  return { error, transactions, wholeDocument: doc.refusal?.wholeDocument ?? false };
}

/**
 * Forgets the refused own writes (and those after them): the session goes on from what the relay holds.
 * Returns how many of the session's transactions are kept, for the local store to cut it there too.
 */
export function discardRefused(doc: DocState, own: SessionId): number | undefined {
  const refusal = doc.refusal;
  if (!refusal) return undefined;
  doc.refusal = undefined;
  // Never below what the relay holds of the session: those writes were stored (another tab sent them).
  const from = Math.max(refusal.from, countOf(doc.relay, own));
  // Another tab may have got the discarded writes stored meanwhile: own indexes past `from` are checked (own-content.ts).
  const held = heldCount(doc, own);
  if (held > from) doc.reused = { from: Math.min(doc.reused?.from ?? from, from), until: Math.max(doc.reused?.until ?? held, held), checking: false, asked: false };
  doc.ownMatched = Math.min(doc.ownMatched, from);
  doc.ownAckedBefore = Math.min(doc.ownAckedBefore, from); // what is written there next is not the store's copy
  cutOwnLog(doc, own, from);
  doc.stranded.delete(own); // what the store kept past a hole followed the writes discarded, as the store's cut says
  recountLastAt(doc);
  return from;
}
