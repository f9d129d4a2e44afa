// Who hears an error the relay sent. Pure: the error and a few facts about the client in, a route out.
// The relay judges a socket's messages in order and names the document an error is about, so the state
// of that document tells what the error answers: its load, its delete, or its pushed writes.
import type { ErrorCode, ErrorMessage } from "../protocol/index.ts";

/**
 * Codes that refuse one document's load or writes for good: retrying the same thing gets the same answer
 * (until the agent's role changes, or it deletes documents to come under its quota).
 */
export const PERMANENT_REFUSALS: readonly ErrorCode[] = ["forbidden", "doc_deleted", "bad_signature", "bad_header", "bad_time", "transaction_too_large", "too_many_sessions", "quota_exceeded"];

/** Codes the relay refuses a delete with (besides doc_deleted, which deletes): presence, writes and snapshots get others. */
const DELETE_REFUSALS: readonly ErrorCode[] = ["forbidden", "unknown_doc"];

/** Codes the relay answers a whole frame with when it could not tell which document it was about. */
const FRAME_REFUSALS: readonly ErrorCode[] = ["bad_frame", "transaction_too_large", "frame_too_large"];

export type ErrorFacts = {
  /** The client holds the document the error names. */
  held: boolean;
  /** Its load was sent and not answered yet: the error answers the load (an `open()`). */
  awaitingLoad: boolean;
  /**
   * Loaded before, its load on this socket is not answered yet (a reconnect): a `forbidden` answers that
   * load too (it refuses the writes either way), so the group can go live.
   */
  reloading?: boolean;
  /** A delete of it is waiting for the relay. */
  deleting: boolean;
  /** The client holds its header and could give it to the relay again: this agent created it. */
  creates?: boolean;
};

export type ErrorRoute =
  /** The document is deleted: the client forgets it (writes it held are reported as refused first). */
  | { kind: "deleted" }
  /** The relay will not let this client read the document: `open()` rejects, nothing more is asked. */
  | { kind: "loadRefused" }
  /** The relay refused the delete this client asked for. */
  | { kind: "deleteRefused" }
  /** The relay lost a document this client created: the header and own writes go up again. */
  | { kind: "relayLost" }
  /** The relay refused own writes of the document: they leave the push path until discarded. */
  | { kind: "writesRefused" }
  /** A frame was refused without naming a document: what was in flight is suspect (see quarantine.ts). */
  | { kind: "frameRefused" }
  /** Nothing to settle: listeners hear it, that is all. */
  | { kind: "report" };

/**
 * Codes only a snapshot is refused with; the others it may get, the document's writes may get too (a
 * snapshot's data counts against its author's quota, so `quota_exceeded` among them).
 */
const SNAPSHOT_REFUSALS: readonly ErrorCode[] = ["snapshot_refused", "snapshot_too_large"];
const SHARED_REFUSALS: readonly ErrorCode[] = ["forbidden", "bad_signature", "unknown_doc", "quota_exceeded"];

/**
 * Whether an error about a document with a published snapshot waiting answers that snapshot: a code only
 * snapshots get, or one writes and loads get too while neither is waiting for an answer. `writable`: the
 * role the relay last said lets this agent write the document, so a `forbidden` refuses neither its writes
 * nor its load, only a snapshot (an admin made a writer while its snapshot was on its way: the relay sends
 * the new role before it judges the snapshot).
 */
export function answersSnapshot(code: ErrorCode, facts: { writesInFlight: boolean; awaitingLoad: boolean; writable: boolean }): boolean {
  if (SNAPSHOT_REFUSALS.includes(code)) return true;
  if (code === "forbidden" && facts.writable) return true;
  return SHARED_REFUSALS.includes(code) && !facts.writesInFlight && !facts.awaitingLoad;
}

export function routeError(error: Pick<ErrorMessage, "code" | "doc">, facts: ErrorFacts): ErrorRoute {
  if (!error.doc) return FRAME_REFUSALS.includes(error.code) ? { kind: "frameRefused" } : { kind: "report" };
  if (facts.deleting && DELETE_REFUSALS.includes(error.code)) return { kind: "deleteRefused" };
  if (error.code === "doc_deleted") return { kind: "deleted" };
  if (!facts.held) return { kind: "report" };
  if ((facts.awaitingLoad || facts.reloading) && error.code === "forbidden") return { kind: "loadRefused" };
  // The relay answers `unknown_doc` to a push only of a document it does not hold (a load it answers with no
  // header): for one this client created, and so pushed before, that means the relay lost it.
  if (error.code === "unknown_doc" && facts.creates) return { kind: "relayLost" };
  // Of one another agent created (its store shared, or the app's identity changed since), only that agent
  // can give the relay the header: the writes wait for it, refused, rather than hang unsynced.
  if (error.code === "unknown_doc" && !facts.awaitingLoad) return { kind: "writesRefused" };
  if (PERMANENT_REFUSALS.includes(error.code)) return { kind: "writesRefused" };
  return { kind: "report" };
}
