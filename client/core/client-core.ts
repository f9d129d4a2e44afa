// The client's sync logic for one group as a state machine: step(state, event) -> effects.
//
// State (effects.ts: CoreState): every document's logs, known states and push progress (doc-state.ts),
// loads sent and unanswered, the whole-group open, deletes and directory requests in flight, the
// quarantine of a refused frame, membership (role, log) and the socket's phase as the core needs it.
// Events: the local store's answers (restored, saved, storedTails), the socket (helloSent, welcome, message, down,
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
import { MEMBERS_KIND, can, digestOf, isDocId, type DirRequest, type DocId, type Role, type Welcome } from "../../protocol/index.ts";
import { RelayError, type ClosedError } from "../errors.ts";
import { headerIsFor, writeRefusal } from "../local-checks.ts";
import { nextProbe } from "../quarantine.ts";
import type { StoredDoc } from "../storage/local-store.ts";
import { askDirectory, directoryResend } from "./directory-queue.ts";
import { appendOwn, hasUnsynced, knownOf, markSaved, markUnsaved, resetInFlight, restoreDoc, type DocState } from "./doc-state.ts";
import { adoptTails } from "./received.ts";
import { orphanTailTransactions } from "./held-back.ts";
import { assertNever, type CoreEffect, type CoreEvent, type CoreState } from "./effects.ts";
import { pacedPushAt, roomInFlight, takePush, type Room } from "./push.ts";
import { deletedError, discard, onMessage, refusedEffect } from "./relay-messages.ts";
import { checkStoreBehind, failSnapshots, onSnapshotReceived, publishSnapshot, resendSnapshots } from "./snapshots.ts";
import { load, send, sendLoad, sendOpen, track } from "./tracking.ts";

export { initialState } from "./tracking.ts";

