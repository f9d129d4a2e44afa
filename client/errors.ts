// The errors the SDK hands apps. Every public promise settles with a result or one of these, so an app
// can branch on the class and on `code` (the relay's stable error codes, protocol/errors.ts).
import type { DocId, ErrorCode, ErrorMessage, SessionId } from "../protocol/index.ts";

/** An error the relay reported about one document, one session or the connection. */
export class RelayError extends Error {
  override readonly name: string = "RelayError";
  readonly code: ErrorCode;
  readonly doc: DocId | undefined;
  readonly session: SessionId | undefined;

  constructor(error: Pick<ErrorMessage, "code" | "message"> & { doc?: DocId | undefined; session?: SessionId | undefined }) {
    super(`${error.code}: ${error.message}`);
    this.code = error.code;
    this.doc = error.doc;
    this.session = error.session;
  }
}

/**
 * This device's local store failed: a save or a read did not succeed, or what it read was damaged on the
 * disk. Its `code` is `internal`, and it is a RelayError, so an app that branches on those hears it there
 * as before; the class tells it apart from the relay's own failures.
 */
export class LocalStoreError extends RelayError {
  override readonly name: string = "LocalStoreError";

  constructor(message: string, about: { doc?: DocId | undefined; session?: SessionId | undefined } = {}) {
    super({ code: "internal", message, ...about });
  }
}

/**
 * A local store's failure in words: its message, or its name where it has none. Chromium's IndexedDB fails a
 * write over the quota with a QuotaExceededError whose message is empty: said as what it means, name and all.
 */
export function storeFailureText(error: unknown): string {
  if (typeof error !== "object" || error === null || typeof (error as Error).message !== "string") return String(error);
  const { name, message } = error as Error;
  if (name === "QuotaExceededError") return `the device's storage is full (${message || name})`;
  return message || String(name);
}

/**
 * The SDK refused a call before anything left the device, because the relay would refuse it: `code` is
 * the code the relay would have answered with. Thrown synchronously; nothing was stored or sent.
 */
export class LocalRefusalError extends TypeError {
  override readonly name = "LocalRefusalError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/** The group's connection is closed for good (client.close(), not a member, a bad token): nothing more will happen. */
export class ClosedError extends Error {
  override readonly name = "ClosedError";
  readonly group: string;
  readonly reason: string;

  constructor(group: string, reason: string) {
    super(`group ${group} is closed: ${reason}`);
    this.group = group;
    this.reason = reason;
  }

  /** The same error made where a call meets the closed group: its stack names that call, not the close. */
  again(): ClosedError {
    return new ClosedError(this.group, this.reason);
  }
}

/** Why a connection attempt failed, as far as the SDK could tell. */
export type ConnectionFailure =
  | { kind: "refused"; detail: string }
  | { kind: "http"; status: number; body: string }
  | { kind: "closed"; code: number; detail: string }
  | { kind: "unreachable"; detail: string }
  /**
   * The app's getToken threw or rejected (its backend out of reach, say): tried again at the next attempt.
   * Or it gave what the relay would refuse (not a string, too long): the group closes for good.
   */
  | { kind: "token"; detail: string }
  /**
   * The relay sent a frame this SDK cannot take (over MAX_FRAME_BYTES, not JSON, not a message of the
   * protocol): the connection is dropped and tried again with backoff, and the app hears the first of a run.
   */
  | { kind: "bad_frame"; detail: string };

/** A connection attempt failed; the connection retries with backoff unless the failure is permanent. */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
  readonly failure: ConnectionFailure;

  constructor(failure: ConnectionFailure) {
    super(describeFailure(failure));
    this.failure = failure;
  }
}

export function describeFailure(failure: ConnectionFailure): string {
  switch (failure.kind) {
    case "refused":
      return `connection refused: ${failure.detail}`;
    case "http":
      return `HTTP ${failure.status}${failure.body ? `: ${failure.body}` : ""}`;
    case "closed":
      return `closed with ${failure.code}${failure.detail ? `: ${failure.detail}` : ""}`;
    case "unreachable":
      return `unreachable: ${failure.detail}`;
    case "token":
      return `getToken failed: ${failure.detail}`;
    case "bad_frame":
      return `the relay sent a bad frame: ${failure.detail}`;
  }
}

/** The reason an aborted signal carries, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException(String(reason ?? "aborted"), "AbortError");
}
