// Snapshots in the client core: publishing one (covers what the relay confirmed of what this client holds;
// signed here, sent, settled by the relay's `snapshotted` or by an error), taking in one received (the
// shell verified its signature first) and hearing that the relay stored one. Pure, like client-core.ts.
import {
  MEMBERS_KIND,
  canonicalJson,
  countOf,
  coversAll,
  coversMore,
  signSnapshot,
  type AgentId,
  type DocId,
  type ErrorCode,
  type Role,
  type SessionCounts,
  type Snapshot,
  type SnapshotMessage,
  type Snapshotted as SnapshottedMessage,
  type TransactionData,
} from "../../protocol/index.ts";
import { LocalStoreError, RelayError, type ClosedError } from "../errors.ts";
import { snapshotRefusal } from "../local-checks.ts";
import { applySnapshot, coversPastHeld, hasUnsynced, heldCount, ownUnconfirmed, type DocState, type PendingSnapshot } from "./doc-state.ts";
import type { CoreEffect, CoreState } from "./effects.ts";
import { send } from "./tracking.ts";

/** Who waits for a published snapshot: its document and what it covers (each pending one covers more). */
export const snapshotKey = (doc: DocId, covers: SessionCounts): `snapshot:${DocId}:${string}` => `snapshot:${doc}:${canonicalJson(covers)}`;

/**
 * What a snapshot published now covers: per session, what the relay confirmed holding of what this client
 * holds (of its own session: what the relay acknowledged). The app's state includes all of it.
 */
export function coversOf(doc: DocState): SessionCounts {
  const covers: SessionCounts = {};
  for (const session of new Set([...doc.bases.keys(), ...doc.sessions.keys()])) {
    const count = Math.min(heldCount(doc, session), countOf(doc.relay, session));
    if (count > 0) covers[session] = count;
  }
  return covers;
}

/** The newest covers known to be stored or on their way: a new snapshot must cover more. */
function newestCovers(doc: DocState): SessionCounts {
  const pending = doc.pendingSnapshots[doc.pendingSnapshots.length - 1];
  return pending?.snapshot.covers ?? doc.snapshotted?.covers ?? {};
}

/** Why the relay would refuse a snapshot of `doc` published now (code and reason), if it would. */
export function snapshotProblem(doc: DocState, role: Role | undefined, agent: AgentId, covers: SessionCounts): [ErrorCode, string] | undefined {
  if (doc.deleted) return ["doc_deleted", "snapshot: the document was deleted"];
  if (doc.header?.kind === MEMBERS_KIND) return ["snapshot_refused", "snapshot: the membership log keeps every transaction; it is never snapshotted"];
  const refusal = doc.header && snapshotRefusal(role, agent, doc.header);
  if (refusal) return ["forbidden", `snapshot: ${refusal}`];
  if (Object.keys(covers).length === 0) return ["snapshot_refused", "snapshot: the relay has confirmed none of this document's transactions yet"];
  if (!coversMore(covers, newestCovers(doc))) return ["snapshot_refused", "snapshot: it would cover nothing the document's newest snapshot does not"];
  return undefined;
}

/** The app publishes a snapshot (already checked): signed, kept until answered, sent when the socket is ready. */
export function publishSnapshot(state: CoreState, doc: DocState, data: TransactionData, covers: SessionCounts, out: CoreEffect[]): void {
  const session = state.writer.session;
  // Its newest time seen, so a client that loads it stamps its next write after what it covers.
  const at = doc.lastAt;
  const snapshot: Snapshot = { doc: doc.id, session, covers, data, at, signature: signSnapshot(state.writer.secretKey, doc.id, session, covers, data, at) };
  doc.pendingSnapshots.push({ snapshot, key: snapshotKey(doc.id, covers) });
  if (state.phase === "ready") send(state, out, snapshotMessage(snapshot));
}

/** A fresh socket is ready: the snapshots not answered yet go again (the relay answers a repeat with `snapshotted`). */
export function resendSnapshots(state: CoreState, out: CoreEffect[]): void {
  for (const doc of state.docs.values()) for (const pending of doc.pendingSnapshots) send(state, out, snapshotMessage(pending.snapshot));
}

// The schema's bytes are Uint8Array<ArrayBuffer>; the SDK's own copies always are.
const snapshotMessage = (snapshot: Snapshot): SnapshotMessage => ({ type: "snapshot", ...snapshot, data: snapshot.data as SnapshotMessage["data"] });

