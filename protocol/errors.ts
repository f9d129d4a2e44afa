// Stable error codes of the wire protocol, and the WebSocket close code (if any) that goes with each.
// Codes are part of the protocol: apps and the SDK branch on them, so never rename one.

export const ERROR_CLOSE_CODES = {
  /** Not JSON, not a known message, or a field of the wrong shape. */
  bad_frame: 1007,
  /** The frame is larger than MAX_FRAME_BYTES. */
  frame_too_large: 1009,
  /** The client speaks a protocol version this relay does not. Retrying will not help. */
  unsupported_version: 1002,
  /** A message other than `hello` arrived before the handshake finished. */
  not_ready: 1008,
  /** The handshake failed, or the agent may not do what it asked. */
  unauthorized: 1008,
  /** The app-issued token has expired: fetch a fresh one and connect again. */
  token_expired: 1008,
  /** The group has MAX_PEERS_PER_GROUP peers already; retry after `retryAfter` seconds. */
  too_many_peers: 1013,
  /** The peer queued more long answers than MAX_QUEUED_STREAM_ENTRIES_PER_PEER allows; retry after `retryAfter` seconds. */
  busy: 1013,
  /**
   * The peer left more than MAX_UNREAD_BYTES of what the relay sent it unconfirmed (it did not echo the
   * relay's marks; live content stops at LAGGING_UNREAD_BYTES, so the rest is acks, presence and notices: it
   * does not read at all): it is cut off rather than held in memory; connect again after `retryAfter`
   * seconds and resume, which sends only what it lacks.
   */
  too_slow: 1013,
  /**
   * The socket sent more frames than FRAMES_PER_SECOND_PER_PEER (after a burst of FRAME_BURST_PER_PEER): each
   * wakes the group's object, so a flood holds up every other peer. Closed, not told frame by frame; connect
   * again after `retryAfter` seconds and resume. The SDK paces itself under it (SDK_FRAMES_PER_SECOND).
   */
  too_many_frames: 1013,
  /** The relay failed on its side; retry with backoff. */
  internal: 1011,
  /** A checkpoint signature does not match the transactions (forged, or a broken hash chain). */
  bad_signature: null,
  /** A transaction's data is larger than MAX_TRANSACTION_BYTES, or a frame holds too many. */
  transaction_too_large: null,
  /**
   * The document has MAX_SESSIONS_PER_DOCUMENT sessions, or MAX_SESSIONS_PER_AGENT_PER_DOCUMENT of this
   * agent's; no new session (of this agent) may write to it.
   */
  too_many_sessions: null,
  /** A transaction's or a snapshot's time is more than MAX_CLOCK_AHEAD_MS ahead of the relay's clock. */
  bad_time: null,
  /** A header does not hash to the document id, names another group, or another creator. */
  bad_header: null,
  /** The agent is a member, but its role does not allow this (a reader writing, a writer deleting, or snapshotting a document it did not create). */
  forbidden: null,
  /** The document was deleted; nothing more can be written to it. */
  doc_deleted: null,
  /** Transactions for a document whose header the relay has never received. */
  unknown_doc: null,
  /** The agent already created MAX_DOCS_PER_AGENT documents, MAX_SESSIONS_PER_AGENT sessions or MAX_BYTES_PER_AGENT bytes in this group. */
  quota_exceeded: null,
  /**
   * A snapshot the relay does not take: it covers transactions the relay does not hold, covers less than
   * the document's stored snapshot, or is of a document that cannot be snapshotted (the membership log).
   */
  snapshot_refused: null,
  /** A snapshot's data is larger than MAX_SNAPSHOT_BYTES. */
  snapshot_too_large: null,
  /** Presence in a document the relay does not have, that was deleted, or that this agent may not read. */
  presence_refused: null,
  /** The peer's presence states would exceed PRESENCE_MAX_BYTES, or cover more than PRESENCE_MAX_DOCS_PER_PEER documents. */
  presence_too_large: null,
  /** Presence messages came faster than PRESENCE_UPDATES_PER_SECOND (after a burst of PRESENCE_BURST): dropped. */
  rate_limited: null,
} as const satisfies Record<string, number | null>;

export type ErrorCode = keyof typeof ERROR_CLOSE_CODES;

export const ERROR_CODES = Object.keys(ERROR_CLOSE_CODES) as ErrorCode[];

export const closeCodeOf = (code: ErrorCode): number | null => ERROR_CLOSE_CODES[code];
