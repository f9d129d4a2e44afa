// The client core's vocabulary: the state it holds, the events it is fed and the effects it asks its shell
// (group.ts) to carry out. Plain data, so a scenario can be replayed, printed and compared.
import type { DirEntry, DirRequest, DocHeader, DocId, ClientMessage, Role, ServerMessage, SessionCounts, SessionId, Snapshot, SnapshotMessage, TransactionData, Welcome } from "../../protocol/index.ts";
import type { ClosedError, LocalRefusalError, RelayError } from "../errors.ts";
import type { Quarantine } from "../quarantine.ts";
import type { DocChanges, StoredDoc } from "../storage/local-store.ts";
import type { DocState, DocTransaction, Snapshotted } from "./doc-state.ts";
import type { Writer } from "./push.ts";

/** An answer to `directory()`: what changed since the cursor asked about. */
export type Directory = {
  docs: DirEntry[];
  /** Pass as `since` to hear only of later changes. */
  cursor: number;
  /** True when the relay holds exactly what this client holds (digests matched); `docs` is then empty. */
  inSync: boolean;
};

/** A directory request in flight: the relay answers requests in order, each in one or more `dir` frames. */
export type DirectoryRequest = { id: number; request: DirRequest; entries: DirEntry[] };

/**
 * Where the socket stands, as the core needs it: `down` (nothing can be sent), `hello` (the hello is out:
 * loads and opens may follow it), `ready` (welcomed: writes may be pushed), `closed` (for good).
 */
export type Phase = "down" | "hello" | "ready" | "closed";

export type CoreState = {
  readonly group: string;
  readonly writer: Writer;
  phase: Phase;
  /** The local store's documents are taken in: a resume can say what this client holds. */
  restored: boolean;
  /** Why the group closed for good, once it did. */
  closed: ClosedError | undefined;
  /** The role the relay last said; before its first welcome, the one the local store kept (saveRole), if any. */
  role: Role | undefined;
  /** The relay has welcomed this client at least once: its role and membership log are known from it. */
  welcomed: boolean;
  membersDoc: DocId | undefined;
  readonly docs: Map<DocId, DocState>;
  /** Documents whose load the relay has not answered yet: the group is live when this is empty. */
  readonly unanswered: Set<DocId>;
  /** Documents whose load went out on the current socket, so a second `open` does not ask again. */
  readonly requested: Set<DocId>;
  /** Documents an `open()` waits for. */
  readonly opening: Set<DocId>;
  /** The whole group was opened (every reconnect opens it again), and whether its `opened` is awaited. */
  readonly whole: { requested: boolean; awaiting: boolean };
  /** Deletes sent and not answered yet. */
  readonly deletes: Set<DocId>;
  directory: DirectoryRequest[];
  nextRequest: number;
  /** Finding the document behind a frame refused without a name (quarantine.ts). */
  quarantine: Quarantine<DocId>;
  /** Documents with something to push that wait for the quarantine to end. */
  readonly held: Set<DocId>;
  /** Documents with more to push that wait for acks to make room in flight (MAX_IN_FLIGHT_BYTES over the group). */
  readonly starved: Set<DocId>;
  /** A push used up the room in flight: the next waits until most of it is acked (push.ts, roomInFlight). */
  draining: boolean;
  /** The least time between a document's frames while only partial frames are to send, in ms (push.ts: Pace). */
  readonly pushIntervalMs: number;
};

/** Who a settlement is for: `synced:<doc>`, `loaded:<doc>`, `open:<doc>`, `delete:<doc>`, `openAll`, `dir:<n>`, `snapshot:<doc>:<covers>`. */
export type WaiterKey = `synced:${DocId}` | `loaded:${DocId}` | `open:${DocId}` | `delete:${DocId}` | "openAll" | `dir:${number}` | `snapshot:${DocId}:${string}`;

