// The wire protocol: one schema per message, two unions (one per direction) discriminated on `type`.
// Every frame is validated with these schemas on arrival; TypeScript types are inferred from them.
import * as v from "valibot";
import { isAgentId, isDocId, isGroupId, isSessionId, type AgentId, type DocId, type DocMeta, type SessionId } from "./ids.ts";
import type { SessionCounts } from "./known-state.ts";
import { fromColumns } from "./transaction-columns.ts";
import { MAX_DOCS_PER_DIR_FRAME, MAX_MESSAGES_PER_BATCH, MAX_SESSIONS_PER_DOCUMENT, MAX_SESSIONS_PER_FRAME } from "./limits.ts";
import { ERROR_CODES } from "./errors.ts";
import { ROLES } from "./roles.ts";

const text = (max: number) => v.pipe(v.string(), v.maxLength(max));
const count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const base64url = (max: number) => v.pipe(v.string(), v.maxLength(max), v.regex(/^[A-Za-z0-9_-]*$/));

export const agentIdSchema = v.custom<AgentId>((value) => typeof value === "string" && isAgentId(value), "bad agent id");
export const sessionIdSchema = v.custom<SessionId>((value) => typeof value === "string" && isSessionId(value), "bad session id");
export const docIdSchema = v.custom<DocId>((value) => typeof value === "string" && isDocId(value), "bad document id");
export const groupIdSchema = v.custom<string>((value) => typeof value === "string" && isGroupId(value), "bad group id");

const signature = base64url(86);

/** valibot types records with template-literal keys as partial; every present key has a value. */
const bySession = <T>(schema: v.GenericSchema<unknown, T>, maxEntries = MAX_SESSIONS_PER_FRAME) =>
  v.pipe(
    v.record(sessionIdSchema, schema),
    v.maxEntries(maxEntries),
    v.transform((record) => record as Record<SessionId, T>),
  );


export const headerSchema = v.object({
  group: groupIdSchema,
  kind: text(64),
  creator: agentIdSchema,
  createdAt: count,
  nonce: base64url(64),
  meta: v.custom<DocMeta>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "meta must be an object"),
  readers: v.optional(v.pipe(v.array(agentIdSchema), v.maxLength(64))),
});

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
const chunkSchema = <S extends v.GenericSchema>(signatureSchema: S) =>
  v.pipe(
    v.object({ after: count, at: list, data: list, signature: signatureSchema }),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const { at, data, ...rest } = dataset.value;
      const transactions = fromColumns(at, data);
      if (transactions) return { ...rest, transactions };
      addIssue({ message: "at and data must be lists of the same length: integer time differences that sum to non-negative times, and strings" });
      return NEVER;
    }),
  );
/** Transactions a writer appends after `after`, signed as of the last one. */
const signedChunkSchema = chunkSchema(signature);
/** Transactions the relay forwards; signed when the chunk ends where the writer signed. */
const forwardedChunkSchema = chunkSchema(v.optional(signature));

// Client to relay.

export const helloSchema = v.object({
  type: v.literal("hello"),
  v: v.pipe(v.number(), v.safeInteger()),
  agent: agentIdSchema,
  session: sessionIdSchema,
  group: groupIdSchema,
  signature,
  /** A token from the app's backend granting a role in this group (see worker/tokens.ts). */
  token: v.optional(text(8192)),
});
export const dirRequestSchema = v.object({
  type: v.literal("dir"),
  /** Only documents changed after this cursor (from an earlier answer). */
  since: v.optional(count),
  /** The client's digest of what it holds; if it equals the relay's, the answer is just `inSync: true`. */
  digest: v.optional(base64url(43)),
});
export const loadSchema = v.object({ type: v.literal("load"), doc: docIdSchema, known: knownStateSchema });
export const contentSchema = v.object({
  type: v.literal("content"),
  doc: docIdSchema,
  header: v.optional(headerSchema),
  sessions: bySession(signedChunkSchema),
});
export const unsubSchema = v.object({ type: v.literal("unsub"), doc: docIdSchema });
/** Opens every document of the group this peer may read: the relay streams what the peer lacks of each. */
export const openGroupSchema = v.object({
  type: v.literal("open"),
  known: v.pipe(
    v.record(docIdSchema, knownStateSchema),
    v.maxEntries(20_000),
    v.transform((record) => record as Record<DocId, v.InferOutput<typeof knownStateSchema>>),
  ),
});
export const deleteSchema = v.object({ type: v.literal("delete"), doc: docIdSchema });
export const pingSchema = v.object({ type: v.literal("ping") });

export const clientMessageSchema = v.variant("type", [
  helloSchema,
  dirRequestSchema,
  loadSchema,
  contentSchema,
  unsubSchema,
  openGroupSchema,
  deleteSchema,
  pingSchema,
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

// Relay to client.

export const challengeSchema = v.object({ type: v.literal("challenge"), v: count, nonce: base64url(64) });
export const welcomeSchema = v.object({
  type: v.literal("welcome"),
  v: count,
  /** The peer's role; every authenticated agent is a writer in a group without a membership log. */
  role: v.picklist(ROLES),
  /** The group's membership log, once it has one. */
  members: v.optional(docIdSchema),
});
export const dirEntrySchema = v.object({
  id: docIdSchema,
  header: headerSchema,
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
  header: v.optional(headerSchema),
  sessions: bySession(forwardedChunkSchema),
});
export const knownSchema = v.object({
  type: v.literal("known"),
  doc: docIdSchema,
  header: v.boolean(),
  sessions: bySession(count, MAX_SESSIONS_PER_DOCUMENT),
  /** load: the answer to a `load`, after any content. ack: transactions were stored. correction: `after` was wrong. */
  reason: v.picklist(["load", "ack", "correction"]),
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
export type SessionChunk = ServerContent["sessions"][SessionId];
