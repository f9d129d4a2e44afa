// What a step of the relay core returns, and the small pieces every handler builds it from: the state with a
// peer set or gone, and an error frame with, for codes that end the connection, the close.
import { closeCodeOf, type DocId, type ErrorCode, type SessionId } from "../../protocol/index.ts";
import type { Effect } from "./effects.ts";
import type { PeerRecord } from "./peer-records.ts";
import type { RelayState } from "./relay-state.ts";
import type { PeerId } from "./store.ts";

export type Step = { state: RelayState; effects: Effect[] };

export const unchanged = (state: RelayState, effects: Effect[] = []): Step => ({ state, effects });

/** The state with `peer`'s record set; the peer table is updated in place (peer-table.ts says why). */
export function withPeer(state: RelayState, peer: PeerRecord): RelayState {
  state.peers.set(peer);
  return state;
}

export function withoutPeer(state: RelayState, id: PeerId): RelayState {
  state.peers.delete(id);
  state.frames.forget(id);
  return state;
}

type ErrorExtra = { doc?: DocId; session?: SessionId; retryAfter?: number };

export const errorEffect = (peer: PeerId, code: ErrorCode, message: string, extra: ErrorExtra = {}): Effect => ({
  type: "send",
  peer,
  message: { type: "error", code, message, ...extra },
});

/** An error frame, and for codes that end the connection, the close; the peer is forgotten at once. */
export function refuse(state: RelayState, peer: PeerId, code: ErrorCode, message: string, extra: ErrorExtra = {}): Step {
  const effects: Effect[] = [errorEffect(peer, code, message, extra)];
  const closeCode = closeCodeOf(code);
  if (closeCode === null) return unchanged(state, effects);
  effects.push({ type: "close", peer, code: closeCode, reason: code }, { type: "forgetPeer", peer });
  return { state: withoutPeer(state, peer), effects };
}
