// Unsent writes of this agent's other sessions. A client that died (a closed tab, a killed process) can leave
// transactions in the shared local store that never reached the relay, and its session waits for a client to
// lease it again, which may not happen while fewer clients run at once. So any client of the same agent
// pushes such a tail as stored. The same transactions signed with the same key (Ed25519 is deterministic)
// are the same bytes, so when the session's next holder or another client pushes them too, the relay stores
// them once and answers the other push with a correction. Sessions are still only appended to by their holder.
import {
  CHUNK_TARGET_BYTES,
  GENESIS_HASH,
  MAX_TRANSACTIONS_PER_FRAME,
  WIRE_BYTES_PER_TRANSACTION,
  agentOfSession,
  chainHash,
  countOf,
  wireDataBytes,
  signCheckpoint,
  type Content,
  type DocId,
  type SessionId,
} from "../protocol/index.ts";
import type { Doc } from "./doc.ts";
import type { Identity } from "./identity.ts";

export class OrphanTails {
  readonly #identity: Identity;
  readonly #own: SessionId;
  /** Per document and session, how far a push went out on this connection (forgotten on reconnect). */
  readonly #sent = new Map<DocId, Map<SessionId, number>>();

  constructor(identity: Identity, own: SessionId) {
    this.#identity = identity;
    this.#own = own;
  }

  /** A frame per other session of this agent of which the document holds more than the relay; one in flight each. */
  take(doc: Doc): Content[] {
    // The relay must know the document (its header travels with the document's own push) and have answered its load.
    if (!doc.isLoaded || doc.deleted || !doc.relayKnown.header) return [];
    const frames: Content[] = [];
    for (const [session, held] of Object.entries(doc.known.sessions) as [SessionId, number][]) {
      if (session === this.#own || agentOfSession(session) !== this.#identity.agent) continue;
      const after = countOf(doc.relayKnown, session);
      const sent = this.#sent.get(doc.id)?.get(session) ?? 0;
      if (held <= after || sent > after) continue; // nothing to push, or a push not answered yet
      const log = doc.sessionTransactions(session);
      let end = after;
      let bytes = 0;
      while (end < held && end - after < MAX_TRANSACTIONS_PER_FRAME && bytes < CHUNK_TARGET_BYTES) bytes += wireDataBytes(log[end++]!.data) + WIRE_BYTES_PER_TRANSACTION;
      const signature = signCheckpoint(this.#identity.secretKey, doc.id, session, end, chainHash(GENESIS_HASH, log.slice(0, end)));
      frames.push({ type: "content", doc: doc.id, sessions: { [session]: { after, transactions: log.slice(after, end), signature } } });
      let sessions = this.#sent.get(doc.id);
      if (!sessions) this.#sent.set(doc.id, (sessions = new Map()));
      sessions.set(session, end);
    }
    return frames;
  }

  /** The connection dropped: what was in flight may never be answered. */
  reset(): void {
    this.#sent.clear();
  }
}
