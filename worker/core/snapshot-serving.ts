// Serving a document's snapshot to a peer that lacks part of what it covers, in place of the covered
// transactions: when some of those were pruned, or when the snapshot is smaller than they are.
import { WIRE_BYTES_PER_TRANSACTION, dataBytes, type DocId, type KnownState, type ServerMessage, type SessionId, type SnapshotMessage } from "../../protocol/index.ts";
import type { GroupStore } from "./store.ts";

/**
 * Whether the peer holding `have` gets the document's snapshot: it lacks some of what the snapshot covers,
 * and either part of that was pruned, or the snapshot's data is smaller than the covered transactions it
 * lacks (estimated from each session's stored bytes per transaction, plus their envelope on the wire).
 */
export function servesSnapshot(store: GroupStore, doc: DocId, have: KnownState): boolean {
  const snapshot = store.snapshotHead(doc);
  if (!snapshot) return false;
  const lacking = (Object.entries(snapshot.covers) as [SessionId, number][]).filter(([session, count]) => count > (have.sessions[session] ?? 0));
  if (lacking.length === 0) return false;
  const extents = store.sessionExtents(doc);
  let bytes = 0;
  for (const [session, covered] of lacking) {
    const extent = extents.get(session);
    if (!extent) continue;
    const from = have.sessions[session] ?? 0;
    if (from < extent.firstStored) return true;
    const lacked = covered - from;
    bytes += (extent.count > 0 ? (extent.bytes * lacked) / extent.count : 0) + lacked * WIRE_BYTES_PER_TRANSACTION;
  }
  return snapshot.bytes < bytes;
}

/** What a snapshot weighs against a slice's budget of rows: one, and one more per KiB of its data. */
const SNAPSHOT_BYTES_PER_ROW = 1024;

/**
 * Sends the snapshot, preceded by the header if the peer lacks it (a `content` of the header alone), and
 * advances `have` to include what it covers: the transactions after it follow as a plain delta. Returns
 * its weight in rows, so a slice sends only a few MB of snapshots (an open: 5,000 rows, about 6 of the largest).
 */
export function sendSnapshot(store: GroupStore, doc: DocId, have: KnownState, emit: (message: ServerMessage) => void): number {
  const snapshot = store.readSnapshot(doc);
  if (!snapshot) return 0;
  if (!have.header) {
    const header = store.header(doc);
    if (header) emit({ type: "content", doc, header, sessions: {} });
    have.header = true;
  }
  const { session, covers, at, signature } = snapshot;
  emit({ type: "snapshot", doc, session, covers, data: snapshot.data as SnapshotMessage["data"], ...(at === undefined ? {} : { at }), signature });
  for (const [session, count] of Object.entries(snapshot.covers) as [SessionId, number][]) {
    if (count > (have.sessions[session] ?? 0)) have.sessions[session] = count;
  }
  return 1 + Math.floor(dataBytes(snapshot.data) / SNAPSHOT_BYTES_PER_ROW);
}
