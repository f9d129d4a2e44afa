// What the relay holds of this client's own session, checked against the own log. Another client of this
// agent can send the session's writes (a tab that took them in from the shared store: push.ts,
// takeOrphanTails), so the relay may hold own writes this client never pushed; and once this client has
// discarded refused writes and written again at their indexes (held-back.ts: discardRefused), it may hold
// the discarded ones there instead. The relay's log is the session's, as every other replica has it: what
// matches the own log counts as stored, what goes past it is taken in, and where they differ this client's
// writes move after the relay's, to be pushed again; except where the relay had acknowledged them before a
// restart (DocState.ownAckedBefore): there the store's copy was damaged on the disk, and the relay's
// replaces it. Pure functions of the document's state (doc-state.ts).
import { agentOfSession, countOf, firstDifference, type KnownState, type SessionChunk, type SessionId } from "../../protocol/index.ts";
import { appendHeld, baseOf, cutOwnLog, docTransaction, heldCount, knownOf, logOf, ownConfirmed, ownHashAt, ownStoredUpTo, type DocState, type DocTransaction, type Holder } from "./doc-state.ts";
import { joinStranded, type LostRun } from "./stranded.ts";

/**
 * Takes in content of the own session from the relay. Returns what is new to this client (`added`), and
 * `cutFrom` when the own log differed from there on: the relay's copy replaced it, the own writes from
 * `movedFrom` on moving after the relay's, and the local store's copy of the session is cut there and saved
 * again from it. `damagedFrom`: the own log differed from there on where the relay had acknowledged it
 * before a restart (the store's copy was damaged). `gap`: the content does not follow what is held.
 */
export function takeOwnContent(doc: DocState, own: SessionId, chunk: SessionChunk): { added: DocTransaction[]; cutFrom: number | undefined; damagedFrom: number | undefined; gap: boolean; lost: LostRun[] } {
  const base = baseOf(doc, own);
  const held = heldCount(doc, own);
  const end = chunk.after + chunk.transactions.length;
  if (chunk.after > held) return { added: [], cutFrom: undefined, damagedFrom: undefined, gap: true, lost: [] };
  const added: DocTransaction[] = [];
  if (end <= base) return { added, cutFrom: undefined, damagedFrom: undefined, gap: false, lost: [] }; // a snapshot held stands for it
  // Below `after` the relay's copy may differ from the own log where nothing vouches for it: the relay is
  // asked for its copy from where something does, and this waits (a gap loads the document again).
  const vouched = Math.max(doc.ownMatched, base);
  if (chunk.after > vouched) {
    check(doc, vouched, end);
    return { added, cutFrom: undefined, damagedFrom: undefined, gap: true, lost: [] };
  }
  const log = logOf(doc, own);
  const relayCopy = { from: chunk.after, transactions: chunk.transactions };
  const cutFrom = firstDifference({ from: base, transactions: log }, relayCopy);
  // Writes the relay acknowledged are stored as this client signed them: a copy here that differs was
  // changed on the disk, not written again after a discard. Pushed again, it would reach every replica
  // beside the relay's, which stays. The relay's copy replaces it; only own writes past the acknowledged ones
  // that differ from the relay's (or past its copy) move after it.
  const acked = doc.ownAckedBefore;
  const damagedFrom = cutFrom !== undefined && cutFrom < acked ? cutFrom : undefined;
  const movedFrom = damagedFrom === undefined ? cutFrom : (firstDifference({ from: acked, transactions: log.slice(acked - base) }, relayCopy) ?? Math.min(held, end));
  const moved = cutFrom === undefined ? [] : cutOwnLog(doc, own, cutFrom).slice(movedFrom! - cutFrom);
  for (let index = heldCount(doc, own); index < end; index++) {
    const transaction = chunk.transactions[index - chunk.after]!;
    appendHeld(doc, own, transaction);
    added.push(docTransaction(transaction, own, index));
  }
  // Writes the store kept past a hole the relay's copy just filled are older than the moved ones: they go first.
  const joined = joinStranded(doc, own, own);
  added.push(...joined.added);
  // Moved writes keep their times, never behind the relay's before them (a session's times do not go back).
  const floor = log.at(-1)?.at ?? 0;
  for (const transaction of moved) appendHeld(doc, own, transaction.at >= floor ? transaction : { ...transaction, at: floor });

  doc.relay.sessions[own] = Math.max(countOf(doc.relay, own), end);
  doc.ownMatched = Math.max(doc.ownMatched, end);
  if (movedFrom !== undefined) {
    doc.sent = end; // the moved writes go up again (a push of them in flight is answered with a correction)
    if (doc.refusal && doc.refusal.from >= movedFrom) doc.refusal = { ...doc.refusal, from: doc.refusal.from + end - movedFrom };
  } else doc.sent = Math.max(doc.sent, end);
  ownStoredUpTo(doc, own, end);
  const reused = doc.reused;
  if (reused && chunk.after <= reused.from) {
    reused.from = Math.max(reused.from, end);
    if (reused.from >= reused.until) doc.reused = undefined;
  }
  if (added.length > 0) doc.version++;
  return { added, cutFrom, damagedFrom, gap: false, lost: joined.lost };
}

