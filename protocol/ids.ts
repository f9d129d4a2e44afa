// Identifiers. Every id is derived from something that can be checked: an agent id is its public key,
// a session id embeds its agent id, a document id is the hash of its header.
import { canonicalJson, fromBase64Url, randomBase64Url, toBase64Url, utf8, type Json } from "./encoding.ts";
import { sha256 } from "./crypto.ts";
import { isSignerKey } from "./public-key.ts";

export type AgentId = `ag_${string}`;
export type SessionId = `${AgentId}~${string}`;
export type DocId = `doc_${string}`;
export type GroupId = string;

const AGENT_PATTERN = /^ag_[A-Za-z0-9_-]{43}$/;
const SESSION_PATTERN = /^ag_[A-Za-z0-9_-]{43}~[A-Za-z0-9_-]{8,32}$/;
const DOC_PATTERN = /^doc_[A-Za-z0-9_-]{43}$/;
/** Group ids are chosen by apps: URL-safe, 1 to 128 characters, not only dots (`..` is a path step). */
const GROUP_PATTERN = /^(?!\.+$)[A-Za-z0-9._~-]{1,128}$/;

// Strings only: a pattern's test() would take an array (or anything) by its text, ["ag_..."] as "ag_...".
export const isAgentId = (value: unknown): value is AgentId => typeof value === "string" && AGENT_PATTERN.test(value);
export const isSessionId = (value: unknown): value is SessionId => typeof value === "string" && SESSION_PATTERN.test(value);
export const isDocId = (value: unknown): value is DocId => typeof value === "string" && DOC_PATTERN.test(value);
export const isGroupId = (value: unknown): value is GroupId => typeof value === "string" && GROUP_PATTERN.test(value);

export const agentIdOf = (publicKey: Uint8Array): AgentId => `ag_${toBase64Url(publicKey)}`;

/**
 * The public key an agent id stands for, or undefined if the id is malformed or names a key that needs no
 * secret to sign for (public-key.ts: a point of small order, or one encoded non-canonically).
 */
export function publicKeyOfAgent(agentId: string): Uint8Array | undefined {
  if (!isAgentId(agentId)) return undefined;
  const key = fromBase64Url(agentId.slice(3));
  return key && isSignerKey(key) ? key : undefined;
}

export const newSessionId = (agentId: AgentId): SessionId => `${agentId}~${randomBase64Url(12)}`;

/** The agent that owns a session: the part before the `~`. */
export const agentOfSession = (sessionId: SessionId): AgentId => sessionId.slice(0, sessionId.indexOf("~")) as AgentId;

export type DocMeta = { [key: string]: Json };

/** What a document is: fixed at creation, hashed into its id. */
export type DocHeader = {
  group: GroupId;
  /** What the payloads are, for apps: "json", "yjs", "automerge", "ciphertext", ... The relay ignores it. */
  kind: string;
  creator: AgentId;
  createdAt: number;
  /** Makes two otherwise equal headers (and so ids) distinct. */
  nonce: string;
  meta: DocMeta;
  /** If set, only these agents (with the creator and the group's admins) may see the document. */
  readers?: AgentId[];
};

export const docIdOf = (header: DocHeader): DocId =>
  `doc_${toBase64Url(sha256(utf8(canonicalJson(header as unknown as Json))))}`;

export function newHeader(fields: { group: GroupId; kind: string; creator: AgentId; createdAt: number; meta?: DocMeta; readers?: AgentId[] }): DocHeader {
  const { readers, ...rest } = fields;
  return { ...rest, meta: fields.meta ?? {}, nonce: randomBase64Url(12), ...(readers ? { readers } : {}) };
}
