// The client's sync logic for one group as a state machine: step(state, event) -> effects.
//
// State (effects.ts: CoreState): every document's logs, known states and push progress (doc-state.ts),
// loads sent and unanswered, the whole-group open, deletes and directory requests in flight, the
// quarantine of a refused frame, membership (role, log) and the socket's phase as the core needs it.
// Events: the local store's answers (restored, saved), the socket (helloSent, welcome, message, down,
// closed), the app's calls (create, append, open, openAll, delete, directory, discard/retry refused) and
// `push` (the shell saved a tick's changes). Effects: frames to send, saves and removals in the local
// store, promise settlements (by waiter key), status changes, a drop of the socket, changes to tell
// document listeners, refusals to surface, and errors to report.
//
// No I/O, no clock, no await: time arrives in events, signatures are made synchronously (Ed25519 is
// deterministic), and the shell (group.ts, doc.ts, push-pump.ts, connection.ts) carries the effects out.
// The state is updated in place rather than copied: transaction logs only grow, and copying them (or a
// map of 20,000 documents) per event would cost what the relay core's small peer maps do not. It belongs to
// the core alone; the shell only reads it.
import { MEMBERS_KIND, digestOf, isDocId, openParts, type DirRequest, type DocHeader, type DocId, type ErrorMessage, type Welcome } from "../../protocol/index.ts";
import { routeError } from "../error-routing.ts";
import { RelayError, type ClosedError } from "../errors.ts";
import { headerIsFor } from "../local-checks.ts";
import { frameRefused, nextProbe, noQuarantine } from "../quarantine.ts";
import type { StoredDoc } from "../storage/local-store.ts";
import { askDirectory, directoryFrame, directoryResend } from "./directory-queue.ts";
import {
  applyContent,
  applyKnown,
  appendOwn,
  discardRefused,
  hasUnsynced,
  isInFlight,
  knownOf,
  markDeleted,
  markSaved,
  newDocState,
  refuseWrites,
  refusedTransactions,
  resetInFlight,
  restoreDoc,
  type DocState,
} from "./doc-state.ts";
import { assertNever, type CoreEffect, type CoreEvent, type CoreState } from "./effects.ts";
import { takePush, type Writer } from "./push.ts";

export function initialState(group: string, writer: Writer): CoreState {
  return {
    group,
    writer,
    phase: "down",
    restored: false,
    closed: undefined,
    role: undefined,
    membersDoc: undefined,
    docs: new Map(),
    unanswered: new Set(),
    requested: new Set(),
    opening: new Set(),
    whole: { requested: false, awaiting: false },
    deletes: new Set(),
    directory: [],
    nextRequest: 0,
    quarantine: noQuarantine(),
    held: new Set(),
  };
}

