// What the relay would refuse, refused here first: synchronously, with the code the relay would answer,
// before anything is stored or sent. Each check runs the relay's own decoding (protocol/codec.ts: the
// same schemas and limits) on the message that would carry the call, so both ends cannot drift apart;
// an append's data (checked on every keystroke) goes through that decoding only when transactionProblem
// finds something to refuse, for the relay's own words.
import {
  agentIdOf,
  decodeClientMessage,
  describe,
  publicKeyOf,
  docIdOf,
  encodeMessage,
  isDocId,
  isAgentId,
  isGroupId,
  isWellFormedText,
  jsonProblem,
  jwtShapeProblem,
  parseMemberOp,
  MAX_SESSIONS_PER_AGENT_PER_DOCUMENT,
  MAX_SESSIONS_PER_DOCUMENT,
  MAX_SNAPSHOT_BYTES,
  MAX_TOKEN_CHARS,
  agentOfSession,
  dataBytes,
  transactionSizeProblem,
  type ClientMessage,
  type TransactionData,
  type Content,
  type DocHeader,
  type ErrorCode,
  type Transaction,
  type WireFrame,
  type DocId,
  type SessionCounts,
  type SessionId,
  type Action,
  type AgentId,
  type Role,
  MEMBERS_KIND,
  can,
  mayRead,
  maySnapshot,
} from "../protocol/index.ts";
import { LocalRefusalError } from "./errors.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

// Any well-formed signature: the shape is checked, not the value (the real one is made when pushing).
const PLACEHOLDER_SIGNATURE = "A".repeat(86);

/** Throws the error the relay would answer `message` with, if it would refuse it; returns it as the relay reads it. */
export function refuseAsRelayWould(message: ClientMessage | Record<string, unknown>, what: string): ClientMessage {
  let frame: WireFrame;
  try {
    frame = encodeMessage(message as ClientMessage);
  } catch (error) {
    throw new LocalRefusalError("bad_frame", `${what}: cannot be encoded as JSON (${(error as Error).message})`);
  }
  const decoded = decodeClientMessage(frame);
  if (!decoded.ok) throw new LocalRefusalError(decoded.code, `${what}: ${decoded.reason}`);
  return decoded.message;
}

/** The same for a message already encoded as the JSON text it will travel as: no second encoding. */
export function refuseTextAsRelayWould(frame: string, what: string): ClientMessage {
  const decoded = decodeClientMessage(frame);
  if (!decoded.ok) throw new LocalRefusalError(decoded.code, `${what}: ${decoded.reason}`);
  return decoded.message;
}

/** Whether the relay would accept a content message this client built from stored data (cheap: no encoding). */
export function relayWouldAccept(content: Content): boolean {
  for (const chunk of Object.values(content.sessions)) {
    if (chunk && chunk.transactions.some((transaction) => transactionProblem(transaction) !== undefined)) return false;
  }
  return true;
}

/**
 * Why the relay's decoding would refuse a transaction (code and reason), if it would, known without running
 * it: one appended, or read back from the local store. Text or bytes within transactionSizeProblem's limits
 * (which leave room in a frame for the message around it), at a time that is a non-negative safe integer,
 * pass. The unit test "transactionProblem refuses exactly what the relay's decoding refuses" holds it to
 * codec.ts.
 */
export function transactionProblem(transaction: Transaction): [ErrorCode, string] | undefined {
  const { at, data } = transaction as { at: unknown; data: unknown };
  if (!isTransactionData(data)) return ["bad_frame", `its data is ${describe(data)}, not a string or a Uint8Array`];
  if (typeof at !== "number" || !Number.isSafeInteger(at) || at < 0) return ["bad_frame", "its time is not a non-negative integer"];
  if (typeof data === "string" && !isWellFormedText(data)) return ["bad_frame", "its data is not well-formed UTF-16 (a lone surrogate)"];
  const tooLarge = transactionSizeProblem(data);
  if (tooLarge) return ["transaction_too_large", tooLarge];
  return undefined;
}

export const isTransactionData = (data: unknown): data is TransactionData => typeof data === "string" || data instanceof Uint8Array;

export { describe };

/** A value as an error message shows it: text quoted (its start), a number or bigint as written, else describe(). */
export const shown = (value: unknown): string =>
  typeof value === "string"
    ? JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value)
    : typeof value === "bigint" ? `${value}n` : typeof value === "object" || typeof value === "function" ? describe(value) : String(value);

/**
 * The data the app gives append or snapshot (`what`): text, or a Uint8Array whose bytes can be read. A Proxy
 * of one has no typed array's slots, and one whose buffer was transferred (to a worker) or shrunk has no bytes
 * left: reading them threw V8's own error from inside the SDK, naming nothing of the call.
 */
