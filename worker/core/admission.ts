// Who may hold a socket on the group: sockets in the handshake have a deadline and a quota of their own,
// so sockets that never say hello cannot keep members out; only authenticated peers count against
// MAX_PEERS_PER_GROUP. Pure functions of the peer table and the time, used by the relay core; they look
// only at the sockets in the handshake (at most MAX_PENDING_HANDSHAKES), never the whole table.
import { HANDSHAKE_DEADLINE_MS, MAX_PENDING_HANDSHAKES } from "../../protocol/index.ts";
import type { ChallengedPeer } from "./peer-records.ts";
import type { PeerTable } from "./peer-table.ts";

/** When a socket opened at `openedAt` must have completed its hello. Records from before the deadline existed count as overdue. */
export const handshakeDeadline = (peer: ChallengedPeer): number => (peer.openedAt ?? 0) + HANDSHAKE_DEADLINE_MS;

/**
 * Sockets to close now: every one past its deadline, and, if `room` more must wait beside the rest, the
 * longest-waiting ones beyond MAX_PENDING_HANDSHAKES.
 */
export function handshakesToDrop(peers: PeerTable, now: number, room = 0): ChallengedPeer[] {
  const pending = [...peers.waiting()].sort((a, b) => handshakeDeadline(a) - handshakeDeadline(b));
  const overdue = pending.filter((peer) => handshakeDeadline(peer) <= now).length;
  const overQuota = Math.max(0, pending.length + room - MAX_PENDING_HANDSHAKES);
  return pending.slice(0, Math.max(overdue, overQuota));
}

/** The earliest deadline of a socket still in the handshake, for the next alarm. */
export function nextHandshakeDeadline(peers: PeerTable): number | undefined {
  let next: number | undefined;
  for (const peer of peers.waiting()) next = Math.min(next ?? Infinity, handshakeDeadline(peer));
  return next;
}