export function step(state: CoreState, event: CoreEvent): CoreEffect[] {
  const out: CoreEffect[] = [];
  switch (event.type) {
    case "restored":
      onRestored(state, event.docs, out);
      break;
    case "saved": {
      const doc = state.docs.get(event.doc);
      if (doc) markSaved(doc, event.changes);
      break;
    }
    case "unverified":
      for (const session of event.sessions) {
        out.push({ type: "report", error: new RelayError({ code: "bad_signature", message: "a received checkpoint does not verify: its transactions do not count", doc: event.doc, session }) });
      }
      out.push({ type: "flush", doc: event.doc });
      break;
    case "helloSent":
      if (state.phase === "closed") break;
      state.phase = "hello";
      if (state.restored) resume(state, out);
      break;
    case "welcome":
      onWelcome(state, event.welcome, out);
      break;
    case "message":
      onMessage(state, event.message, out);
      break;
    case "down":
      if (state.phase !== "closed") state.phase = "down";
      state.requested.clear();
      for (const doc of state.docs.values()) resetInFlight(doc, state.writer.session);
      break;
    case "closed":
      closeAll(state, event.error, out);
      break;
    case "create": {
      const doc = track(state, event.id, event.header);
      if (event.members) {
        state.membersDoc = doc.id;
        state.role = "admin";
      }
      load(state, doc, out);
      out.push({ type: "flush", doc: doc.id });
      break;
    }
    case "append": {
      const doc = state.docs.get(event.doc);
      if (!doc) break;
      const added = appendOwn(doc, state.writer.session, event.data, event.now);
      out.push({ type: "changed", doc: doc.id, added: [added] }, { type: "flush", doc: doc.id });
      break;
    }
    case "open":
      onOpen(state, event.doc, out);
      break;
    case "openAll":
      if (state.closed) return [{ type: "settle", waiter: "openAll", error: state.closed }];
      state.whole.requested = true;
      if (!state.whole.awaiting) {
        state.whole.awaiting = true;
        sendOpen(state, out);
      }
      break;
    case "delete":
      if (state.closed) return [{ type: "settle", waiter: `delete:${event.doc}`, error: state.closed }];
      state.deletes.add(event.doc);
      send(state, out, { type: "delete", doc: event.doc });
      break;
    case "directory":
      onDirectory(state, event.request, out);
      break;
    case "discardRefused":
      discard(state, event.doc, false, out);
      break;
    case "retryRefused": {
      const doc = state.docs.get(event.doc);
      if (!doc?.refusal) break;
      doc.refusal = undefined;
      out.push({ type: "flush", doc: doc.id });
      break;
    }
    case "push":
      push(state, event.docs, out);
      break;
    default:
      assertNever(event);
  }
  return out;
}

/** The digest of every document this client holds (protocol/digest.ts), as the relay computes its own. */
export function digestOfState(state: CoreState): string {
  return digestOf([...state.docs.values()].filter((doc) => !doc.deleted).map((doc) => [doc.id, knownOf(doc)] as const));
}

function send(state: CoreState, out: CoreEffect[], message: Extract<CoreEffect, { type: "send" }>["message"]): boolean {
  if (state.phase !== "hello" && state.phase !== "ready") return false;
  out.push({ type: "send", message });
  return true;
}

function track(state: CoreState, id: DocId, header: DocHeader | undefined): DocState {
  const doc = newDocState(id, header);
  state.docs.set(id, doc);
  state.unanswered.add(id);
  return doc;
}

function forget(state: CoreState, id: DocId, out: CoreEffect[]): void {
  state.docs.delete(id);
  state.unanswered.delete(id);
  state.requested.delete(id);
  out.push({ type: "forget", doc: id });
}

/** The relay answered `doc`'s load (or it is gone); the group is live once every load is answered. */
function answered(state: CoreState, id: DocId, out: CoreEffect[]): void {
  state.unanswered.delete(id);
  if (state.unanswered.size === 0 && state.phase === "ready") out.push({ type: "status", to: "live" });
}

function load(state: CoreState, doc: DocState, out: CoreEffect[]): void {
  if (doc.loaded || state.requested.has(doc.id)) return;
  if (state.phase === "ready") out.push({ type: "status", to: "syncing" });
  sendLoad(state, doc, out);
}

function sendLoad(state: CoreState, doc: DocState, out: CoreEffect[]): void {
  if (send(state, out, { type: "load", doc: doc.id, known: knownOf(doc) })) state.requested.add(doc.id);
}

/** `open` for the whole group, in parts by id range when it is too much for one frame. */
function sendOpen(state: CoreState, out: CoreEffect[]): void {
  const known: Record<DocId, ReturnType<typeof knownOf>> = {};
  for (const doc of state.docs.values()) if (doc.header && !doc.deleted) known[doc.id] = knownOf(doc);
  for (const message of openParts(known)) send(state, out, message);
}