export function step(state: CoreState, event: CoreEvent): CoreEffect[] {
  const out: CoreEffect[] = [];
  switch (event.type) {
    case "restored":
      // The role kept from the last run counts until the relay says one (it is the last one it said); a
      // welcome, or createMembers(), sets a role first.
      if (event.role !== undefined && state.role === undefined) state.role = event.role;
      onRestored(state, event.docs, out);
      break;
    case "saved": {
      const doc = state.docs.get(event.doc);
      if (!doc) break;
      // The own log was cut since these changes were taken: the store was cut after them, so its own writes are not saved.
      const own = state.writer.session;
      const cut = doc.ownCuts !== event.ownCuts;
      markSaved(doc, cut ? { ...event.changes, appends: event.changes.appends.filter((append) => append.session !== own) } : event.changes);
      break;
    }
    case "storeMissing": {
      const doc = state.docs.get(event.doc);
      if (!doc || doc.deleted) break;
      markUnsaved(doc);
      out.push({ type: "flush", doc: doc.id });
      break;
    }
    case "storedTails":
      onStoredTails(state, event.docs, out, event.opening);
      break;
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
    case "snapshotReceived":
      onSnapshotReceived(state, event.snapshot, event.verified, out);
      break;
    case "down":
      if (state.phase !== "closed") state.phase = "down";
      state.requested.clear();
      for (const doc of state.docs.values()) resetInFlight(doc, state.writer.session);
      break;
    case "snapshot": {
      const doc = state.docs.get(event.doc);
      if (doc) publishSnapshot(state, doc, event.data, event.covers, out);
      break;
    }
    case "closed":
      closeAll(state, event.error, out);
      break;
    case "create": {
      const doc = track(state, event.id, event.header);
      if (event.members) {
        state.membersDoc = doc.id;
        setRole(state, "admin", out);
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
      noteDeleteSent(state, event.doc);
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
      if (doc?.refusal || doc?.orphanRefusal) retry(doc, out);
      break;
    }
    case "push":
      push(state, event.docs, event.now, out);
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

function onRestored(state: CoreState, stored: StoredDoc[], out: CoreEffect[]): void {
  for (const entry of stored) {
    if (isOwnStored(state, entry)) takeInStored(state, entry, out);
    else out.push({ type: "report", error: new RelayError({ code: "bad_header", message: `the local store holds ${String(entry.id)} with a header that is not its own: skipped`, doc: entry.id }) });
  }
  state.restored = true;
  if (state.phase === "hello" || state.phase === "ready") resume(state, out);
}

/** A stored document whose header is the one its id names, in this group: anything else in the store is skipped. */
const isOwnStored = (state: CoreState, entry: StoredDoc): boolean => isDocId(entry.id) && entry.header !== undefined && headerIsFor(entry.header, entry.id, state.group);

/** Takes in a document as the local store holds it, into the one held or a new one. */
function takeInStored(state: CoreState, entry: StoredDoc, out: CoreEffect[]): DocState {
  const doc = state.docs.get(entry.id) ?? track(state, entry.id, entry.header);
  restoreDoc(doc, state.writer.session, entry);
  if (doc.snapshot) checkStoreBehind(state, doc, doc.snapshot.covers, out);
  // Writes an older SDK let into the store that the relay would refuse never leave the device.
  if (doc.refusal) out.push(refusedEffect(state, doc));
  if (doc.header?.kind === MEMBERS_KIND) state.membersDoc ??= doc.id;
  return doc;
}

/**
 * Documents a client sharing the store closed with writes unsent, as stored now: what this client lacks of
 * its agent's other sessions is taken in and pushed. One it does not hold is taken whole, as at a restore,
 * when the whole group is open (it would arrive live anyway) or open() asked for it (`opening`: another
 * client of this device saved it after this one read the store); the relay is asked for it like any other.
 */
function onStoredTails(state: CoreState, stored: StoredDoc[], out: CoreEffect[], opening?: DocId): void {
  for (const entry of stored) {
    const held = state.docs.get(entry.id);
    if (held?.deleted) continue;
    // Held (a document only tracked, the relay having answered it has none, is taken in below).
    if (held?.header) {
      const { added, removed } = adoptTails(held, state.writer, entry);
      if (added.length > 0 || removed.length > 0) out.push({ type: "changed", doc: held.id, added, ...(removed.length > 0 ? { removed } : {}) }, { type: "flush", doc: held.id });
      // What was forgotten may be stored after all (a push of it was on its way), and what the store
      // contradicts where the relay counted it is settled by the relay's copy: the relay is asked again.
      if (removed.length > 0 || held.askFrom.size > 0) sendLoad(state, held, out);
      continue;
    }
    if ((!state.whole.requested && entry.id !== opening) || !isOwnStored(state, entry)) continue;
    const doc = takeInStored(state, entry, out);
    load(state, doc, out);
    out.push({ type: "flush", doc: doc.id });
  }
}

/**
 * Tails of this agent's other sessions that the role the relay said may not write (a tab that wrote cut
 * off, after the agent was made a reader, and closed): refused here as the relay would refuse them, and
 * held back, told once (onRefused), rather than held in silence where this client cannot sign them (a
 * session it holds from a snapshot: push.ts, takeOrphanTails). A role that may write sends them again
 * (retryForbidden). True if it refused them now.
 */
function refuseUnwritableTails(state: CoreState, doc: DocState): boolean {
  if (doc.orphanRefusal || doc.refusal || doc.deleted || !doc.header || state.role === undefined) return false;
  const reason = writeRefusal(state.role, state.writer.agent, doc.header);
  if (reason === undefined || orphanTailTransactions(doc, state.writer).length === 0) return false;
  const message = `${reason}: the writes this agent's other sessions left unsent here are held back`;
  doc.orphanRefusal = new RelayError({ code: "forbidden", message, doc: doc.id });
  return true;
}

/** The role this agent has now; a change of a role known before is told (onRole), and each change kept. */
function setRole(state: CoreState, role: Role, out: CoreEffect[]): void {
  if (state.role !== undefined && state.role !== role) out.push({ type: "role", role });
  if (state.role !== role) out.push({ type: "keepRole", role });
  state.role = role;
}

/**
 * A new role that may write sends again the writes the relay refused as `forbidden` (refused under the
 * role before: a writer demoted while its edits were in flight, then promoted back), as retryRefused would:
 * they were held back, and everything the session wrote after them with them, for as long as the client
 * lived. Not the membership log's: an admin's refused operation rejected its promise, and going later it
 * would overwrite newer changes. A refusal the new role does not lift is refused again, and told again.
 */
function retryForbidden(state: CoreState, out: CoreEffect[]): void {
  if (!can(state.role, "write")) return;
  for (const doc of state.docs.values()) {
    if (doc.id === state.membersDoc) continue;
    if (doc.refusal?.error.code === "forbidden" || doc.orphanRefusal?.code === "forbidden") retry(doc, out);
  }
}

/** The writes a refusal held back of `doc` (its own, and other sessions' tails) go on the push path again. */
function retry(doc: DocState, out: CoreEffect[]): void {
  doc.refusal = undefined;
  doc.orphanRefusal = undefined;
  out.push({ type: "flush", doc: doc.id });
}

/** Right behind the hello: say what this client holds; the relay answers with exactly what it lacks. */
function resume(state: CoreState, out: CoreEffect[]): void {
  state.requested.clear();
  // Each document asked for on this socket is unanswered until the relay answers it, at a reconnect or a
  // late store read as at the first connect: the group is live (in sync with the relay) only then.
  for (const doc of state.docs.values()) if (!doc.deleted) state.unanswered.add(doc.id);
  if (state.phase === "ready" && state.unanswered.size > 0) out.push({ type: "status", to: "syncing" });
  loadHeld(state, out);
  const directory = directoryResend(state.directory);
  state.directory = directory.queue;
  for (const request of directory.requests) send(state, out, request);
  for (const id of state.deletes) {
    const doc = state.docs.get(id);
    if (doc) doc.snapshotsBeforeDelete = 0; // its snapshots go again after the welcome, behind the delete
    send(state, out, { type: "delete", doc: id });
  }
}

/**
 * Says what this client holds (the whole group, if it asked for it): the relay answers with what it lacks.
 * Not a document it knows is deleted: the relay would answer doc_deleted at every reconnect.
 */
function loadHeld(state: CoreState, out: CoreEffect[]): void {
  if (state.whole.requested) sendOpen(state, out);
  for (const doc of state.docs.values()) if (!doc.deleted && (!state.whole.requested || !doc.header)) sendLoad(state, doc, out);
}

/**
 * A delete of `id` goes out: on a ready socket behind the snapshots of it already sent; otherwise they go
 * after it (resume sends deletes, the welcome then the snapshots).
 */
function noteDeleteSent(state: CoreState, id: DocId): void {
  const doc = state.docs.get(id);
  if (doc) doc.snapshotsBeforeDelete = state.phase === "ready" ? doc.pendingSnapshots.length : 0;
}

/**
 * The relay welcomes a socket once its hello is checked, and again whenever this agent's role changes while
 * it is connected: the role then counts at once, and an open group is opened again, for a role that reads
 * more (an admin reads documents with `readers`) to get what it now may.
 */
function onWelcome(state: CoreState, welcome: Welcome, out: CoreEffect[]): void {
  if (state.phase === "closed") return;
  const again = state.phase === "ready";
  // The relay welcomed this client before the membership log it created was stored: it names the role of
  // an open group. The log makes the client its admin (the relay says so once it is stored), as
  // createMembers() did here already.
  const log = state.membersDoc === undefined ? undefined : state.docs.get(state.membersDoc);
  const founding = welcome.members === undefined && log?.header?.creator === state.writer.agent && !log.relay.header;
  const role = founding ? "admin" : welcome.role;
  const changed = role !== state.role;
  state.phase = "ready";
  state.welcomed = true;
  setRole(state, role, out);
  state.membersDoc = welcome.members ?? state.membersDoc;
  if (changed) retryForbidden(state, out);
  if (again) {
    // Made an admin, it may read more (documents with `readers`): what it holds, or asked for whole, is
    // loaded again, so what was written while it could not read comes now, not at the next write.
    if (changed && role === "admin") loadHeld(state, out);
    else if (changed && state.whole.requested) sendOpen(state, out);
    return;
  }
  resendSnapshots(state, out);
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

/**
 * Pushes what the relay lacks of `docs`, and of those that waited for room in flight (an ack of any
 * document makes room for all). While a refused frame's culprit is looked for, only the probe pushes.
 */
function push(state: CoreState, ids: DocId[], now: number, out: CoreEffect[]): void {
  if (state.phase !== "ready") return;
  const own = state.writer.session;
  const { state: quarantine, probe } = nextProbe(state.quarantine, (id) => {
    const doc = state.docs.get(id);
    return doc !== undefined && hasUnsynced(doc, own) && !doc.refusal && !doc.deleted;
  });
  state.quarantine = quarantine;
  const room = roomInFlight(state.docs.values(), state.writer, state.draining);
  if (room.bytes > 0) state.draining = false;
  if (probe !== undefined) {
    for (const id of [...state.starved, ...ids]) if (id !== probe) state.held.add(id);
    state.starved.clear();
    pushDoc(state, probe, now, room, out);
  } else {
    // Those that waited longest go first.
    const pushable = new Set([...state.starved, ...state.held, ...ids]);
    state.held.clear();
    state.starved.clear();
    for (const id of pushable) pushDoc(state, id, now, room, out);
  }
  // Used up: what comes next waits for most of it to be acked (push.ts, roomInFlight).
  if (room.bytes <= 0) state.draining = true;
}

function pushDoc(state: CoreState, id: DocId, now: number, room: Room, out: CoreEffect[]): void {
  const doc = state.docs.get(id);
  if (!doc) return;
  // Told as the relay's refusal of them would be: onRefused, and onError.
  if (refuseUnwritableTails(state, doc)) out.push(refusedEffect(state, doc), { type: "report", error: doc.orphanRefusal! });
  const pace = { now, intervalMs: state.pushIntervalMs };
  room.starved = false;
  for (const frame of takePush(doc, state.writer, pace, room)) out.push({ type: "send", message: frame });
  if (room.starved) state.starved.add(id);
  const at = pacedPushAt(doc, state.writer, pace);
  if (at !== undefined) out.push({ type: "pushAt", doc: id, at });
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
    failSnapshots(doc, error, out);
  }
}