/** The relay stored a snapshot: its author (this client, maybe) is answered, and the document's listeners hear of it. */
export function onSnapshotted(state: CoreState, message: SnapshottedMessage, out: CoreEffect[]): void {
  const doc = state.docs.get(message.doc);
  if (!doc) return;
  const heard = { session: message.session, covers: message.covers };
  if (!doc.snapshotted || coversMore(heard.covers, doc.snapshotted.covers)) doc.snapshotted = heard;
  // Every snapshot of ours waiting that the stored one covers is done: it is ours, or one covering at least as
  // much (another author's, stored while the answer to ours was lost, say, which the relay answers with it).
  // Each waiting one covers more than the one before, so those covered are the oldest.
  let applied = false;
  while (doc.pendingSnapshots[0] && coversAll(message.covers, doc.pendingSnapshots[0].snapshot.covers)) {
    const pending = takeAnswered(doc);
    // The document now starts at it here too: what it covers need not be held (or saved) any longer.
    applied = applySnapshot(doc, state.writer, pending.snapshot) || applied;
    out.push({ type: "settle", waiter: pending.key });
  }
  out.push({ type: "changed", doc: doc.id, added: [], snapshotted: heard });
  if (applied) out.push({ type: "flush", doc: doc.id });
}

/**
 * A snapshot from the relay, its signature checked by the shell. A forged one is dropped and reported, and
 * the gap it leaves is not loaded again on this socket (the relay would send it again). A newer valid one
 * becomes what the document starts from.
 */
export function onSnapshotReceived(state: CoreState, message: SnapshotMessage, verified: boolean, out: CoreEffect[]): void {
  const doc = state.docs.get(message.doc);
  if (!doc) return;
  if (!verified) {
    doc.distrustsSnapshot = true;
    out.push({ type: "report", error: new RelayError({ code: "bad_signature", message: "a received snapshot does not verify: dropped", doc: doc.id, session: message.session }) });
    return;
  }
  doc.distrustsSnapshot = false;
  const { type: _, ...snapshot } = message;
  checkStoreBehind(state, doc, snapshot.covers, out);
  if (!applySnapshot(doc, state.writer, snapshot)) return;
  out.push({ type: "changed", doc: doc.id, added: [], snapshot, snapshotted: doc.snapshotted! }, { type: "flush", doc: doc.id });
}

/**
 * A snapshot covering more of the own session than this client holds (DocState.storeBehind), received or
 * kept in the store: told once a run, with what it costs; synced() rejects with it while own writes are unsynced.
 */
export function checkStoreBehind(state: CoreState, doc: DocState, covers: SessionCounts, out: CoreEffect[]): void {
  const own = state.writer.session;
  if (!coversPastHeld(doc, own, covers) || doc.storeBehind) return;
  const held = heldCount(doc, own);
  const covered = covers[own]!;
  const unconfirmed = ownUnconfirmed(doc, own);
  const cost = unconfirmed > 0 ? `the ${unconfirmed} ${unconfirmed === 1 ? "write" : "writes"} it holds past what the relay confirmed, and any made here from now on, cannot go up` : "writes made here from now on cannot go up";
  doc.storeBehind = new LocalStoreError(
    `the local store holds ${held} of this client's writes to ${doc.id}, fewer than the relay's snapshot covers (${covered}): the store is behind the relay's copy (restored from a backup, or saves lost in a crash or damaged on the disk), and the snapshot stands for what is missing, so ${cost}; copy what is needed into a new document`,
    { doc: doc.id, session: own },
  );
  out.push({ type: "report", error: doc.storeBehind });
  if (hasUnsynced(doc, own)) out.push({ type: "settle", waiter: `synced:${doc.id}`, error: doc.storeBehind });
}

/** The oldest snapshot waiting is answered: it leaves the queue, and a delete sent behind it is one answer nearer. */
export function takeAnswered(doc: DocState): PendingSnapshot {
  doc.snapshotsBeforeDelete = Math.max(0, doc.snapshotsBeforeDelete - 1);
  return doc.pendingSnapshots.shift()!;
}

/** Every snapshot of `doc` waiting for the relay fails with `error` (the document was deleted, the group closed). */
export function failSnapshots(doc: DocState, error: RelayError | ClosedError, out: CoreEffect[]): void {
  for (const pending of doc.pendingSnapshots.splice(0)) out.push({ type: "settle", waiter: pending.key, error });
}