function onRestored(state: CoreState, stored: StoredDoc[], out: CoreEffect[]): void {
  for (const entry of stored) {
    if (!isDocId(entry.id) || !entry.header || !headerIsFor(entry.header, entry.id, state.group)) {
      out.push({ type: "report", error: new RelayError({ code: "bad_header", message: `the local store holds ${String(entry.id)} with a header that is not its own: skipped`, doc: entry.id }) });
      continue;
    }
    const doc = state.docs.get(entry.id) ?? track(state, entry.id, entry.header);
    restoreDoc(doc, state.writer.session, entry);
    // Writes an older SDK let into the store that the relay would refuse never leave the device.
    if (doc.refusal) out.push(refusedEffect(state, doc));
    if (doc.header?.kind === MEMBERS_KIND) state.membersDoc ??= doc.id;
  }
  state.restored = true;
  if (state.phase === "hello" || state.phase === "ready") resume(state, out);
}

/** Right behind the hello: say what this client holds; the relay answers with exactly what it lacks. */
function resume(state: CoreState, out: CoreEffect[]): void {
  state.requested.clear();
  if (state.whole.requested) sendOpen(state, out);
  for (const doc of state.docs.values()) if (!state.whole.requested || !doc.header) sendLoad(state, doc, out);
  const directory = directoryResend(state.directory);
  state.directory = directory.queue;
  for (const request of directory.requests) send(state, out, request);
  for (const id of state.deletes) send(state, out, { type: "delete", doc: id });
}

function onWelcome(state: CoreState, welcome: Welcome, out: CoreEffect[]): void {
  if (state.phase === "closed") return;
  state.phase = "ready";
  state.role = welcome.role;
  state.membersDoc = welcome.members ?? state.membersDoc;
  if (state.unanswered.size === 0) out.push({ type: "status", to: "live" });
}

function onOpen(state: CoreState, id: DocId, out: CoreEffect[]): void {
  const doc = state.docs.get(id);
  if (doc?.deleted) return void out.push({ type: "settle", waiter: `open:${id}`, error: deletedError(id) });
  if (doc?.header) return void out.push({ type: "settle", waiter: `open:${id}` });
  if (state.closed) return void out.push({ type: "settle", waiter: `open:${id}`, error: state.closed });
  state.opening.add(id);
  load(state, doc ?? track(state, id, undefined), out);
}

const deletedError = (doc: DocId) => new RelayError({ code: "doc_deleted", message: "this document was deleted", doc });

/** The load of `doc` is answered: an `open()` of it resolves, or rejects when the relay has no such document. */
function settleOpen(state: CoreState, doc: DocState, out: CoreEffect[]): void {
  out.push({ type: "settle", waiter: `loaded:${doc.id}` });
  if (!state.opening.delete(doc.id)) return;
  if (doc.deleted) return void out.push({ type: "settle", waiter: `open:${doc.id}`, error: deletedError(doc.id) });
  if (doc.header) return void out.push({ type: "settle", waiter: `open:${doc.id}` });
  // The relay answered the load with nothing: it has no such document in this group.
  forget(state, doc.id, out);
  send(state, out, { type: "unsub", doc: doc.id });
  out.push({ type: "settle", waiter: `open:${doc.id}`, error: new RelayError({ code: "unknown_doc", message: `the relay has no document ${doc.id} in group ${state.group}`, doc: doc.id }) });
}

function onDirectory(state: CoreState, request: DirRequest, out: CoreEffect[]): void {
  const { queue, id, fresh } = askDirectory(state.directory, request, state.nextRequest);
  state.directory = queue;
  if (!fresh) return;
  state.nextRequest++;
  if (state.closed) {
    state.directory = queue.filter((pending) => pending.id !== id);
    return void out.push({ type: "settle", waiter: `dir:${id}`, error: state.closed });
  }
  send(state, out, request);
}

/** A document heard of: tracked if held, or if the whole group is open (documents arriving live). */
function heardOf(state: CoreState, id: DocId): DocState | undefined {
  return state.docs.get(id) ?? (state.whole.requested ? track(state, id, undefined) : undefined);
}

