// Taking a snapshot from a peer (protocol/snapshot.ts), as pure functions of the relay core: the checks, in
// the order the protocol gives them, then, once the driver has verified the signature, the effects that
// store it and tell its author and the document's readers.
import {
  MAX_BYTES_PER_AGENT,
  MAX_CLOCK_AHEAD_MS,
  agentOfSession,
  coversAll,
  coversMore,
  dataBytes,
  mayRead,
  maySnapshot,
  snapshotDataHash,
  snapshotMessage,
  type ErrorCode,
  type Role,
  type SessionId,
  type SnapshotMessage,
  type Snapshotted,
} from "../../protocol/index.ts";
import { deletionRefusal, roleOf } from "./access.ts";
import type { Effect } from "./effects.ts";
import type { ReadyPeer } from "./peer-records.ts";
import type { RelayState } from "./relay-state.ts";
import type { PeerId, StoreReader } from "./store.ts";

/** Why a snapshot is refused (an `error` naming its document; none of these codes closes the connection). */
export type SnapshotRefusal = { code: ErrorCode; reason: string };

/** Why an agent may not snapshot a document it may not write, or whose creator it is not as a writer. */
const snapshotForbidden = (role: Role | undefined): string =>
  role === "writer"
    ? "only the document's creator or an admin may snapshot it: a snapshot stands for every writer's transactions, which the relay cannot check it against"
    : `a ${role ?? "non-member"} may not snapshot this document`;

/**
 * Checks a snapshot a peer sent: the effects that go on with it (its signature's check, or for an identical
 * re-send of the stored one, `snapshotted` again), or why it is refused.
 */
export function takeSnapshot(peer: ReadyPeer, snapshot: SnapshotMessage, now: number, store: StoreReader, role = roleOf(peer, store)): Effect[] | SnapshotRefusal {
  const { doc, session, covers } = snapshot;
  if (agentOfSession(session) !== peer.agent) return { code: "forbidden", reason: "a snapshot's session must be the sending agent's" };
  const gone = deletionRefusal(role, peer.agent, doc, store);
  // To an agent that may not read it, refused in the very words a live one it may not read would be.
  if (gone) return gone.code === "forbidden" ? { code: "forbidden", reason: snapshotForbidden(role) } : gone;
  const header = store.header(doc);
  if (!header) return { code: "unknown_doc", reason: "no such document" };
  if (doc === store.info().membersDoc) return { code: "snapshot_refused", reason: "the membership log cannot be snapshotted" };
  // Judged as the snapshot arrives: an admin demoted while its snapshot was on its way is refused.
  if (!maySnapshot(role, peer.agent, header)) return { code: "forbidden", reason: snapshotForbidden(role) };
  if (snapshot.at !== undefined && snapshot.at > now + MAX_CLOCK_AHEAD_MS) return { code: "bad_time", reason: `a snapshot's time is more than ${MAX_CLOCK_AHEAD_MS} ms ahead of the relay's clock` };
  // Data covering no transaction would be shown beside the whole log it stands for nothing of.
  const entries = Object.entries(covers) as [SessionId, number][];
  if (!entries.some(([, count]) => count > 0)) return { code: "snapshot_refused", reason: "a snapshot must cover at least one transaction" };
  // Each entry is looked up below, stored and served to every loader: before any lookup, covers may name
  // only sessions it covers something of, and no more of them than the document holds.
  if (entries.some(([, count]) => count === 0)) return { code: "snapshot_refused", reason: "a snapshot's covers may name only sessions it covers transactions of (no count of 0)" };
  if (entries.length > store.sessionCount(doc)) return { code: "snapshot_refused", reason: "the snapshot covers sessions the relay does not hold (more than the document has)" };
  for (const [covered, count] of entries) {
    if (count > (store.sessionHead(doc, covered)?.count ?? 0)) return { code: "snapshot_refused", reason: "the snapshot covers transactions the relay does not hold" };
  }
  const stored = store.snapshotHead(doc);
  if (stored && coversAll(stored.covers, covers)) {
    // The stored snapshot covers all this one does: it is this one sent again (its author did not hear the
    // first answer), or a newer one (another author's, stored while this one's answer was lost). Either way
    // what the author asked for is done; it hears which snapshot is stored, and nothing is written.
    return [{ type: "send", peer: peer.id, message: { type: "snapshotted", doc, session: stored.session, covers: stored.covers } }];
  }
  if (stored && !coversMore(covers, stored.covers)) {
    return { code: "snapshot_refused", reason: "the snapshot is stale: it is not newer than the stored snapshot (each covers transactions the other does not)" };
  }
  // Its data is stored as long as the document is, counted against its author's quota like a transaction's
  // (the snapshot it replaces no longer counts against its own author).
  const usage = store.usage(peer.agent);
  const freed = stored && agentOfSession(stored.session) === peer.agent ? stored.bytes : 0;
  const adds = dataBytes(snapshot.data) - freed;
  if (usage.bytes + adds > MAX_BYTES_PER_AGENT) {
    return { code: "quota_exceeded", reason: `an agent may store at most ${MAX_BYTES_PER_AGENT} bytes in a group; it holds ${usage.bytes}, and this snapshot adds ${adds}` };
  }
  const message = snapshotMessage(doc, session, covers, snapshotDataHash(snapshot.data), snapshot.at);
  const { type: _type, ...taken } = snapshot;
  return [{ type: "verify", peer: peer.id, checks: [{ publicKeyOf: peer.agent, message, signature: snapshot.signature }], then: { kind: "snapshot", snapshot: { ...taken, takenAt: now } } }];
}

/**
 * The snapshot's signature was checked: a forged one is refused (its author hears `bad_signature`, if still
 * connected); a valid one is stored, even if its author left meanwhile, and `snapshotted` goes to the author
 * (after the write, as an ack must) and to every subscriber that may read the document.
 */
export function snapshotVerified(
  state: RelayState,
  author: PeerId,
  snapshot: Extract<Effect, { type: "storeSnapshot" }>["snapshot"],
  valid: boolean,
  store: StoreReader,
): Effect[] {
  const { doc, session, covers } = snapshot;
  const connected = state.peers.has(author);
  if (!valid) {
    if (!connected) return [];
    return [{ type: "send", peer: author, message: { type: "error", code: "bad_signature", message: "the snapshot's signature does not match its document, covered state and data; it was not stored", doc } }];
  }
  const header = store.header(doc);
  if (!header) return []; // deleted while its signature was checked (not possible today: events run one at a time)
  const done: Snapshotted = { type: "snapshotted", doc, session, covers };
  const effects: Effect[] = [{ type: "storeSnapshot", snapshot }];
  if (connected) effects.push({ type: "send", peer: author, message: done });
  for (const id of store.subscribers(doc)) {
    const peer = state.peers.get(id);
    if (id === author || peer?.phase !== "ready") continue;
    if (peer.token && snapshot.takenAt >= peer.token.expiresAt) continue;
    if (mayRead(roleOf(peer, store), peer.agent, header)) effects.push({ type: "send", peer: id, message: done });
  }
  return effects;
}
