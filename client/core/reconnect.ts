// The connection's decisions, as pure functions of a small state: when to reconnect and how soon, what an
// error from the relay means for the socket (refresh an expired token, wait out a relay of another protocol
// version, stop for good, or hand it to the group), whether a bad frame from the relay is told to the app,
// and what a failed attempt says. Connection (connection.ts) owns the socket and the timers and
// asks these; time and randomness come in as arguments.
import { UNSUPPORTED_VERSION_RETRY_MS, closeCodeOf, isTokenRefusal, type ErrorMessage } from "../../protocol/index.ts";
import { backoffDelay, type BackoffOptions } from "../backoff.ts";
import type { ConnectionFailure } from "../errors.ts";
import type { Status } from "../status.ts";

export type ReconnectState = {
  /** Failed attempts since the connection last stayed up for minUptimeMs. */
  attempt: number;
  /** When the relay last welcomed us. */
  upSince: number;
  /** The relay's retry hint, for the next delay only. */
  retryAfterMs: number;
  /** The next reconnect skips the backoff (the relay asked for a fresh token, not for patience). */
  retryNow: boolean;
  /** The wait under way is the relay's retry hint: a sibling's welcome does not cut it short. */
  waitingOnHint: boolean;
  /** Expired tokens in a row: getToken may keep handing out tokens already expired. */
  tokenRetries: number;
  /** Of those, how many were already expired at the handshake (the close reason counts them). */
  expiredAtHandshake: number;
  /** The relay refused a token at the handshake since the last welcome (its key rotated, say): getToken was asked for another once. */
  tokenRefused: boolean;
  /**
   * The relay's last refusal of this SDK's protocol version (`unsupported_version: ...`), from the first of a
   * run of refusals until a welcome: the app hears the first one only.
   */
  versionRefusal: string | undefined;
  /**
   * The relay sent a frame this client could not take (over MAX_FRAME_BYTES, not JSON, not a message of
   * the protocol), from the first of a run of such frames until a connection stays live for minUptimeMs:
   * the app hears the first one only.
   */
  badFrame: boolean;
  /** When the socket now up went live (every load answered); unset until it does. */
  liveSince: number | undefined;
};

export const initialReconnect = (): ReconnectState => ({
  attempt: 0,
  upSince: 0,
  retryAfterMs: 0,
  retryNow: false,
  waitingOnHint: false,
  tokenRetries: 0,
  expiredAtHandshake: 0,
  tokenRefused: false,
  versionRefusal: undefined,
  badFrame: false,
  liveSince: undefined,
});

/** What an error frame from the relay does to the connection. */
export type ErrorDecision =
  /** Stop for good: no retry can help. */
  | { type: "close"; reason: string }
  /** Drop the socket and reconnect (at once the first time), asking getToken for a fresh token. */
  | { type: "refresh"; reason: string }
  /** Drop the socket and try again after UNSUPPORTED_VERSION_RETRY_MS; `report`: the first refusal of a run. */
  | { type: "wait"; reason: string; report: boolean }
  /**
   * The group hears it; `drop`: the relay closes the socket behind it (busy, too_slow, internal), so the
   * connection goes down now, and its close, which would only tell the app again, goes unheard.
   */
  | { type: "pass"; drop: boolean };

export function welcomed(state: ReconnectState, now: number): void {
  state.upSince = now;
  state.tokenRetries = 0;
  state.expiredAtHandshake = 0;
  state.tokenRefused = false;
  state.versionRefusal = undefined;
  state.liveSince = undefined;
}

/** Every load of the socket now up is answered: the group is in sync with the relay. */
export function wentLive(state: ReconnectState, now: number): void {
  state.liveSince ??= now;
}

/** Whether the socket now up has been live for minUptimeMs: what ends a run of bad frames. */
const stayedLive = (state: ReconnectState, now: number, minUptimeMs: number): boolean => state.liveSince !== undefined && now - state.liveSince >= minUptimeMs;

/**
 * The relay sent a frame this client cannot take, and the socket is given up: whether the app hears it.
 * Such a frame is the relay's fault (a bug, a bad deploy) or what it stored (one relay let a transaction
 * in that it then could not send), so the next socket most likely gets it again, at the same point of
 * the catch-up: the client keeps trying with backoff, since a relay deploy may mend it, but the app hears
 * the first of the run only, not every retry. The run ends once a socket stayed live for minUptimeMs (a
 * welcome alone does not end it: the bad frame comes after the welcome, in the answers).
 */
export function badFrameDecision(state: ReconnectState, facts: { now: number; minUptimeMs: number }): { report: boolean } {
  const report = !state.badFrame || stayedLive(state, facts.now, facts.minUptimeMs);
  state.badFrame = true;
  state.liveSince = undefined;
  // Within a run, a socket that took longer than minUptimeMs to reach the bad frame (a long catch-up) did
  // not stay up: the backoff goes on growing (reconnectDelay), rather than starting over at every retry.
  if (!report) state.upSince = facts.now;
  return { report };
}

