// What the relay remembers of each socket, small enough for its WebSocket attachment (2 KiB in production),
// so it outlives the object's hibernation: the peer's record (in the handshake, or an agent's session) and
// what it shows in presence.
import type { AgentId, CompressionFormat, DocId, Role, SessionId } from "../../protocol/index.ts";
import type { PeerId } from "./store.ts";

/** A role granted by an app-issued token rather than the membership log, until it expires. */
export type TokenGrant = { role: Role; expiresAt: number };

export type ReadyPeer = {
  id: PeerId;
  phase: "ready";
  agent: AgentId;
  session: SessionId;
  token?: TokenGrant;
  /**
   * Loads of documents the relay did not have, each holding a subscription row: counted until the document
   * is created, or the peer leaves.
   */
  waitingLoads?: number;
  /** The peer inflates compressed frames (its hello's `inflate`): its large frames go compressed. */
  compression?: CompressionFormat;
  /**
   * It pings at least every PRESENCE_PING_MS (its hello's `pings`): while it shows presence, silence for
   * PRESENCE_SILENT_MS means it is gone (silent-peers.ts).
   */
  pings?: true;
};

/** A socket that was sent its challenge at `openedAt` and has not completed its hello yet. */
export type ChallengedPeer = { id: PeerId; phase: "challenged"; nonce: string; openedAt: number };

/** What the relay remembers of a peer; small enough for a WebSocket attachment (2 KiB). */
export type PeerRecord = ChallengedPeer | ReadyPeer;

/**
 * What one peer shows and its rate budget, as its socket attachment keeps it. States are UTF-8 JSON bytes:
 * an attachment is bounded in bytes (2,048 in production, the peer's record included), and a string with
 * any character past Latin-1 would take two bytes per character there.
 */
export type SavedPresence = { states: Record<DocId, Uint8Array>; tokens: number; at: number };