export type CoreEvent =
  // The local store answered (group start): what it holds of this group.
  | { type: "restored"; docs: StoredDoc[]; role?: Role }
  // `ownCuts`: the document's DocState.ownCuts when the changes were taken.
  | { type: "saved"; doc: DocId; changes: DocChanges; ownCuts: number }
  // A save found the document gone from the local store (LocalStore.save resolved "missing").
  | { type: "storeMissing"; doc: DocId }
  // Documents as stored now, read again because a client sharing the store closed with their writes unsent.
  /** Documents as the store holds them now; `opening`, one that open() asked for, is taken in even if not held. */
  | { type: "storedTails"; docs: StoredDoc[]; opening?: DocId }
  // Received checkpoints of a verified chain that failed (the signature checks are async: the shell runs them).
  | { type: "unverified"; doc: DocId; sessions: SessionId[] }
  // The socket: the hello went out, the relay welcomed us, a message arrived, it went down, it closed for good.
  | { type: "helloSent" }
  | { type: "welcome"; welcome: Welcome }
  /** Presence goes beside the core, to client/presence.ts: nothing of it is stored or acknowledged. A snapshot comes as `snapshotReceived`. */
  | { type: "message"; message: Exclude<ServerMessage, { type: "challenge" | "welcome" | "pong" | "mark" | "presence" | "snapshot" }> }
  // A snapshot from the relay, with whether its signature verified (an async check the shell runs first).
  | { type: "snapshotReceived"; snapshot: SnapshotMessage; verified: boolean }
  | { type: "down" }
  | { type: "closed"; error: ClosedError }
  // The app's calls (already checked locally by the shell).
  | { type: "create"; id: DocId; header: DocHeader; members?: boolean }
  | { type: "append"; doc: DocId; data: TransactionData; now: number }
  | { type: "open"; doc: DocId }
  | { type: "openAll" }
  | { type: "delete"; doc: DocId }
  | { type: "directory"; request: DirRequest }
  | { type: "discardRefused"; doc: DocId }
  | { type: "retryRefused"; doc: DocId }
  /** Publish a snapshot of `doc` covering `covers` (checked by the shell: coversOf, snapshotProblem). */
  | { type: "snapshot"; doc: DocId; data: TransactionData; covers: SessionCounts }
  // The shell saved what the documents lacked (or a paced push is due): push what the relay lacks. `now` is a
  // monotonic clock in ms (performance.now()), which pacing reads: a wall clock set back would stall it.
  | { type: "push"; docs: DocId[]; now: number };

export type CoreEffect =
  | { type: "send"; message: ClientMessage }
  /** The connection's status: back to `syncing` (a load went out), or `live` (every load answered). */
  | { type: "status"; to: "syncing" | "live" }
  /** Drop the socket and start over on a fresh one. */
  | { type: "drop"; reason: string }
  /**
   * The relay refused a write's time as too far ahead (bad_time); the newest time the document holds is `at`.
   * If this client's idea of the relay's clock would still stamp that (a device clock set forward since it
   * was heard: relay-clock.ts), the socket is dropped so the next challenge says it again; once it was
   * heard again, later refusals of what was stamped before drop nothing.
   */
  | { type: "timeRefused"; at: number }
  /** Save what the local store lacks of `doc`, then push (the shell gathers a tick's documents into one flush). */
  | { type: "flush"; doc: DocId }
  /** Push `doc` again at `at` (the push event's clock): a partial frame waits for the pace (push.ts), with nothing else to wake it. */
  | { type: "pushAt"; doc: DocId; at: number }
  /** Forget `doc` in the local store; `report` says whether a failure goes to onError. */
  // `announce`: the clients sharing the store are told (LocalStore.announceUnsent), so one that still holds it saves it again.
  | { type: "removeLocal"; doc: DocId; report: boolean; announce?: boolean }
  /** Cut `session` of `doc` short in the local store, at `keep` transactions (refused writes discarded, or own writes moved after the relay's), then flush it. */
  | { type: "cutLocal"; doc: DocId; session: SessionId; keep: number; report: boolean }
  | { type: "settle"; waiter: WaiterKey; error?: RelayError | ClosedError }
  /** This agent's role in the group changed from the one it had: onRole hears it. */
  | { type: "role"; role: Role }
  /** Keep this agent's role in the local store (saveRole), for a start before the relay says it. */
  | { type: "keepRole"; role: Role }
  /** Directory answers carry a value. */
  | { type: "answer"; waiter: `dir:${number}`; directory: Directory }
  /**
   * The document changed: its listeners hear `added` (empty when only its header or state changed), what
   * it no longer holds (`removed`: refused writes discarded), the snapshot it now starts from when one was
   * received, and that the relay stored a snapshot (`snapshotted`).
   */
  | { type: "changed"; doc: DocId; added: DocTransaction[]; removed?: DocTransaction[]; snapshot?: Snapshot; snapshotted?: Snapshotted }
  /** Own writes of `doc` were refused (or found refusable in the store): onRefused listeners hear them once. */
  | { type: "refused"; doc: DocId; error: RelayError | LocalRefusalError; transactions: DocTransaction[]; wholeDocument: boolean }
  /** The core stopped holding `doc`. */
  | { type: "forget"; doc: DocId }
  | { type: "report"; error: RelayError };

export function assertNever(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