function onMessage(state: CoreState, message: Extract<CoreEvent, { type: "message" }>["message"], out: CoreEffect[]): void {
  const own = state.writer.session;
  switch (message.type) {
    case "known": {
      const doc = heardOf(state, message.doc);
      if (!doc) return;
      const wasUnsynced = hasUnsynced(doc, own);
      const { firstLoad } = applyKnown(doc, own, { header: message.header, sessions: message.sessions }, message.reason);
      if (wasUnsynced && !hasUnsynced(doc, own)) out.push({ type: "settle", waiter: `synced:${doc.id}` });
      if (firstLoad) {
        settleOpen(state, doc, out);
        answered(state, doc.id, out);
      }
      if (state.docs.get(doc.id) === doc) out.push({ type: "flush", doc: doc.id });
      return;
    }
    case "content": {
      // A header must be the one the id names, in this group: anything else is dropped, not adopted.
      if (message.header && !headerIsFor(message.header, message.doc, state.group)) {
        return void out.push({ type: "report", error: new RelayError({ code: "bad_header", message: "a received header does not hash to its document id: ignored", doc: message.doc }) });
      }
      const doc = heardOf(state, message.doc);
      if (!doc) return;
      const { added, gap } = applyContent(doc, own, message);
      if (added.length > 0 || message.header) out.push({ type: "changed", doc: doc.id, added });
      if (gap) sendLoad(state, doc, out);
      out.push({ type: "flush", doc: doc.id });
      return;
    }
    case "opened":
      // Documents the relay did not list are ones it does not have yet (created offline): load them, so
      // their headers and writes go up and the group can go live.
      for (const id of state.unanswered) {
        const doc = state.docs.get(id);
        if (doc?.header && !state.requested.has(id)) sendLoad(state, doc, out);
      }
      state.whole.awaiting = false;
      out.push({ type: "settle", waiter: "openAll" });
      return;
    case "deleted":
      return onDeleted(state, message.doc, out);
    case "dir": {
      const { queue, done } = directoryFrame(state.directory, message);
      state.directory = queue;
      if (done) out.push({ type: "answer", waiter: `dir:${done.id}`, directory: done.directory });
      return;
    }
    case "error":
      return onRelayError(state, message, out);
    default:
      return assertNever(message);
  }
}

function onDeleted(state: CoreState, id: DocId, out: CoreEffect[]): void {
  const doc = state.docs.get(id);
  if (doc) {
    markDeleted(doc);
    out.push({ type: "settle", waiter: `synced:${id}` });
    settleOpen(state, doc, out);
    out.push({ type: "changed", doc: id, added: [] });
    answered(state, id, out);
  }
  out.push({ type: "removeLocal", doc: id, report: true });
  if (state.deletes.delete(id)) out.push({ type: "settle", waiter: `delete:${id}` });
}

