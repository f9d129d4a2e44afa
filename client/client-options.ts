// What createClient's options may be, checked at the call: a wrong value from plain JavaScript (a typo'd
// name, NaN, a string where a function goes) fails there with a TypeError that names it, not later inside
// a reconnect, where it would throw uncaught, loop without a pause, or be ignored.
import { MAX_PUSH_INTERVAL_MS, agentOfSession, isSessionId } from "../protocol/index.ts";
import { checkIdentity, checkKnownOptions, checkRelayUrl, describe, shown } from "./local-checks.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

/** Every option createClient takes. */
const OPTIONS = ["url", "identity", "store", "session", "backoff", "pingIntervalMs", "pingTimeoutMs", "connectTimeoutMs", "WebSocket", "random", "getToken", "compression", "fetch", "pushIntervalMs"];
const BACKOFF = ["baseMs", "capMs", "minUptimeMs"];
/** The methods a LocalStore must have (the others are optional). */
const STORE_METHODS = ["leaseSession", "loadGroup", "save", "remove", "close"];
/** What the client calls on a socket: a WebSocket class's prototype has them, as do the sockets it makes. */
const SOCKET_METHODS = ["addEventListener", "send", "close"];
/** The longest wait a timer takes (setTimeout's limit). */
const MAX_MS = 2 ** 31 - 1;

export function checkClientOptions(options: unknown): void {
  if (options === undefined) throw new ArgumentError("createClient: options must be an object ({ url, identity, ... }), not undefined");
  checkKnownOptions(options, OPTIONS, "createClient");
  const given = options as Record<string, unknown>;
  checkIdentity(given.identity);
  checkRelayUrl(given.url);
  // The pace of partial frames (GroupOptions.pushIntervalMs): any number of ms up to a minute, fractions too.
  const pace = given.pushIntervalMs;
  if (pace !== undefined && !(typeof pace === "number" && pace >= 0 && pace <= MAX_PUSH_INTERVAL_MS)) throw new ArgumentError(`createClient: pushIntervalMs must be a number of milliseconds from 0 to ${MAX_PUSH_INTERVAL_MS}, not ${shown(pace)}`);
  const store = given.store as Record<string, unknown> | undefined;
  if (store !== undefined && (typeof store !== "object" || store === null || STORE_METHODS.some((method) => typeof store[method] !== "function"))) {
    throw new ArgumentError(`createClient: store must be a LocalStore (with ${STORE_METHODS.join(", ")}), not ${describe(store)}`);
  }
  const agent = (given.identity as { agent: string }).agent;
  if (given.session !== undefined && !(typeof given.session === "string" && isSessionId(given.session) && agentOfSession(given.session) === agent)) {
    throw new ArgumentError(`createClient: session must be a session id of the identity's agent (${agent}~...), not ${shown(given.session)}`);
  }
  if (given.backoff !== undefined) {
    checkKnownOptions(given.backoff ?? null, BACKOFF, "createClient: backoff");
    const backoff = given.backoff as Record<string, unknown>;
    // No delay of 0 ms: a relay out of reach would be tried again without a pause.
    checkMs(backoff.baseMs, "backoff.baseMs", 1);
    checkMs(backoff.capMs, "backoff.capMs", 1);
    checkMs(backoff.minUptimeMs, "backoff.minUptimeMs", 0);
  }
  checkMs(given.pingIntervalMs, "pingIntervalMs", 1);
  checkMs(given.pingTimeoutMs, "pingTimeoutMs", 1);
  checkMs(given.connectTimeoutMs, "connectTimeoutMs", 1);
  for (const name of ["WebSocket", "random", "getToken"]) {
    if (given[name] !== undefined && typeof given[name] !== "function") throw new ArgumentError(`createClient: ${name} must be a function, not ${describe(given[name])}`);
  }
  // A function that is no WebSocket class (a server class, Object) would fail at every attempt.
  const missing = given.WebSocket && missingSocketMethod((given.WebSocket as { prototype?: unknown }).prototype);
  if (missing) throw new ArgumentError(`createClient: WebSocket must be a WebSocket class (the runtime's, or ws's): the sockets of this one would have no ${missing}`);
  if (given.fetch !== undefined && given.fetch !== false && typeof given.fetch !== "function") {
    throw new ArgumentError(`createClient: fetch must be a function, or false for none, not ${describe(given.fetch)}`);
  }
  if (given.compression !== undefined && typeof given.compression !== "boolean") {
    throw new ArgumentError(`createClient: compression must be true or false, not ${describe(given.compression)}`);
  }
}

/** Undefined (the default), or a whole number of milliseconds from `least` to MAX_MS. */
function checkMs(value: unknown, name: string, least: number): void {
  if (value === undefined) return;
  if (!(typeof value === "number" && Number.isInteger(value) && value >= least && value <= MAX_MS)) {
    throw new ArgumentError(`createClient: ${name} must be a whole number of milliseconds from ${least} to ${MAX_MS}, not ${shown(value)}`);
  }
}

/** The first method of a socket that `value` (a socket, or a WebSocket class's prototype) lacks, if any. */
export function missingSocketMethod(value: unknown): string | undefined {
  return SOCKET_METHODS.find((method) => typeof (value as Record<string, unknown> | undefined)?.[method] !== "function");
}
