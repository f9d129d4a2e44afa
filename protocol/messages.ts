// The wire protocol: one schema per message, two unions (one per direction) discriminated on `type`.
// Every frame is validated with these schemas on arrival; TypeScript types are inferred from them.
import * as v from "valibot";
import { agentOfSession, isAgentId, isDocId, isGroupId, isSessionId, type AgentId, type DocId, type DocMeta, type SessionId } from "./ids.ts";
import type { SessionCounts } from "./known-state.ts";
import { fromColumns } from "./transaction-columns.ts";
import {
  MAX_DOCS_PER_DIR_FRAME,
  MAX_DOCS_PER_OPEN,
  MAX_FRAME_BYTES,
  MAX_JSON_DEPTH,
  MAX_MESSAGES_PER_BATCH,
  MAX_PRESENCE_PEERS_PER_FRAME,
  MAX_SESSIONS_PER_DOCUMENT,
  MAX_SESSIONS_PER_FRAME,
  MAX_TOKEN_CHARS,
} from "./limits.ts";
import { ERROR_CODES } from "./errors.ts";
import { ROLES } from "./roles.ts";

/**
 * Text must be well-formed UTF-16. A lone surrogate ("x\ud800y", sent as a JSON escape) has no UTF-8
 * form: hashing turns it into U+FFFD (so two different strings share one hash chain or document id) and
 * SQLite stores it changed. Refusing it at the boundary keeps "what was signed is what is served".
 */
export const isWellFormedText = (value: string): boolean => (nativeWellFormed ? (value as unknown as WellFormedQuery).isWellFormed() : hasNoLoneSurrogate(value));
type WellFormedQuery = { isWellFormed(): boolean };
// The runtime's own answer is O(1) for text held one byte a character (all of Latin-1, so most text), and
// five times faster than a regular expression beyond it: 1.8 against 9.3 ms for 10,000 strings of 100
// characters with two beyond Latin-1 (Node 22). The relay checks every write, the SDK every load.
const nativeWellFormed = typeof (String.prototype as Partial<WellFormedQuery>).isWellFormed === "function";
/** isWellFormedText where the runtime lacks String.prototype.isWellFormed (before ES2024: Safari 16.3, Firefox 118). */
export const hasNoLoneSurrogate = (value: string): boolean => !LONE_SURROGATE.test(value);
/** With the `u` flag a paired surrogate is one code point, so only a lone one is of category Cs. */
const LONE_SURROGATE = /\p{Cs}/u;
const wellFormed = v.check<string, string>(isWellFormedText, "text must be well-formed UTF-16 (no lone surrogates)");
const text = (max: number) => v.pipe(v.string(), v.maxLength(max), wellFormed);
const count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const base64url = (max: number) => v.pipe(v.string(), v.maxLength(max), v.regex(/^[A-Za-z0-9_-]*$/));

export const agentIdSchema = v.custom<AgentId>((value) => typeof value === "string" && isAgentId(value), "bad agent id");
export const sessionIdSchema = v.custom<SessionId>((value) => typeof value === "string" && isSessionId(value), "bad session id");
export const docIdSchema = v.custom<DocId>((value) => typeof value === "string" && isDocId(value), "bad document id");
export const groupIdSchema = v.custom<string>((value) => typeof value === "string" && isGroupId(value), "bad group id");

const signature = base64url(86);

/** valibot's `record` takes a list as a record with no entries: a record must be a plain object first. */
const recordShape = v.custom<Record<string, unknown>>(
  (value) => typeof value === "object" && value !== null && !Array.isArray(value),
  "must be an object keyed by id, not a list",
);

/**
 * What a value is, for an error message: for an object its `Symbol.toStringTag` (which the SDK's classes and
 * the runtime's own give, and a minifier leaves alone) or else its class, and its type for anything else.
 */