export function checkData(data: unknown, what: string): asserts data is TransactionData {
  if (typeof data === "string") return;
  if (!(data instanceof Uint8Array)) throw new LocalRefusalError("bad_frame", `${what}: data must be a string or a Uint8Array, not ${describe(data)}`);
  try {
    // A copy of nothing checks what a copy of it all needs, at no cost.
    if (ArrayBuffer.isView(data)) return void Uint8Array.prototype.slice.call(data, 0, 0);
  } catch {
    // Refused below.
  }
  throw new LocalRefusalError("bad_frame", `${what}: data is a Uint8Array whose bytes cannot be read (a Proxy of one, or its buffer transferred)`);
}

/** A transaction's data as the relay will check it: a string (well-formed) or bytes, within MAX_TRANSACTION_BYTES. */
export function checkTransactionData(doc: DocId, session: SessionId, at: number, data: TransactionData): void {
  // Said of the argument: the relay's words name the message's path, a session id the app never gave.
  if (typeof data === "string" && !isWellFormedText(data)) throw new LocalRefusalError("bad_frame", "append: data must be well-formed UTF-16 text (no lone surrogates)");
  // Encoding and decoding the message took about 17 µs an append, a third of a bulk write's time in the SDK.
  if (transactionProblem({ at, data }) === undefined) return;
  refuseAsRelayWould(
    { type: "content", doc, sessions: { [session]: { after: 0, transactions: [{ at, data }], signature: PLACEHOLDER_SIGNATURE } } },
    "append",
  );
}

/**
 * A snapshot's data as the relay will check it: a string (well-formed) or bytes, within MAX_SNAPSHOT_BYTES,
 * in a frame within MAX_FRAME_BYTES with the covers and time (`at`) it will carry.
 */
export function checkSnapshotData(doc: DocId, session: SessionId, data: unknown, covers: SessionCounts, at: number): asserts data is TransactionData {
  checkData(data, "snapshot");
  // The relay counts text in UTF-8 bytes (codec.ts), so the same count here, not the stricter JSON one.
  const size = dataBytes(data);
  if (size > MAX_SNAPSHOT_BYTES) throw new LocalRefusalError("snapshot_too_large", `snapshot: ${size} bytes of data; at most ${MAX_SNAPSHOT_BYTES}`);
  // With every field it is sent with (`at`, its author's newest time: snapshots.ts), or a frame up to 19 bytes over passes.
  refuseAsRelayWould({ type: "snapshot", doc, session, covers, data: data as Uint8Array<ArrayBuffer>, at, signature: PLACEHOLDER_SIGNATURE }, "snapshot");
}

/**
 * Why the relay would refuse this agent's write to a document with `header`, for the role it last said
 * (none known yet: none): a reader writes nothing, a writer not the membership log, and nobody but an admin
 * a document whose `readers` leave them out. Mirrors the relay's check of content (worker/core/relay-core.ts).
 */
export function writeRefusal(role: Role | undefined, agent: AgentId, header: DocHeader): string | undefined {
  if (role === undefined) return undefined;
  if (!mayRead(role, agent, header)) return `this agent may not read document ${docIdOf(header)}`;
  if (header.kind === MEMBERS_KIND) return can(role, "manage") ? undefined : "only an admin may change membership";
  return can(role, "write") ? undefined : `a ${role} may not write`;
}

/**
 * A first write of `session` to a document whose sessions the relay confirmed (`relaySessions`) is refused
 * as the relay would refuse it, with `too_many_sessions`: the document is full, or holds as many of the
 * agent's sessions as one agent may write.
 */
export function checkSessionRoom(relaySessions: SessionCounts, session: SessionId, what: string): void {
  const sessions = Object.keys(relaySessions) as SessionId[];
  if (sessions.length >= MAX_SESSIONS_PER_DOCUMENT) throw new LocalRefusalError("too_many_sessions", `${what}: the document holds ${MAX_SESSIONS_PER_DOCUMENT} sessions, as many as one may; this one is new to it`);
  const agent = agentOfSession(session);
  if (sessions.filter((other) => agentOfSession(other) === agent).length >= MAX_SESSIONS_PER_AGENT_PER_DOCUMENT) {
    throw new LocalRefusalError("too_many_sessions", `${what}: this agent wrote ${MAX_SESSIONS_PER_AGENT_PER_DOCUMENT} sessions of the document, as many as one agent may; this one is new to it`);
  }
}

