// The relay core's vocabulary: the events it is fed and the effects it asks its driver to carry out.
// All plain data, so a scenario can be replayed, printed and compared.
import type { AgentId, DocId, GroupId, Range, ServerMessage, SessionId } from "../../protocol/index.ts";
import type { PeerId, SessionAppend, Write } from "./store.ts";

/** What the relay remembers of a peer; small enough for a WebSocket attachment (2 KiB). */
export type PeerRecord =
  | { id: PeerId; phase: "challenged"; nonce: string }
  | { id: PeerId; phase: "ready"; agent: AgentId; session: SessionId };

export type RelayState = { readonly group: GroupId; readonly peers: ReadonlyMap<PeerId, PeerRecord> };

/** A signature the driver must check (asynchronously) before the core goes on. */
export type SignatureCheck = { publicKeyOf: AgentId; message: Uint8Array; signature: string };

/** What to do once the signatures are checked: the core's own continuation, as data. */
export type Continuation =
  | { kind: "hello"; agent: AgentId; session: SessionId }
  | { kind: "content"; write: Write; pending: SessionAppend[] };

export type RelayEvent =
  | { type: "opened"; peer: PeerId; nonce: string; peerCount: number }
  | { type: "frame"; peer: PeerId; frame: string | ArrayBuffer; now: number }
  | { type: "verified"; peer: PeerId; then: Continuation; valid: boolean[] }
  | { type: "closed"; peer: PeerId };

export type Effect =
  | { type: "send"; peer: PeerId; message: ServerMessage }
  | { type: "sendDelta"; peer: PeerId; doc: DocId; header: boolean; ranges: Range[] }
  | { type: "sendDirectory"; peer: PeerId }
  | { type: "verify"; peer: PeerId; checks: SignatureCheck[]; then: Continuation }
  | { type: "commit"; write: Write }
  | { type: "subscribe"; peer: PeerId; doc: DocId }
  | { type: "unsubscribe"; peer: PeerId; doc: DocId }
  | { type: "forgetPeer"; peer: PeerId }
  | { type: "savePeer"; peer: PeerRecord }
  | { type: "close"; peer: PeerId; code: number; reason: string };

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
