// The relay core's vocabulary: the events it is fed and the effects it asks its driver to carry out.
// All plain data, so a scenario can be replayed, printed and compared.
import type { AgentId, ClientMessage, CompressionFormat, DocId, GroupId, KnownState, Role, ServerMessage, SessionId } from "../../protocol/index.ts";
import type { PeerRecord, SavedPresence } from "./peer-records.ts";
import type { PeerId, SessionAppend, StoredSnapshot, Write } from "./store.ts";

/** What checking an app-issued token found. */
export type TokenResult =
  | { ok: true; agent: AgentId; group: GroupId; role: Role; expiresAt: number }
  | { ok: false; code: "unauthorized" | "token_expired" | "internal"; reason: string };

/** Who is asking, for the effects that must filter what they send by what the peer may read. */
export type Reader = { agent: AgentId; role: Role };

/** A signature the driver must check (asynchronously) before the core goes on. */
export type SignatureCheck = { publicKeyOf: AgentId; message: Uint8Array; signature: string };

/** What to do once the signatures are checked: the core's own continuation, as data. */
export type Continuation =
  | { kind: "hello"; agent: AgentId; session: SessionId; token?: string; compression?: CompressionFormat; pings?: true }
  | { kind: "content"; write: Write; pending: SessionAppend[] }
  | { kind: "snapshot"; snapshot: StoredSnapshot };

export type RelayEvent =
  | { type: "opened"; peer: PeerId; nonce: string; now: number }
  /**
   * The alarm the driver set for a `wakeAt` effect went off. `pingedAt`: when the runtime last answered a
   * ping of each peer watched for silence (silent-peers.ts), by itself, for those whose ping it answered.
   */
  | { type: "alarm"; now: number; pingedAt?: ReadonlyMap<PeerId, number> }
  | { type: "frame"; peer: PeerId; frame: string | ArrayBuffer | Uint8Array; now: number }
  /** One message of a batch frame. */
  | { type: "message"; peer: PeerId; message: ClientMessage; now: number }
  | { type: "verified"; peer: PeerId; then: Continuation; valid: boolean[]; token?: TokenResult }
  | { type: "closed"; peer: PeerId };

export type Effect =
  | { type: "send"; peer: PeerId; message: ServerMessage }
  /** What the peer lacks of `doc` given what it holds (`known`), then `known {reason: "load"}`. */
  | { type: "sendLoad"; peer: PeerId; doc: DocId; known: KnownState }
  | { type: "sendDirectory"; peer: PeerId; since: number; reader: Reader; ownDigest?: boolean; digest?: string }
  /** The documents of an `open` (part) whose ids sort in (after, through]; `opened` follows the last part. */
  | { type: "sendGroup"; peer: PeerId; known: Record<DocId, KnownState>; reader: Reader; after?: DocId; through?: DocId }
  /** The peer read what its long answers sent before the mark `id`: they may go on (answer-window.ts). */
  | { type: "marked"; peer: PeerId; id: string }
  | { type: "verify"; peer: PeerId; checks: SignatureCheck[]; then: Continuation }
  | { type: "commit"; write: Write }
  /** Store a document's snapshot in place of the one it had; pruning what it covers waits for the retention. */
  | { type: "storeSnapshot"; snapshot: StoredSnapshot }
  | { type: "deleteDoc"; doc: DocId; now: number }
  | { type: "subscribe"; peer: PeerId; doc: DocId | "*" }
  | { type: "unsubscribe"; peer: PeerId; doc: DocId }
  | { type: "forgetPeer"; peer: PeerId }
  | { type: "savePeer"; peer: PeerRecord }
  /** Keep a peer's presence beside its record in the socket attachment (never in storage). */
  | { type: "savePresence"; peer: PeerId; presence: SavedPresence }
  | { type: "close"; peer: PeerId; code: number; reason: string }
  /** Wake the object at `at` (an alarm, never a timer: the object must stay able to hibernate). */
  | { type: "wakeAt"; at: number }
  /** A batch frame: each of its messages is an event of its own, after the one before has been handled. */
  | { type: "handleEach"; peer: PeerId; messages: ClientMessage[]; now: number };

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
