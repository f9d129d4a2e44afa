// What the relay says, as the client core takes it: known states and content of documents, `opened`,
// deletions, directory frames, and errors, routed to what they answer (error-routing.ts), with refusals
// held back and surfaced once. Part of the pure core (client-core.ts).
import { countOf, type DocId, type ErrorMessage, type SessionId } from "../../protocol/index.ts";
import { answersSnapshot, routeError } from "../error-routing.ts";
import { LocalStoreError, RelayError } from "../errors.ts";
import { headerIsFor, writeRefusal } from "../local-checks.ts";
import { frameRefused } from "../quarantine.ts";
import { directoryFrame } from "./directory-queue.ts";
import { applyKnown, baseOf, hasUnsynced, heldCount, isInFlight, markDeleted, relayLost, type DocState } from "./doc-state.ts";
import { discardOrphanTails, discardRefused, heldBack, orphanTailTransactions, refuseOrphanTails, refuseWrites } from "./held-back.ts";
import { assertNever, type CoreEffect, type CoreEvent, type CoreState } from "./effects.ts";
import { checkOwnCount, checkOwnHead, recheckChain, takeOwnContent } from "./own-content.ts";
import { applyContent } from "./received.ts";
import { joinStranded, unjoinable, type LostRun } from "./stranded.ts";
import { failSnapshots, onSnapshotted, takeAnswered } from "./snapshots.ts";
import { answered, forget, heardOf, send, sendLoad } from "./tracking.ts";

export function onMessage(state: CoreState, message: Extract<CoreEvent, { type: "message" }>["message"], out: CoreEffect[]): void {
  const own = state.writer.session;
  switch (message.type) {
    case "known": {
      const doc = heardOf(state, message.doc);
      if (!doc) return;
      const wasUnsynced = hasUnsynced(doc, own);
      const answersLoad = message.reason === "load" && state.unanswered.has(doc.id);
      if (message.head !== undefined && message.reason === "load") checkOwnHead(doc, state.writer, message.sessions[own] ?? 0, message.head);
      const relay = checkOwnCount(doc, own, { header: message.header, sessions: message.sessions }, message.reason);
      const { firstLoad } = applyKnown(doc, own, relay, message.reason);
      // The relay sent what it holds before answering a load: what the store kept past more than that is lost.
      if (message.reason === "load" && doc.stranded.size > 0) reportLost(doc, unjoinable(doc, message), out);
      checkBehindSnapshot(doc, own, out);
      if (wasUnsynced && !hasUnsynced(doc, own)) out.push({ type: "settle", waiter: `synced:${doc.id}` });
      if (doc.reused?.checking && !doc.reused.asked) sendLoad(state, doc, out);
      if (firstLoad) settleOpen(state, doc, out);
      if (answersLoad) answered(state, doc.id, out);
      if (state.docs.get(doc.id) === doc) out.push({ type: "flush", doc: doc.id });
      return;
    }
    case "content": {
      // A header must be the one the id names, in this group: anything else is dropped, not adopted.
      if (message.header && !headerIsFor(message.header, message.doc, state.group)) {
        return void out.push({ type: "report", error: new RelayError({ code: "bad_header", message: "a received header does not hash to its document id: ignored", doc: message.doc }) });
      }
      const heardFirst = !state.docs.has(message.doc);
      const doc = heardOf(state, message.doc);
      if (!doc) return;
      const wasUnsynced = hasUnsynced(doc, own);
      // Own writes another tab of this agent got stored first count as stored, or are taken in (own-content.ts).
      const ownChunk = message.sessions[own];
      const ownTaken = ownChunk ? takeOwnContent(doc, own, ownChunk) : undefined;
      if (ownTaken?.cutFrom !== undefined) out.push({ type: "cutLocal", doc: doc.id, session: own, keep: ownTaken.cutFrom, report: true });
      if (ownTaken?.damagedFrom !== undefined) out.push({ type: "report", error: damagedCopyError(doc.id, ownTaken.damagedFrom) });
      const others = applyContent(doc, own, message);
      const added = ownTaken ? [...ownTaken.added, ...others.added] : others.added;
      reportLost(doc, ownTaken?.lost ?? [], out);
      for (const session of Object.keys(message.sessions) as SessionId[]) {
        if (session === own || !doc.stranded.has(session)) continue;
        const joined = joinStranded(doc, own, session);
        added.push(...joined.added);
        reportLost(doc, joined.lost, out);
      }
      const gap = others.gap || (ownTaken?.gap ?? false);
      if (wasUnsynced && !hasUnsynced(doc, own)) out.push({ type: "settle", waiter: `synced:${doc.id}` });
      if (heardFirst) {
        // A document first heard of through its content (created since the group was opened, fanned out
        // live): that content, header first, is its load; without a header, it is loaded like any other.
        if (doc.header) {
          doc.loaded = true;
          answered(state, doc.id, out);
        } else sendLoad(state, doc, out);
      }
      if (added.length > 0 || others.removed.length > 0 || message.header) out.push({ type: "changed", doc: doc.id, added, ...(others.removed.length > 0 ? { removed: others.removed } : {}) });
      // A gap loads the document again, unless it follows a forged snapshot (the relay would send it again).
      if (gap && !doc.distrustsSnapshot) sendLoad(state, doc, out);
      out.push({ type: "flush", doc: doc.id });
      return;
    }
    case "opened":
      // The open answered every document it named: those the relay lacks (created offline, or lost by the
      // relay) with a `known` holding nothing, so their headers and writes go up again. It passes over in
      // silence those this agent may no longer read (held from an earlier role): their loads are refused,
      // which answers them, so the group can go live; and own writes of them still unsent are pushed, to be
      // refused and surfaced rather than left waiting for an answer that never comes.
      for (const id of state.unanswered) {
        const doc = state.docs.get(id);
        if (doc?.header && !state.requested.has(id)) sendLoad(state, doc, out);
      }
      for (const doc of state.docs.values()) if (!doc.deleted && hasUnsynced(doc, own)) out.push({ type: "flush", doc: doc.id });
      state.whole.awaiting = false;
      out.push({ type: "settle", waiter: "openAll" });
      return;
    case "deleted": {
      // Own writes the relay never stored are lost with the document: refused, as when a push of them
      // meets the deletion (doc_deleted), so synced() rejects instead of resolving.
      const doc = state.docs.get(message.doc);
      if (doc && hasUnsynced(doc, own)) refuse(state, doc, deletedError(message.doc), out);
      return onDeleted(state, message.doc, out);
    }
    case "dir": {
      const { queue, done } = directoryFrame(state.directory, message);
      state.directory = queue;
      if (done) out.push({ type: "answer", waiter: `dir:${done.id}`, directory: done.directory });
      return;
    }
    case "error":
      return onRelayError(state, message, out);
    case "snapshotted":
      return onSnapshotted(state, message, out);
    default:
      return assertNever(message);
  }
}