/**
 * Why the relay would refuse this agent's snapshot of a document with `header`, for the role it last said
 * (none known yet: none): besides a write's refusals, a writer that did not create it (protocol/roles.ts
 * maySnapshot). Mirrors worker/core/snapshot-taking.ts.
 */
export function snapshotRefusal(role: Role | undefined, agent: AgentId, header: DocHeader): string | undefined {
  const refusal = writeRefusal(role, agent, header);
  if (refusal || role === undefined || maySnapshot(role, agent, header)) return refusal;
  return "only the document's creator or an admin may snapshot it (a snapshot stands for every writer's transactions)";
}

/** A write refused as the relay would (writeRefusal), with `forbidden`. */
export function checkMayWrite(role: Role | undefined, agent: AgentId, header: DocHeader, what: string): void {
  const refusal = writeRefusal(role, agent, header);
  if (refusal) throw new LocalRefusalError("forbidden", `${what}: ${refusal}`);
}

const ACTIONS: Record<Action, string> = { read: "read", write: "write", create: "create documents", delete: "delete documents", manage: "change membership" };

/** What the role the relay last said does not allow (none known yet: nothing refused), refused with `forbidden`. */
export function checkRoleMay(role: Role | undefined, action: Action, what: string): void {
  if (role !== undefined && !can(role, action)) throw new LocalRefusalError("forbidden", `${what}: a ${role} may not ${ACTIONS[action]}`);
}

/** A membership operation the relay could never accept is refused before it joins the log. */
export function checkMemberOp(data: TransactionData, what = "append"): void {
  if (!parseMemberOp(data)) throw new LocalRefusalError("forbidden", `${what}: a membership operation is {"op":"set","agent":…,"role":…} or {"op":"remove","agent":…}`);
}

/** A new document's header, as the relay checks it on the first push: schema, size, and that it hashes to its id. */
export function checkHeader(header: DocHeader, group: string): DocId {
  const problem = jsonProblem(header.meta);
  if (problem) throw new LocalRefusalError("bad_header", `create: meta ${problem}`);
  let doc: DocId;
  try {
    doc = docIdOf(header);
  } catch (error) {
    throw new LocalRefusalError("bad_header", `create: meta must be plain JSON (${(error as Error).message})`);
  }
  const decoded = refuseAsRelayWould({ type: "content", doc, header, sessions: {} }, "create");
  if (decoded.type !== "content" || !decoded.header || docIdOf(decoded.header) !== doc) {
    throw new LocalRefusalError("bad_header", "create: the header does not survive encoding (meta must be plain JSON)");
  }
  if (header.group !== group) throw new LocalRefusalError("bad_header", `create: the header belongs to group ${header.group}`);
  return doc;
}

/** Whether a header (received, or read from the local store) is the one `id` names, in `group`. */
export function headerIsFor(header: DocHeader, id: DocId, group: string): boolean {
  try {
    return header.group === group && docIdOf(header) === id;
  } catch {
    return false; // a header without a canonical form (a non-finite number in meta, say)
  }
}

export function checkDocId(id: unknown, what: string): asserts id is DocId {
  if (typeof id === "object" && id !== null && isDocId((id as { id?: unknown }).id)) throw new LocalRefusalError("bad_frame", `${what}: the Doc itself, not its id: pass doc.id`);
  if (typeof id !== "string" || !isDocId(id)) throw new LocalRefusalError("bad_frame", `${what}: ${shown(id)} is not a document id (doc_ followed by 43 base64url characters)`);
}

export function checkGroupId(id: unknown): asserts id is string {
  if (typeof id !== "string" || !isGroupId(id)) throw new ArgumentError(`group: ${shown(id)} is not a group id (1 to 128 of A-Z a-z 0-9 . _ ~ -, not dots alone)`);
}

export function checkSince(since: unknown): void {
  if (since !== undefined && !(typeof since === "number" && Number.isSafeInteger(since) && since >= 0)) {
    throw new LocalRefusalError("bad_frame", `directory: since must be a cursor from an earlier answer, not ${String(since)}`);
  }
}

/** The relay's base URL: http(s) or ws(s), with a host. A URL without a scheme fails here, not in a microtask. */
export function checkRelayUrl(url: unknown): URL {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new ArgumentError(`url: ${shown(url)} is not a URL; write it with its scheme, like https://relay.example.com`);
  }
  if (!["http:", "https:", "ws:", "wss:"].includes(parsed.protocol)) {
    throw new ArgumentError(`url: the scheme ${parsed.protocol} is not one of http:, https:, ws:, wss:`);
  }
  // A WebSocket URL may not have one (the constructor throws), and a relay has no use for it.
  if (parsed.hash !== "" || String(url).includes("#")) throw new ArgumentError(`url: ${String(url)} has a #fragment; a relay URL has none`);
  return parsed;
}

