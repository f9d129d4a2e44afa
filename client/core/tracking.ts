// The documents the client core holds and where each stands on the current socket: tracked, loads sent and
// answered (the group is live once every load is answered), and the frames that ask for them. Helpers of
// client-core.ts and relay-messages.ts; pure, like them.
import { openParts, type DocHeader, type DocId, type KnownState } from "../../protocol/index.ts";
import { RelayError } from "../errors.ts";
import { noQuarantine } from "../quarantine.ts";
import { newDocState, type DocState } from "./doc-state.ts";
import type { CoreEffect, CoreState } from "./effects.ts";
import { loadKnown } from "./own-content.ts";
import type { Writer } from "./push.ts";

export function initialState(group: string, writer: Writer, pushIntervalMs = 0): CoreState {
  return {
    group,
    writer,
    phase: "down",
    restored: false,
    closed: undefined,
    role: undefined,
    welcomed: false,
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
    starved: new Set(),
    draining: false,
    pushIntervalMs,
  };
}

export function send(state: CoreState, out: CoreEffect[], message: Extract<CoreEffect, { type: "send" }>["message"]): boolean {
  if (state.phase !== "hello" && state.phase !== "ready") return false;
  out.push({ type: "send", message });
  return true;
}

export function track(state: CoreState, id: DocId, header: DocHeader | undefined): DocState {
  const doc = newDocState(id, header);
  state.docs.set(id, doc);
  state.unanswered.add(id);
  return doc;
}

export function forget(state: CoreState, id: DocId, out: CoreEffect[]): void {
  // A snapshot waiting for the relay settles too: nothing will answer it for a document no longer held.
  for (const pending of state.docs.get(id)?.pendingSnapshots.splice(0) ?? []) {
    out.push({ type: "settle", waiter: pending.key, error: new RelayError({ code: "unknown_doc", message: `document ${id} is no longer held here`, doc: id }) });
  }
  state.docs.delete(id);
  state.unanswered.delete(id);
  state.requested.delete(id);
  out.push({ type: "forget", doc: id });
  // The membership log this client created, refused whole (another founded the group first): the group's
  // own log, and this agent's role under it, come with a new welcome.
  if (id === state.membersDoc) {
    state.membersDoc = undefined;
    out.push({ type: "drop", reason: "its membership log was refused" });
  }
}

/** The relay answered `doc`'s load (or it is gone); the group is live once every load is answered. */
export function answered(state: CoreState, id: DocId, out: CoreEffect[]): void {
  state.unanswered.delete(id);
  if (state.unanswered.size === 0 && state.phase === "ready") out.push({ type: "status", to: "live" });
}

export function load(state: CoreState, doc: DocState, out: CoreEffect[]): void {
  if (doc.loaded || state.requested.has(doc.id)) return;
  if (state.phase === "ready") out.push({ type: "status", to: "syncing" });
  sendLoad(state, doc, out);
}

export function sendLoad(state: CoreState, doc: DocState, out: CoreEffect[]): void {
  if (!send(state, out, { type: "load", doc: doc.id, known: loadKnown(doc, state.writer.session) })) return;
  state.requested.add(doc.id);
  if (doc.reused) doc.reused.asked = true;
}

/** `open` for the whole group, in parts by id range when it is too much for one frame. */
export function sendOpen(state: CoreState, out: CoreEffect[]): void {
  const known: Record<DocId, KnownState> = {};
  for (const doc of state.docs.values()) if (doc.header && !doc.deleted) known[doc.id] = loadKnown(doc, state.writer.session);
  let sent = false;
  for (const message of openParts(known)) sent = send(state, out, message);
  if (sent) for (const doc of state.docs.values()) if (doc.reused && known[doc.id]) doc.reused.asked = true;
}

/** A document heard of: tracked if held, or if the whole group is open (documents arriving live). */
export function heardOf(state: CoreState, id: DocId): DocState | undefined {
  return state.docs.get(id) ?? (state.whole.requested ? track(state, id, undefined) : undefined);
}