export function onDeleted(state: CoreState, id: DocId, out: CoreEffect[]): void {
  const doc = state.docs.get(id);
  // A tombstone was told when it was marked: a push or delete that crossed the deletion tells nothing new.
  const told = doc?.deleted ?? false;
  if (doc && !told) {
    markDeleted(doc);
    failSnapshots(doc, deletedError(id), out);
    out.push({ type: "settle", waiter: `synced:${id}` });
    settleOpen(state, doc, out);
    out.push({ type: "changed", doc: id, added: [] });
    answered(state, id, out);
  }
  if (!told) out.push({ type: "removeLocal", doc: id, report: true });
  if (state.deletes.delete(id)) out.push({ type: "settle", waiter: `delete:${id}` });
}

/**
 * Writes the local store kept past a save damaged on the disk that cannot join their session (stranded.ts):
 * one report a session, and the store forgets them (the next save), so that they neither join the log once
 * it goes on without them nor are told lost again at the next start.
 */
function reportLost(doc: DocState, lost: LostRun[], out: CoreEffect[]): void {
  for (const session of new Set(lost.map((run) => run.session))) {
    const runs = lost.filter((run) => run.session === session);
    const message = `the local store kept writes ${Math.min(...runs.map((run) => run.first))}-${Math.max(...runs.map((run) => run.last))} of session ${session} of ${doc.id} past a save damaged on the disk, and the relay's copy of the session does not lead up to them: they are lost`;
    out.push({ type: "report", error: new LocalStoreError(message, { doc: doc.id, session }) });
  }
  if (lost.length === 0) return;
  doc.strandedDropped.push(...lost.map((run) => ({ session: run.session, after: run.first })));
  out.push({ type: "flush", doc: doc.id });
}

/**
 * Own writes that cannot go up because the relay holds less of the session than the snapshot this client
 * holds the document from (push.ts: ownPushable): told once, and synced() rejects with it, until the relay
 * holds that much again (another device of the agent pushed it, say).
 */