export const describe = (value: unknown): string => {
  if (value === null) return "null";
  if (value === "") return "an empty string";
  if (typeof value !== "object") return typeof value;
  const tag = (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  return typeof tag === "string" ? tag : (value.constructor?.name ?? "an object");
};

/**
 * What is wrong with a JSON value a client shapes (`meta` is hashed into the document id, a presence state is
 * measured and passed on): a value JSON would change or drop (a Map or a class instance becomes `{}`, a
 * Uint8Array an object of indexes; a bigint, symbol or function has no JSON), named with where it is;
 * arrays and objects nested past MAX_JSON_DEPTH; or a string (keys included) that is not well-formed text.
 * Walked with a stack of its own, depth first, so no input makes it throw and a cycle (an app's object, in
 * the SDK) is refused as too deep after at most MAX_JSON_DEPTH steps down. A value of more than
 * MAX_FRAME_BYTES items (each takes a byte of JSON at least) is refused as too large without walking on,
 * and a path is only spelt out for the message, so a sparse array of millions of slots costs no memory.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: JsonStep[] = [{ item: value, depth: 1 }];
  let items = 0;
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { item, depth } = next;
    if (++items > MAX_FRAME_BYTES) return `is too large: more than ${MAX_FRAME_BYTES} values`;
    if (typeof item === "string") {
      if (!isWellFormedText(item)) return "text must be well-formed UTF-16 (no lone surrogates)";
      continue;
    }
    const type = typeof item;
    // A plain object's prototype is null or a realm's Object.prototype (an iframe's too), whose own is null.
    const unplain = type === "object" && item !== null && !Array.isArray(item) && Object.getPrototypeOf(Object.getPrototypeOf(item) ?? Object.prototype) !== null;
    if (unplain || type === "bigint" || type === "symbol" || type === "function") return `must be plain JSON (found ${describe(item)}${atPath(next)})`;
    if (typeof item !== "object" || item === null) continue;
    if (depth > maxDepth) return `must nest at most ${maxDepth} arrays and objects deep`;
    if (Array.isArray(item)) {
      if (item.length > MAX_FRAME_BYTES) return `is too large: an array of ${item.length} items`;
      // JSON keeps an array's items only: a property of another name would vanish.
      const named = Object.keys(item).find((key) => !/^(?:0|[1-9]\d*)$/.test(key));
      if (named !== undefined) return `must be plain JSON (found an array with a property ${JSON.stringify(named)}${atPath(next)})`;
      for (let index = 0; index < item.length; index++) {
        // JSON turns an empty slot into null: said, not changed.
        if (!(index in item)) return `must be plain JSON (found an empty array slot${atPath({ item: undefined, depth, parent: next, key: index })})`;
        stack.push({ item: item[index], depth: depth + 1, parent: next, key: index });
      }
    } else {
      for (const [key, child] of Object.entries(item)) {
        if (!isWellFormedText(key)) return "text must be well-formed UTF-16 (no lone surrogates)";
        stack.push({ item: child, depth: depth + 1, parent: next, key });
      }
    }
  }
  return undefined;
}

/** A value met walking a JSON value, with how it was reached. */
type JsonStep = { item: unknown; depth: number; parent?: JsonStep; key?: string | number };

/** Where a step is, for a message: ` at a.b[2]`, or nothing at the top. */
function atPath(step: JsonStep): string {
  let path = "";
  for (let at: JsonStep | undefined = step; at?.parent; at = at.parent) {
    const key = at.key!;
    path = typeof key === "number" ? `[${key}]${path}` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}${path}` : `[${JSON.stringify(key)}]${path}`;
  }
  return path && ` at ${path.replace(/^\./, "")}`;
}

/** A check that a JSON value has no jsonProblem, refusing it as `what` and the problem. */
const shapedJson = <T>(what: string, maxDepth = MAX_JSON_DEPTH) =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    const problem = dataset.typed ? jsonProblem(dataset.value, maxDepth) : undefined;
    if (problem) addIssue({ message: `${what} ${problem}` });
  });

/** valibot types records with template-literal keys as partial; every present key has a value. */
const bySession = <T>(schema: v.GenericSchema<unknown, T>, maxEntries = MAX_SESSIONS_PER_FRAME) =>
  v.pipe(
    recordShape,
    v.record(sessionIdSchema, schema),
    v.maxEntries(maxEntries),
    v.transform((record) => record as Record<SessionId, T>),
  );

/** A document header whose meta nests at most `maxDepth` deep. */
const headerOf = (maxDepth: number) =>
  v.object({
    group: groupIdSchema,
    kind: text(64),
    creator: agentIdSchema,
    createdAt: count,
    nonce: base64url(64),
    meta: v.pipe(
      v.custom<DocMeta>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "meta must be an object"),
      shapedJson<DocMeta>("meta", maxDepth),
    ),
    readers: v.optional(v.pipe(v.array(agentIdSchema), v.maxLength(64))),
  });
/** A header as a client sends it, to create a document. */
export const headerSchema = headerOf(MAX_JSON_DEPTH);
/** A header as the relay serves it: one stored before MAX_JSON_DEPTH may nest deeper, and stays readable. */
const servedHeaderSchema = headerOf(Infinity);

export const knownStateSchema = v.object({
  header: v.boolean(),
  sessions: v.pipe(bySession(count, MAX_SESSIONS_PER_DOCUMENT), v.transform((sessions): SessionCounts => sessions)),
});

/**
 * A session's transactions after `after`, as columns on the wire (see transaction-columns.ts) and as
 * `{after, transactions}` once decoded. The count per frame is checked across sessions in codec.ts, with
 * its own error code.
 */
const list = v.custom<unknown[]>(Array.isArray, "must be a list");
const chunkSchema = <S extends v.GenericSchema>(signatureSchema: S, minTransactions: number) =>
  v.pipe(
    v.object({ after: count, at: list, data: list, signature: signatureSchema }),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const { at, data, ...rest } = dataset.value;
      const transactions = fromColumns(at, data);
      if (!transactions) {
        addIssue({ message: "at and data must be lists of the same length: integer time differences that sum to non-negative times, and strings or bytes" });
        return NEVER;
      }
      if (transactions.length < minTransactions) {
        addIssue({ message: "a chunk carries at least one transaction" });
        return NEVER;
      }
      if (!transactions.every(({ data }) => typeof data !== "string" || isWellFormedText(data))) {
        addIssue({ message: "data must be well-formed UTF-16 text (no lone surrogates)" });
        return NEVER;
      }
      return { ...rest, transactions };
    }),
  );
/** Transactions a writer appends after `after`, signed as of the last one: a signature vouches for at least one. */
const signedChunkSchema = chunkSchema(signature, 1);
/** Transactions the relay forwards; signed when the chunk ends where the writer signed. */
const forwardedChunkSchema = chunkSchema(v.optional(signature), 0);

// Client to relay.

export const helloSchema = v.object({
  type: v.literal("hello"),
  v: v.pipe(v.number(), v.safeInteger()),
  agent: agentIdSchema,
  session: sessionIdSchema,
  group: groupIdSchema,
  signature,
  /** A token from the app's backend granting a role in this group (see worker/tokens.ts). */
  token: v.optional(text(MAX_TOKEN_CHARS)),
  /**
   * Compressed frames the client can inflate (protocol/binary-frame.ts), e.g. `["deflate-raw"]`: the relay
   * may then send its large frames compressed. Names it does not know are ignored, so a newer client's
   * list passes an older relay; without it every frame goes as it is.
   */
  inflate: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(32))), v.maxLength(8))),
  /**
   * The client pings at least every PRESENCE_PING_MS, whatever it hears: the relay may take its silence for
   * PRESENCE_SILENT_MS as a dead connection and close it, clearing its presence. Clients of earlier releases
   * ping only after silence, so without it the relay never judges a peer by its silence. An older relay
   * ignores the field.
   */
  pings: v.optional(v.literal(true)),
});
export const dirRequestSchema = v.object({
  type: v.literal("dir"),
  /** Only documents changed after this cursor (from an earlier answer). */
  since: v.optional(count),
  /** The client's digest of what it holds; if it equals the relay's, the answer is just `inSync: true`. */
  digest: v.optional(base64url(43)),
});
export const loadSchema = v.object({ type: v.literal("load"), doc: docIdSchema, known: knownStateSchema });
/** New transactions of one document, committed whole or not at all; it must carry a header or a transaction. */
export const contentSchema = v.pipe(
  v.object({
    type: v.literal("content"),
    doc: docIdSchema,
    header: v.optional(headerSchema),
    // Over MAX_SESSIONS_PER_FRAME it is refused alone, naming its document (codec.ts: clientMessageProblem),
    // not with its frame; the frame's bytes and transactions bound the entries decoded.
    sessions: bySession(signedChunkSchema, Infinity),
  }),
  v.check((content) => content.header !== undefined || Object.keys(content.sessions).length > 0, "content must carry a header or at least one session"),
);
export const unsubSchema = v.object({ type: v.literal("unsub"), doc: docIdSchema });
/**
 * Opens every document of the group this peer may read: the relay streams what the peer lacks of each.
 * A client holding more than fits one frame opens in parts, each covering the ids that sort after `after`
 * and up to `through` (open at either end), and listing what it holds of them; the part without `through`
 * comes last and is answered with `opened`. A document listed that the relay lacks is answered with a
 * `known` (reason `load`) holding nothing, as a load of it would be.
 */
export const openGroupSchema = v.pipe(
  v.object({
    type: v.literal("open"),
    known: v.pipe(
      recordShape,
      v.record(docIdSchema, knownStateSchema),
      v.maxEntries(MAX_DOCS_PER_OPEN),
      v.transform((record) => record as Record<DocId, v.InferOutput<typeof knownStateSchema>>),
    ),
    after: v.optional(docIdSchema),
    through: v.optional(docIdSchema),
  }),
  v.check(
    (open) => Object.keys(open.known).every((id) => (open.after === undefined || id > open.after) && (open.through === undefined || id <= open.through)),
    "every document an open part lists must sort after `after` and up to `through`",
  ),
);
export const deleteSchema = v.object({ type: v.literal("delete"), doc: docIdSchema });
/**
 * A presence state is any JSON value whose text is well-formed; its size (PRESENCE_MAX_BYTES, all of a
 * peer's documents together) is judged by the relay, which answers `presence_too_large` without closing.
 */
// Typed `unknown`, not `Json`: a recursive type inside these unions makes TypeScript give up on inferring
// them in apps' strict builds (TS2589); the SDK and the relay treat the value as Json.
const presenceStateSchema = v.pipe(v.unknown(), shapedJson<unknown>("a presence state"));
/**
 * Sets this peer's presence state in a document it may read (`state` present), or clears it (absent). The
 * relay passes it to the document's readers, never stores it, and forgets it when the socket closes.
 */
export const presenceSchema = v.object({ type: v.literal("presence"), doc: docIdSchema, state: v.optional(presenceStateSchema) });
export const pingSchema = v.object({ type: v.literal("ping") });
/** Markers of the relay's long answers are random ids of 16 bytes (22 characters); a little room is left. */
const markId = base64url(43);
/**
 * The echo of the relay's `mark` with this id, sent as soon as it is read: the peer has read every frame
 * before it, and the relay may send more of its long answers (ANSWER_WINDOW_BYTES). An id the relay does
 * not hold (one it forgot when evicted from memory, or a made-up one) is ignored: it confirms nothing.
 */
export const markedSchema = v.object({ type: v.literal("marked"), id: markId });
/**
 * A signed snapshot of a document (protocol/snapshot.ts): sent by its author to be stored, and by the relay
 * to a peer that lacks what it covers, before the content after it. Its data is text, or bytes carried in a
 * binary frame (its JSON `data` is then the number of bytes, like a transaction's).
 * The size of `data` (MAX_SNAPSHOT_BYTES) is checked in codec.ts, with its own error code.
 */
export const snapshotSchema = v.object({
  type: v.literal("snapshot"),
  doc: docIdSchema,
  /** The author's session: the relay takes a snapshot only from a peer writing as this session's agent. */
  session: sessionIdSchema,
  covers: bySession(count, MAX_SESSIONS_PER_DOCUMENT),
  data: v.union([v.pipe(v.string(), wellFormed), v.instance(Uint8Array)]),
  /** The newest transaction time its author had seen (signed); absent from a snapshot stored under protocol v2. */
  at: v.optional(count),
  signature,
});

export const clientMessageSchema = v.variant("type", [
  helloSchema,
  dirRequestSchema,
  loadSchema,
  contentSchema,
  unsubSchema,
  openGroupSchema,
  deleteSchema,
  presenceSchema,
  pingSchema,
  snapshotSchema,
  markedSchema,
]);

/** Several messages of one direction in one frame, handled in order as if each had come alone. */
const batchOf = <S extends v.GenericSchema>(message: S) =>
  v.object({ type: v.literal("batch"), messages: v.pipe(v.array(message), v.minLength(1), v.maxLength(MAX_MESSAGES_PER_BATCH)) });

/**
 * The SDK sends what it sends in one tick as a batch, its hello and the loads behind it included, so a
 * resume costs the relay one event.
 */
export const clientBatchSchema = batchOf(clientMessageSchema);
/** What one frame from a client holds: a message, or a batch of them. */
export const clientFrameSchema = v.variant("type", [...clientMessageSchema.options, clientBatchSchema]);
/** A batch with its messages not yet checked: codec.ts checks each by its type (frame-check.ts). */
export const batchEnvelopeSchema = batchOf(v.unknown());

// Relay to client.

export const challengeSchema = v.object({
  type: v.literal("challenge"),
  v: count,
  nonce: base64url(64),
  /** The relay's clock as it sent this (ms since the epoch): a writer stamps by it (MAX_CLOCK_AHEAD_MS). */
  now: v.optional(count),
});
export const welcomeSchema = v.object({
  type: v.literal("welcome"),
  v: count,
  /**
   * The peer's role; every authenticated agent is a writer in a group without a membership log. Sent again
   * on the same socket when an admin changes it while the peer is connected.
   */
  role: v.picklist(ROLES),
  /** The group's membership log, once it has one. */
  members: v.optional(docIdSchema),
});
export const dirEntrySchema = v.object({
  id: docIdSchema,
  header: servedHeaderSchema,
  known: knownStateSchema,
  updatedAt: count,
  /** A tombstone: the document was deleted; its transactions are gone. */
  deleted: v.optional(v.boolean()),
});
export const dirResponseSchema = v.object({
  type: v.literal("dir"),
  docs: v.pipe(v.array(dirEntrySchema), v.maxLength(MAX_DOCS_PER_DIR_FRAME)),
  /** True when more `dir` frames of the same answer follow. */
  more: v.boolean(),
  /** Pass as `since` next time to hear only of later changes. */
  cursor: count,
  /** The relay's digest of every document's known state. */
  digest: base64url(43),
  /** The client's digest matched: it holds exactly what the relay holds, and `docs` is empty. */
  inSync: v.boolean(),
});
/** The document was deleted (sent to whoever deleted it and to its subscribers). */
export const deletedSchema = v.object({ type: v.literal("deleted"), doc: docIdSchema });
/** The end of an `open`: every readable document was sent, the peer is subscribed to the whole group. */
export const openedSchema = v.object({ type: v.literal("opened"), docs: count, cursor: count });
export const serverContentSchema = v.object({
  type: v.literal("content"),
  doc: docIdSchema,
  header: v.optional(servedHeaderSchema),
  sessions: bySession(forwardedChunkSchema),
});
export const knownSchema = v.object({
  type: v.literal("known"),
  doc: docIdSchema,
  header: v.boolean(),
  sessions: bySession(count, MAX_SESSIONS_PER_DOCUMENT),
  /** load: the answer to a `load`, after any content. ack: transactions were stored. correction: `after` was wrong. */
  reason: v.picklist(["load", "ack", "correction"]),
  /**
   * On a load's answer, where the relay holds some of the receiving peer's own session: the chain hash after
   * the last of them (its count in `sessions`). A client restarted on its session checks its own log
   * against it, so a copy that differs below what both hold is found without writing again.
   */
  head: v.optional(base64url(43)),
});
export const errorSchema = v.object({
  type: v.literal("error"),
  code: v.picklist(ERROR_CODES),
  message: text(1024),
  doc: v.optional(docIdSchema),
  session: v.optional(sessionIdSchema),
  /** Seconds to wait before trying again, when waiting helps. */
  retryAfter: v.optional(count),
});
export const pongSchema = v.object({ type: v.literal("pong") });
/**
 * A marker in the relay's long answers (ANSWER_MARK_BYTES apart, and where it pauses them): the client
 * echoes it at once as `marked`, with the same id, so the relay knows how much it has read.
 */
export const markSchema = v.object({ type: v.literal("mark"), id: markId });
/** One peer's presence in a document: its state, or none (it cleared it, left the document, or disconnected). */
export const presencePeerSchema = v.pipe(
  v.object({ agent: agentIdSchema, session: sessionIdSchema, state: v.optional(presenceStateSchema) }),
  v.check((peer) => agentOfSession(peer.session) === peer.agent, "the session does not belong to the agent"),
);
/**
 * Presence changes in a document, for its readers: as they happen (one peer), and as a snapshot of every
 * peer's state when a peer loads or opens the document (up to MAX_PRESENCE_PEERS_PER_FRAME per message).
 * The receiver merges them into what it holds; the sender's own state never comes back to it.
 */
export const serverPresenceSchema = v.object({
  type: v.literal("presence"),
  doc: docIdSchema,
  peers: v.pipe(v.array(presencePeerSchema), v.maxLength(MAX_PRESENCE_PEERS_PER_FRAME)),
});

/**
 * The relay stored a snapshot of a document: sent to its author (the acknowledgement) and to the document's
 * subscribers, so bindings that snapshot by themselves know one was taken (and by whom, covering what).
 */
export const snapshottedSchema = v.object({
  type: v.literal("snapshotted"),
  doc: docIdSchema,
  session: sessionIdSchema,
  covers: bySession(count, MAX_SESSIONS_PER_DOCUMENT),
});

export const serverMessageSchema = v.variant("type", [
  challengeSchema,
  welcomeSchema,
  dirResponseSchema,
  serverContentSchema,
  knownSchema,
  openedSchema,
  deletedSchema,
  errorSchema,
  pongSchema,
  markSchema,
  serverPresenceSchema,
  snapshotSchema,
  snapshottedSchema,
]);

/**
 * The relay gathers what one event sends a peer (a load's content and known, an open's thousand small
 * documents) into frames of up to CHUNK_TARGET_BYTES (worker/core/relay.ts): fewer, fuller frames cost
 * less at every hop.
 */
export const batchSchema = batchOf(serverMessageSchema);
/** What one frame from the relay holds: a message, or a batch of them. */
export const serverFrameSchema = v.variant("type", [...serverMessageSchema.options, batchSchema]);

export type ClientMessage = v.InferOutput<typeof clientMessageSchema>;
export type ServerMessage = v.InferOutput<typeof serverMessageSchema>;
export type Hello = v.InferOutput<typeof helloSchema>;
export type Welcome = v.InferOutput<typeof welcomeSchema>;
export type Load = v.InferOutput<typeof loadSchema>;
export type Content = v.InferOutput<typeof contentSchema>;
export type ServerContent = v.InferOutput<typeof serverContentSchema>;
export type Known = v.InferOutput<typeof knownSchema>;
export type ErrorMessage = v.InferOutput<typeof errorSchema>;
export type DirEntry = v.InferOutput<typeof dirEntrySchema>;
export type DirRequest = v.InferOutput<typeof dirRequestSchema>;
export type OpenGroup = v.InferOutput<typeof openGroupSchema>;
export type Presence = v.InferOutput<typeof presenceSchema>;
export type ServerPresence = v.InferOutput<typeof serverPresenceSchema>;
export type PresencePeer = v.InferOutput<typeof presencePeerSchema>;
export type SnapshotMessage = v.InferOutput<typeof snapshotSchema>;
export type Snapshotted = v.InferOutput<typeof snapshottedSchema>;
export type SessionChunk = ServerContent["sessions"][SessionId];