/**
 * What the relay says it holds of the own session, as far as it can be taken as this client's writes stored
 * (DocState.reused): past a cut not compared yet, the count stays at the cut and the document is checked
 * (nothing more is pushed until a load asking from the cut is answered). A load asked so is taken as it is:
 * the relay sent what it holds past the cut before answering it. An ack ends the check: the relay took an
 * own push past the cut, so its chain there is this client's.
 */
export function checkOwnCount(doc: DocState, own: SessionId, relay: KnownState, reason: "load" | "ack" | "correction"): KnownState {
  const count = relay.sessions[own] ?? 0;
  // A correction naming more of the session than this client pushed from and than is vouched for: another
  // tab of its agent may have got other writes stored at those indexes (its tab discarded them). Compared first.
  const vouched = Math.max(doc.ownMatched, baseOf(doc, own));
  if (reason === "correction" && count > Math.max(vouched, countOf(doc.relay, own))) check(doc, vouched, count);
  // A load's answer naming more of the session than this client holds, when no content of it came before
  // (a snapshot stands for it, and may be verified after this answer): own writes nothing vouches for are not
  // taken for stored, but compared first (a store behind the relay's copy: snapshots.ts, storeBehind).
  if (reason === "load" && !doc.reused) {
    const held = heldCount(doc, own);
    const confirmed = ownConfirmed(doc, own);
    if (count > held && held > confirmed) check(doc, confirmed, count);
  }
  const reused = doc.reused;
  if (!reused) return relay;
  if (reason === "ack") {
    if (count > reused.from) doc.reused = undefined;
    return relay;
  }
  // The answer to the load asked from the cut: the relay sent its copy from there first, which took it in
  // (ownMatched). Another load's or an open's answer, sent before it was asked, names what that request
  // got, which was not compared: it waits, as any count past the cut does.
  if (reason === "load" && reused.asked && count <= Math.max(reused.from, doc.ownMatched)) {
    reused.asked = false;
    reused.checking = false;
    reused.from = Math.max(reused.from, count);
    if (reused.from >= reused.until) doc.reused = undefined;
    return relay;
  }
  if (count <= reused.from) return relay;
  reused.checking = true;
  return { header: relay.header, sessions: { ...relay.sessions, [own]: reused.from } };
}

/** The relay's copy of the own session from `from` on is to be compared before anything more is pushed. */
function check(doc: DocState, from: number, until: number): void {
  const reused = doc.reused;
  // A load already asked from as far back still answers it; one asked from further on does not.
  const asked = reused !== undefined && reused.asked && reused.from <= from;
  doc.reused = { from: Math.min(reused?.from ?? from, from), until: Math.max(reused?.until ?? until, until), checking: true, asked };
}

/**
 * What a load says this client holds: the own session only up to a cut not compared yet, and other sessions
 * of this agent only up to where the store contradicts them (DocState.askFrom), so the relay sends its copy.
 */
export function loadKnown(doc: DocState, own: SessionId): KnownState {
  const known = knownOf(doc);
  const asks: [SessionId, number][] = doc.reused ? [[own, doc.reused.from], ...doc.askFrom] : [...doc.askFrom];
  for (const [session, from] of asks) if ((known.sessions[session] ?? 0) > from) known.sessions[session] = from;
  return known;
}

/**
 * The relay refused a push of `session` (this client's, or another of its agent's: an orphan tail) as
 * signed over another chain than the one it holds: below what was pushed, the relay's copy of the session
 * differs from this client's (a client restarted on a store where its tab had discarded writes that another
 * tab then got stored, say). Rather than hold the writes back, the relay's copy of the session is asked for
 * and compared (takeOwnContent, applyContent), and what differs moves or goes; false when this was tried
 * since the last ack, and the refusal stands.
 */
export function recheckChain(doc: DocState, holder: Holder, session: SessionId): boolean {
  if (doc.chainRechecked || agentOfSession(session) !== holder.agent) return false;
  doc.chainRechecked = true;
  const from = baseOf(doc, session);
  if (session === holder.session) {
    doc.reused = { from, until: heldCount(doc, session), checking: true, asked: false };
    doc.ownMatched = from;
    doc.sent = countOf(doc.relay, session);
  } else doc.askFrom.set(session, from); // its tail waits for the answer (the push stays unanswered till then)
  return true;
}

/**
 * A load's answer names the chain hash of the relay's copy of the own session at its count (`head`). Where
 * this client holds that many own writes, its chain there either matches, and the relay's copy is the own
 * log up to there (ownMatched), or differs below it: a client restarted on a store where its tab had
 * discarded writes that another tab then got stored. The relay's copy is then asked for and compared, as
 * after a bad_signature (recheckChain), without waiting for a write to be refused first.
 */
export function checkOwnHead(doc: DocState, holder: Holder, count: number, head: string): void {
  const own = holder.session;
  const base = baseOf(doc, own);
  if (count <= base || count > base + doc.ownHashes.length) return; // a snapshot stands for it, or not held
  if (ownHashAt(doc, own, count) === head) doc.ownMatched = Math.max(doc.ownMatched, count);
  else recheckChain(doc, holder, own);
}