export function relayErrorDecision(state: ReconnectState, error: ErrorMessage, facts: { status: Status; canRefresh: boolean }): ErrorDecision {
  if (error.retryAfter !== undefined) state.retryAfterMs = error.retryAfter * 1000;
  // An expired token is not fatal when the app can hand out a fresh one: reconnect at once, and the
  // handshake asks getToken again. Without getToken, or when getToken keeps returning tokens already
  // expired at the handshake, no retry can help: the client stops and says why.
  if (error.code === "token_expired") {
    if (!facts.canRefresh) return { type: "close", reason: `token_expired: ${error.message} (pass getToken to refresh it)` };
    if (facts.status === "authenticating") state.expiredAtHandshake++;
    if (facts.status === "authenticating" && state.tokenRetries >= 2) return { type: "close", reason: `token_expired: getToken returned a token already expired at the handshake ${state.expiredAtHandshake} times in a row (is the clock of the backend that mints them behind?)` };
    state.retryNow = state.tokenRetries++ === 0;
    return { type: "refresh", reason: `token_expired: ${error.message}` };
  }
  // A relay of another protocol version (deployed ahead of the app's bundle, or rolled back) refuses every
  // attempt until one side changes. Closing the group would lose the writes made meanwhile: it stays usable
  // as offline and asks again after a long wait; the app hears it once, to ask the user to reload.
  if (error.code === "unsupported_version") {
    const report = state.versionRefusal === undefined;
    state.versionRefusal = `${error.code}: ${error.message}`;
    state.retryAfterMs = UNSUPPORTED_VERSION_RETRY_MS;
    return { type: "wait", reason: state.versionRefusal, report };
  }
  // A token the relay refused at the handshake (signed with a key it no longer takes, after a rotation) may
  // be one the app cached: getToken is asked for another once, told why (GetToken's `refused`), before
  // the group closes. The same refusal again closes it.
  if (error.code === "unauthorized" && facts.status === "authenticating" && facts.canRefresh && isTokenRefusal(error.message) && !state.tokenRefused) {
    state.tokenRefused = true;
    state.retryNow = true;
    return { type: "refresh", reason: `${error.code}: ${error.message}` };
  }
  // Errors that no retry can fix: the client stops and says why. `unauthorized` on a live socket is a
  // removal from the group: connecting again would only hear it once more.
  if (error.code === "unauthorized") return { type: "close", reason: `${error.code}: ${error.message}` };
  return { type: "pass", drop: closeCodeOf(error.code) !== null };
}

/**
 * The socket went down with status `from`: how long to wait before the next attempt. A connection that
 * stayed up for minUptimeMs starts the backoff over; a retry hint from the relay is obeyed once.
 */
export function reconnectDelay(state: ReconnectState, facts: { from: Status; now: number; random: number; backoff: BackoffOptions }): number {
  const wasUp = (facts.from === "live" || facts.from === "syncing") && facts.now - state.upSince >= facts.backoff.minUptimeMs;
  if (wasUp) state.attempt = 0;
  // A socket that stayed live for minUptimeMs ends a run of bad frames: the next one is told, though it
  // comes before its socket is live (badFrameDecision).
  if (facts.from === "live" && stayedLive(state, facts.now, facts.backoff.minUptimeMs)) state.badFrame = false;
  const delay = state.retryNow ? 0 : backoffDelay(facts.backoff, state.attempt++, facts.random, state.retryAfterMs);
  state.waitingOnHint = !state.retryNow && state.retryAfterMs > 0;
  state.retryAfterMs = 0;
  state.retryNow = false;
  return delay;
}

/**
 * Another group of the same client, on the same relay, was just welcomed: the relay is back (a restart,
 * the network), so a connection waiting out its backoff tries now, its backoff started over, rather than
 * each of hundreds of groups finding out on its own over the next 30 s. Whether to; not while the wait is
 * the relay's own retry hint (it asked this group's object for patience), unless the wait is for a relay of
 * this version (the welcome says it speaks it now).
 */
export function siblingWelcomed(state: ReconnectState): boolean {
  if (state.waitingOnHint && state.versionRefusal === undefined) return false;
  state.attempt = 0;
  return true;
}

/** A socket that opened and then closed: the relay's close code and reason. */
export const closedFailure = (code: number, reason: string): ConnectionFailure => ({ kind: "closed", code, detail: reason });

/** A socket that failed before it opened, with nothing more known (no probe). */
export const unopenedFailure = (reason: string): ConnectionFailure => ({ kind: "unreachable", detail: `the connection failed before it opened${reason ? `: ${reason}` : ""}` });

/** What one GET of the socket's URL says about a socket that failed before it opened. */
export function probeFailure(probe: { status: number; body: string } | { error: { message: string; cause?: { code?: string; message?: string } } }, host: string): ConnectionFailure {
  if ("error" in probe) {
    const cause = probe.error.cause;
    if (cause?.code === "ECONNREFUSED") return { kind: "refused", detail: `nothing listens at ${host}` };
    return { kind: "unreachable", detail: cause?.message ?? probe.error.message };
  }
  // 426 is the relay's answer to a GET without Upgrade: the URL is right, the WebSocket itself failed.
  if (probe.status === 426) return { kind: "unreachable", detail: "the WebSocket handshake failed, though the relay answers at this URL" };
  // A relay answers no GET of a socket's URL with success: something else serves this address (a page server).
  const body = probe.status < 400 ? `not a Weft relay (a page server's port?): ${probe.body}` : probe.body;
  return { kind: "http", status: probe.status, body: body.slice(0, 300) };
}