/** Why the relay would refuse what getToken gave as a token (undefined: no token), if it would. */
export function tokenProblem(token: unknown): string | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== "string") return `the token must be a string (or undefined for none), not ${describe(token)}`;
  if (token.length > MAX_TOKEN_CHARS) return `the token has ${token.length} characters; at most ${MAX_TOKEN_CHARS}`;
  if (!isWellFormedText(token)) return "the token must be well-formed text (no lone surrogates)";
  // "" sends no token, as undefined does. Anything else the relay would refuse as not a JWT, and closing the
  // group here names the slip (a trailing newline, "Bearer ", JSON quotes) before a round trip.
  return token === "" ? undefined : jwtShapeProblem(token);
}

// What plain JavaScript may pass where the types say otherwise: a TypeError at once, naming the call,
// rather than a failure deep inside later (or an uncaught one in a listener's turn).

/** An options argument: an object, or left out. */
export function checkOptions(options: unknown, what: string): void {
  // An array, a Date, a Map, a store (any object the runtime or its class tags as other than a plain Object)
  // names no option: an empty one would pass in silence, as a misplaced argument.
  if (options !== undefined && (typeof options !== "object" || options === null || Object.prototype.toString.call(options) !== "[object Object]")) {
    throw new ArgumentError(`${what}: options must be an object, not ${describe(options)}`);
  }
}

/** Options that name nothing but `known`: a misspelt option would otherwise be dropped in silence. */
export function checkKnownOptions(options: unknown, known: readonly string[], what: string): void {
  checkOptions(options, what);
  const unknown = Object.keys(options ?? {}).filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new ArgumentError(`${what}: there is no option ${unknown.map((name) => JSON.stringify(name)).join(", ")}; the options are ${known.join(", ")}`);
}

/** Options that may carry an AbortSignal: an object, and its `signal` one (or left out); `also` names the others it takes. */
export function checkSignalOptions(options: unknown, what: string, also: readonly string[] = []): void {
  // The signal itself in place of the options names no option, and would leave the wait unbounded.
  if (isAbortSignal(options)) throw new ArgumentError(`${what}: pass the signal as an option, { signal }, not the AbortSignal itself`);
  // A misspelt `signal` would leave the wait unbounded.
  checkKnownOptions(options, ["signal", ...also], what);
  const signal = (options as { signal?: unknown } | undefined)?.signal;
  if (signal !== undefined && !isAbortSignal(signal)) throw new ArgumentError(`${what}: signal must be an AbortSignal, not ${describe(signal)}`);
}

/** An AbortSignal of any realm (an iframe's, a vm context's, a polyfill's): `instanceof` would refuse some. */
const isAbortSignal = (value: unknown): value is AbortSignal =>
  typeof value === "object" && value !== null && typeof (value as AbortSignal).addEventListener === "function" && typeof (value as AbortSignal).aborted === "boolean";

export function checkListener(listener: unknown, what: string): void {
  if (typeof listener !== "function") throw new ArgumentError(`${what}: the listener must be a function, not ${describe(listener)}`);
}

/** `length` bytes in a byte array of any realm (an iframe's, a vm context's): `instanceof` would refuse it. */
const isBytes = (value: unknown, length: number): boolean =>
  ArrayBuffer.isView(value) && !(value instanceof DataView) && (value as Uint8Array).BYTES_PER_ELEMENT === 1 && value.byteLength === length;

/** An identity as createIdentity() and importIdentity() make it: an agent id and its 32-byte secret key. */
export function checkIdentity(identity: unknown, what = "createClient: identity"): void {
  const given = identity as { agent?: unknown; secretKey?: unknown } | null | undefined;
  const valid =
    typeof given === "object" && given !== null && isBytes(given.secretKey, 32) && typeof given.agent === "string" && isAgentId(given.agent);
  if (!valid) {
    throw new ArgumentError(
      `${what} must be what createIdentity() or importIdentity(saved) returns, not ${typeof identity === "string" ? "a string (pass it to importIdentity first)" : describe(identity)}`,
    );
  }
  // The relay would refuse every handshake of an agent id that is not the key's.
  if (agentIdOf(publicKeyOf(new Uint8Array(given.secretKey as Uint8Array))) !== given.agent) {
    throw new ArgumentError(`${what}'s agent is not the agent of its secret key (pass what createIdentity() or importIdentity(saved) returns, unchanged)`);
  }
}