function onRelayError(state: CoreState, message: ErrorMessage, out: CoreEffect[]): void {
  const error = new RelayError(message);
  const id = message.doc;
  const doc = id ? state.docs.get(id) : undefined;
  const route = routeError(message, { held: doc !== undefined, awaitingLoad: doc !== undefined && !doc.loaded, deleting: id !== undefined && state.deletes.has(id) });
  switch (route.kind) {
    case "deleted":
      if (doc) refuse(state, doc, error, out);
      onDeleted(state, id!, out);
      break;
    case "loadRefused":
      out.push({ type: "settle", waiter: `loaded:${id!}`, error });
      if (state.opening.delete(id!)) out.push({ type: "settle", waiter: `open:${id!}`, error });
      if (doc!.header) refuse(state, doc!, error, out);
      else forget(state, id!, out);
      answered(state, id!, out);
      break;
    case "deleteRefused":
      state.deletes.delete(id!);
      out.push({ type: "settle", waiter: `delete:${id!}`, error });
      break;
    case "writesRefused":
      refuse(state, doc!, error, out);
      break;
    case "frameRefused": {
      const inFlight = [...state.docs.values()].filter((held) => isInFlight(held, state.writer.session)).map((held) => held.id);
      const { state: quarantine, culprit } = frameRefused(state.quarantine, inFlight);
      state.quarantine = quarantine;
      const guilty = culprit === undefined ? undefined : state.docs.get(culprit);
      if (guilty) refuse(state, guilty, error, out);
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
function refuse(state: CoreState, doc: DocState, error: RelayError, out: CoreEffect[]): void {
  if (!refuseWrites(doc, state.writer.session, error)) return;
  out.push({ type: "settle", waiter: `synced:${doc.id}`, error }, refusedEffect(state, doc));
  if (doc.id === state.membersDoc) discard(state, doc.id, true, out);
}

/** What onRefused listeners hear of `doc`'s refusal, as it stands now (a membership op is discarded right after). */
function refusedEffect(state: CoreState, doc: DocState): CoreEffect {
  const refusal = doc.refusal!;
  return { type: "refused", doc: doc.id, error: refusal.error, transactions: refusedTransactions(doc, state.writer.session) ?? [], wholeDocument: refusal.wholeDocument };
}

/** Forgets `doc`'s refused writes (and the document, if it was refused whole). */
function discard(state: CoreState, id: DocId, report: boolean, out: CoreEffect[]): void {
  const doc = state.docs.get(id);
  if (!doc?.refusal) return;
  const whole = doc.refusal.wholeDocument;
  const kept = discardRefused(doc, state.writer.session);
  out.push({ type: "changed", doc: id, added: [] });
  if (whole) {
    forget(state, id, out);
    out.push({ type: "removeLocal", doc: id, report });
  } else if (kept) {
    // The store cannot cut a session short: the document is written again as it now is.
    out.push({ type: "rewriteLocal", doc: id, stored: kept, report });
  }
}

/** Pushes what the relay lacks of `docs`. While a refused frame's culprit is looked for, only the probe pushes. */
function push(state: CoreState, ids: DocId[], out: CoreEffect[]): void {
  if (state.phase !== "ready") return;
  const own = state.writer.session;
  const { state: quarantine, probe } = nextProbe(state.quarantine, (id) => {
    const doc = state.docs.get(id);
    return doc !== undefined && hasUnsynced(doc, own) && !doc.refusal && !doc.deleted;
  });
  state.quarantine = quarantine;
  if (probe !== undefined) {
    for (const id of ids) if (id !== probe) state.held.add(id);
    return pushDoc(state, probe, out);
  }
  const pushable = new Set([...state.held, ...ids]);
  state.held.clear();
  for (const id of pushable) pushDoc(state, id, out);
}

function pushDoc(state: CoreState, id: DocId, out: CoreEffect[]): void {
  const doc = state.docs.get(id);
  if (doc) for (const frame of takePush(doc, state.writer)) out.push({ type: "send", message: frame });
}

/** Closed for good: every waiter hears why, and later calls fail at once. */
function closeAll(state: CoreState, error: ClosedError, out: CoreEffect[]): void {
  state.phase = "closed";
  state.closed = error;
  for (const pending of state.directory) out.push({ type: "settle", waiter: `dir:${pending.id}`, error });
  state.directory = [];
  if (state.whole.awaiting) out.push({ type: "settle", waiter: "openAll", error });
  state.whole.awaiting = false;
  for (const id of state.deletes) out.push({ type: "settle", waiter: `delete:${id}`, error });
  state.deletes.clear();
  for (const id of state.opening) out.push({ type: "settle", waiter: `open:${id}`, error });
  state.opening.clear();
  for (const doc of state.docs.values()) {
    if (!doc.loaded) out.push({ type: "settle", waiter: `loaded:${doc.id}`, error });
    if (hasUnsynced(doc, state.writer.session)) out.push({ type: "settle", waiter: `synced:${doc.id}`, error });
  }
}
