// What a document takes in of other sessions: transactions the relay sends, and what another client of
// this agent saved into the shared store (a tab that closed with writes unsent, or cut its session when it
// discarded refused writes). Where a copy of another session of this agent disagrees with what is held, the
// relay's copy is the session's, and past what the relay counted, the store's (its own tab's). The own
// session's content is compared in own-content.ts. Pure functions of the document's state (doc-state.ts).
import { agentOfSession, countOf, firstDifference, type ServerContent, type SessionId, type Transaction } from "../../protocol/index.ts";
import type { StoredDoc } from "../storage/local-store.ts";
import { baseOf, docTransaction, heldCount, isOrphanSession, logOf, ownStoredUpTo, seenAt, type DocState, type DocTransaction, type Holder } from "./doc-state.ts";

/**
 * Applies transactions of other sessions from the relay (the own session's are compared with the own log:
 * own-content.ts). `gap` is true when some do not follow what is held (the document is then loaded again);
 * `added` lists what is new, in arrival order.
 */
export function applyContent(doc: DocState, own: SessionId, content: ServerContent): { added: DocTransaction[]; removed: DocTransaction[]; gap: boolean } {
  if (content.header && !doc.header) doc.header = content.header;
  const added: DocTransaction[] = [];
  const removed: DocTransaction[] = [];
  let gap = false;
  for (const [session, chunk] of Object.entries(content.sessions) as [SessionId, ServerContent["sessions"][SessionId]][]) {
    if (session === own) continue; // compared with the own log instead (own-content.ts)
    const log = logOf(doc, session);
    let held = heldCount(doc, session);
    if (chunk.after > held) {
      gap = true;
      continue;
    }
    // Another session of this agent, held from the shared store, may hold writes its tab discarded where
    // the relay holds others (own-content.ts): the relay's are the session's.
    if (chunk.after < held && agentOfSession(session) === agentOfSession(own)) {
      const differs = differsFromHeld(doc, session, chunk.after, chunk.transactions);
      if (differs !== undefined) removed.push(...dropFrom(doc, session, (held = differs)));
    }
    for (let i = held - chunk.after; i < chunk.transactions.length; i++) {
      const transaction = chunk.transactions[i]!;
      log.push(transaction);
      seenAt(doc, own, session, transaction.at);
      added.push(docTransaction(transaction, session, chunk.after + i));
    }
    const count = chunk.after + chunk.transactions.length;
    doc.relay.sessions[session] = Math.max(countOf(doc.relay, session), count);
    if (chunk.signature) doc.chains.heard(session, count, chunk.signature);
  }
  if (content.header && !doc.relay.header) {
    doc.relay.header = true;
    ownStoredUpTo(doc, own, countOf(doc.relay, own));
  }
  if (added.length > 0 || content.header) doc.version++;
  return { added, removed, gap };
}

/** Where a copy of `session` (its transactions from `from` on) first differs from what is held of it, if anywhere. */
const differsFromHeld = (doc: DocState, session: SessionId, from: number, transactions: readonly Transaction[]): number | undefined =>
  firstDifference({ from: baseOf(doc, session), transactions: doc.sessions.get(session) ?? [] }, { from, transactions });

/** Forgets the held transactions of another session from `index` on (a copy that differs replaces them). */
function dropFrom(doc: DocState, session: SessionId, index: number): DocTransaction[] {
  const base = baseOf(doc, session);
  const dropped = logOf(doc, session).splice(index - base);
  doc.conflicted.add(session);
  doc.version++;
  doc.rewrites++;
  return dropped.map((transaction, offset) => docTransaction(transaction, session, index + offset));
}

/**
 * Takes in what another client of this agent saved into `stored` past what this one holds of its sessions
 * (a tab that closed with writes unsent): held and saved as they are, so they are pushed like any orphan
 * tail (push.ts: takeOrphanTails). Returns what was added, and what held writes the stored copy no longer
 * has (its tab discarded them) or has others in place of, past what the relay counted.
 */
export function adoptTails(doc: DocState, holder: Holder, stored: StoredDoc): { added: DocTransaction[]; removed: DocTransaction[] } {
  const added: DocTransaction[] = [];
  const removed: DocTransaction[] = [];
  for (const session of new Set([...doc.sessions.keys(), ...(Object.keys(stored.sessions) as SessionId[])])) {
    if (!isOrphanSession(session, holder)) continue;
    const transactions = stored.sessions[session] ?? [];
    const storedBase = stored.snapshot?.bases[session] ?? 0;
    const storedEnd = storedBase + transactions.length;
    let held = heldCount(doc, session);
    // Where the store contradicts what is held, or lacks what was saved into it, its tab discarded writes
    // (and maybe wrote again over them: held-back.ts, discardRefused). Past what the relay counted, that tab
    // has the say: what it stored replaces them. Where the relay counted them, the relay's copy settles it:
    // the next load asks for it. (What this client holds and has not saved yet is no contradiction.)
    const savedHere = Math.min(held, doc.saved.get(session) ?? 0);
    const differs = differsFromHeld(doc, session, storedBase, transactions) ?? (storedEnd < savedHere ? Math.max(storedEnd, baseOf(doc, session)) : undefined);
    if (differs !== undefined && differs < held) {
      if (differs >= countOf(doc.relay, session)) removed.push(...dropFrom(doc, session, (held = differs)));
      else {
        doc.askFrom.set(session, Math.min(doc.askFrom.get(session) ?? differs, differs));
        doc.conflicted.add(session);
        continue; // the stored copy goes on from another chain: none of it is taken in
      }
    }
    if (storedBase > held || storedEnd <= held) continue;
    const log = logOf(doc, session);
    for (let index = held; index < storedEnd; index++) {
      const transaction = transactions[index - storedBase]!;
      log.push(transaction);
      seenAt(doc, holder.session, session, transaction.at);
      added.push(docTransaction(transaction, session, index));
    }
    doc.saved.set(session, heldCount(doc, session));
    doc.chains.trust(session, heldCount(doc, session));
  }
  if (added.length > 0) doc.version++;
  return { added, removed };
}