function checkBehindSnapshot(doc: DocState, own: SessionId, out: CoreEffect[]): void {
  const base = baseOf(doc, own);
  const relayHolds = countOf(doc.relay, own);
  if (relayHolds >= base || !hasUnsynced(doc, own)) return void (doc.behindSnapshot = undefined);
  if (doc.behindSnapshot) return;
  const unsent = heldCount(doc, own) - base;
  const error = new RelayError({
    code: "internal",
    message: `the relay holds ${relayHolds} of this client's writes to ${doc.id}, fewer than the ${base} of the snapshot this device holds the document from (the relay lost them, or was restored from a backup older than the snapshot): the ${unsent} ${unsent === 1 ? "write" : "writes"} made after the snapshot cannot go up without what they follow; copy the document's content into a new document to keep ${unsent === 1 ? "it" : "them"}`,
    doc: doc.id,
  });
  doc.behindSnapshot = error;
  out.push({ type: "report", error });
  out.push({ type: "settle", waiter: `synced:${doc.id}`, error });
}

/** The local store's copy of own writes the relay had acknowledged differed from the relay's (own-content.ts). */
const damagedCopyError = (doc: DocId, from: number) =>
  new LocalStoreError(`the local store's copy of this client's writes to ${doc} differed from the relay's from write ${from} on, where the relay had acknowledged them (damaged on the disk): the relay's copy replaced it`, { doc });

export const deletedError = (doc: DocId) => new RelayError({ code: "doc_deleted", message: "this document was deleted", doc });

/** The load of `doc` is answered: an `open()` of it resolves, or rejects when the relay has no such document. */
export function settleOpen(state: CoreState, doc: DocState, out: CoreEffect[]): void {
  out.push({ type: "settle", waiter: `loaded:${doc.id}` });
  if (!state.opening.delete(doc.id)) return;
  if (doc.deleted) return void out.push({ type: "settle", waiter: `open:${doc.id}`, error: deletedError(doc.id) });
  if (doc.header) return void out.push({ type: "settle", waiter: `open:${doc.id}` });
  // The relay answered the load with nothing: it has no such document in this group.
  forget(state, doc.id, out);
  send(state, out, { type: "unsub", doc: doc.id });
  out.push({ type: "settle", waiter: `open:${doc.id}`, error: new RelayError({ code: "unknown_doc", message: `the relay has no document ${doc.id} in group ${state.group}`, doc: doc.id }) });
}

export function onRelayError(state: CoreState, message: ErrorMessage, out: CoreEffect[]): void {
  const error = new RelayError(message);
  const id = message.doc;
  const doc = id ? state.docs.get(id) : undefined;
  // A delete of it waiting, sent before every pending snapshot: the error answers the delete.
  const answersDelete = id !== undefined && state.deletes.has(id) && (doc?.snapshotsBeforeDelete ?? 0) === 0;
  const writable = doc?.header !== undefined && state.role !== undefined && writeRefusal(state.role, state.writer.agent, doc.header) === undefined;
  if (doc && !answersDelete && doc.pendingSnapshots.length > 0 && answersSnapshot(message.code, { writesInFlight: isInFlight(doc, state.writer.session), awaitingLoad: !doc.loaded, writable })) {
    // The relay answers a socket's messages in order: the oldest snapshot waiting is the one refused.
    out.push({ type: "settle", waiter: takeAnswered(doc).key, error }, { type: "report", error });
    return;
  }
  const route = routeError(message, {
    held: doc !== undefined,
    awaitingLoad: doc !== undefined && !doc.loaded,
    reloading: id !== undefined && state.requested.has(id) && state.unanswered.has(id),
    deleting: id !== undefined && state.deletes.has(id),
    creates: doc?.header?.creator === state.writer.agent,
  });
  switch (route.kind) {
    case "relayLost":
      // The relay is given the document again, as one created offline is: nothing to report, unless a
      // snapshot stands for the start of the own session, which this client no longer holds to give.
      if (relayLost(doc!)) out.push({ type: "flush", doc: id! });
      if (baseOf(doc!, state.writer.session) === 0) return;
      break;
    case "deleted": {
      // Told as a deletion heard live is, never to onError: by the listeners of the document held, onRefused
      // for own writes it lost, the rejection of an open() or the answer to this client's delete().
      const told = doc !== undefined || state.opening.has(id!) || state.deletes.has(id!);
      if (doc) refuse(state, doc, error, out);
      onDeleted(state, id!, out);
      if (told) return;
      break;
    }
    case "loadRefused":
      out.push({ type: "settle", waiter: `loaded:${id!}`, error });
      if (state.opening.delete(id!)) out.push({ type: "settle", waiter: `open:${id!}`, error });
      if (doc!.header) {
        // Held from before (an earlier role): the refusal answered its load, so writes to it are pushed,
        // and refused and surfaced, instead of waiting for a load that will not come. Those of the agent's
        // other sessions too (a client that closed before the relay answered them): only a push of them
        // has them refused, and nothing else would push them.
        doc!.loaded = true;
        refuse(state, doc!, error, out);
        out.push({ type: "flush", doc: id! });
      } else forget(state, id!, out);
      answered(state, id!, out);
      break;
    case "deleteRefused":
      state.deletes.delete(id!);
      out.push({ type: "settle", waiter: `delete:${id!}`, error });
      break;
    case "writesRefused": {
      // Signed over another chain than the relay's: its copy of the session settles it, once (own-content.ts).
      if (message.code === "bad_signature" && message.session && recheckChain(doc!, state.writer, message.session)) return void sendLoad(state, doc!, out);
      // Every frame of the document's writes in flight is refused in turn: the first one tells the app.
      const told = doc!.refusal?.error.code === message.code;
      refuse(state, doc!, error, out);
      // Stamped ahead of the relay's clock by this client's idea of it: heard again, if still wrong (effects.ts).
      if (message.code === "bad_time") out.push({ type: "timeRefused", at: doc!.lastAt });
      if (told) return;
      break;
    }
    case "frameRefused": {
      const inFlight = [...state.docs.values()].filter((held) => isInFlight(held, state.writer.session)).map((held) => held.id);
      const { state: quarantine, culprit } = frameRefused(state.quarantine, inFlight);
      state.quarantine = quarantine;
      const guilty = culprit === undefined ? undefined : state.docs.get(culprit);
      if (guilty) refuse(state, guilty, error, out);
      // No write on the wire: what carried data was a snapshot. Sent again at every connection, it would be
      // refused again and again; refused instead (a snapshot only saves loads: the log still holds it all).
      if (culprit === undefined && inFlight.length === 0) for (const held of state.docs.values()) failSnapshots(held, error, out);
      // What else the refused frame held is lost with it: start over on a fresh socket.
      out.push({ type: "drop", reason: `the relay refused a frame: ${error.message}` });
      break;
    }
    case "report":
      break;
    default:
      assertNever(route);
  }
  out.push({ type: "report", error });
}

/**
 * The relay refused `doc`'s writes for good: held back, surfaced once, and `synced()` rejects. A refused
 * membership operation is dropped at once: the promise of setRole()/removeMember() carries the refusal,
 * and the operations after it are not stuck behind it (they were refused with it and reject with it).
 */
export function refuse(state: CoreState, doc: DocState, error: RelayError, out: CoreEffect[]): void {
  if (!refuseWrites(doc, state.writer.session, error)) {
    // Not own writes: an orphan tail this client pushed for another session of its agent (push.ts).
    if (refuseOrphanTails(doc, error)) out.push({ type: "refused", doc: doc.id, error, transactions: orphanTailTransactions(doc, state.writer), wholeDocument: false });
    return;
  }
  out.push({ type: "settle", waiter: `synced:${doc.id}`, error }, refusedEffect(state, doc));
  if (doc.id === state.membersDoc) discard(state, doc.id, true, out);
  // Refused, its writes no longer take room in flight, as an ack would free it: what waited for room goes.
  const waiting = state.starved.values().next();
  if (!waiting.done) out.push({ type: "flush", doc: waiting.value });
}

/** What onRefused listeners hear of `doc`'s refusal, as it stands now (a membership op is discarded right after). */
export function refusedEffect(state: CoreState, doc: DocState): CoreEffect {
  return { type: "refused", doc: doc.id, ...heldBack(doc, state.writer)! };
}

/** Forgets `doc`'s refused writes (and the document, if it was refused whole). */
export function discard(state: CoreState, id: DocId, report: boolean, out: CoreEffect[]): void {
  const doc = state.docs.get(id);
  if (!doc || (!doc.refusal && !doc.orphanRefusal)) return;
  const whole = doc.refusal?.wholeDocument ?? false;
  const removed = heldBack(doc, state.writer)!.transactions;
  const kept = discardRefused(doc, state.writer.session);
  // The tails of the agent's other sessions held back with them are forgotten here only: the store keeps them.
  discardOrphanTails(doc, state.writer);
  out.push({ type: "changed", doc: id, added: [], ...(removed.length > 0 ? { removed } : {}) });
  if (whole) {
    forget(state, id, out);
    // Another tab may hold it still, with writes of its own saved there: it is told, and saves it again.
    out.push({ type: "removeLocal", doc: id, report, announce: true });
  } else if (kept !== undefined) {
    // Only the own session is cut: what other clients sharing the store saved into the document stays.
    out.push({ type: "cutLocal", doc: id, session: state.writer.session, keep: kept, report });
  }
}
