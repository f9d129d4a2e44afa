// Session logs: one writer session's transactions in one document, hash-chained and signed.
// hash[i] = SHA-256(hash[i-1] || encoded(transaction i)), hash[-1] = 32 zero bytes, where a transaction of
// text is encoded as the canonical JSON {"at":…,"data":"…"} (UTF-8) and one of bytes as the canonical JSON
// {"at":…,"bytes":<length>} followed by the bytes themselves: the key tells the two apart, and bytes are
// hashed as they are, never re-encoded.
// After each batch the agent signs (document id, session id, transaction count, last hash).
import { canonicalJson, fromBase64Url, toBase64Url, utf8 } from "./encoding.ts";
import { sha256Parts, sign, verify } from "./crypto.ts";
import { agentOfSession, publicKeyOfAgent, type DocId, type SessionId } from "./ids.ts";

/**
 * What a transaction carries, opaque to the relay: text (JSON ops) or bytes (a Yjs update, ciphertext).
 * Each stays what it was appended as: bytes are served as bytes, text as text.
 */
export type TransactionData = string | Uint8Array;

/** One transaction. */
export type Transaction = { at: number; data: TransactionData };

/** Whether two transactions are the same: same time, same text or bytes. */
const sameTransaction = (a: Transaction, b: Transaction): boolean =>
  a.at === b.at &&
  (typeof a.data === "string" || typeof b.data === "string"
    ? a.data === b.data
    : a.data.byteLength === b.data.byteLength && a.data.every((byte, i) => byte === (b.data as Uint8Array)[i]));

/**
 * The first index (counted from the session's start) where two copies of one session's log hold other
 * transactions, over the indexes both hold; each copy is its transactions from index `from` on.
 */
export function firstDifference(a: { from: number; transactions: readonly Transaction[] }, b: { from: number; transactions: readonly Transaction[] }): number | undefined {
  const end = Math.min(a.from + a.transactions.length, b.from + b.transactions.length);
  for (let index = Math.max(a.from, b.from); index < end; index++) if (!sameTransaction(a.transactions[index - a.from]!, b.transactions[index - b.from]!)) return index;
  return undefined;
}

/** Hash before the first transaction of every session, base64url. */
export const GENESIS_HASH = toBase64Url(new Uint8Array(32));

/** The bytes a transaction adds to its session's hash chain. */
export function encodeTransaction(transaction: Transaction): Uint8Array {
  const [text, bytes] = transactionParts(transaction);
  const head = utf8(text);
  if (!bytes) return head;
  const body = new Uint8Array(head.length + bytes.byteLength);
  body.set(head, 0);
  body.set(bytes, head.length);
  return body;
}

/** encodeTransaction's bytes in their parts: the canonical JSON text, then a bytes transaction's bytes. */
function transactionParts(transaction: Transaction): [string] | [string, Uint8Array] {
  const { at, data } = transaction;
  // The canonical JSON written directly (keys in order, a finite number as JSON.stringify writes it): every
  // transaction sent or received is hashed, and the general canonicalJson builds lists to sort and join.
  const time = typeof at === "number" && Number.isFinite(at) ? String(at) : undefined;
  if (typeof data === "string") return [time === undefined ? canonicalJson({ at, data }) : `{"at":${time},"data":${JSON.stringify(data)}}`];
  return [time === undefined ? canonicalJson({ at, bytes: data.byteLength }) : `{"at":${time},"bytes":${data.byteLength}}`, data];
}

/** Extends a chain by some transactions; returns the hash after the last one (base64url). */
export function chainHash(previousHash: string, transactions: readonly Transaction[]): string {
  let hash = fromBase64Url(previousHash);
  if (!hash || hash.length !== 32) throw new TypeError("chainHash: previous hash is not 32 bytes of base64url");
  for (const transaction of transactions) hash = nextChainHash(hash, transaction);
  return toBase64Url(hash);
}

/**
 * The hash after `transaction`, from the hash before it (32 bytes each): SHA-256 of that hash, then
 * encodeTransaction's bytes, fed in their parts rather than joined first. A client restoring its own
 * session from its store keeps the hash after each transaction, and goes on from the bytes of the last.
 */
export const nextChainHash = (previous: Uint8Array, transaction: Transaction): Uint8Array => sha256Parts([previous, ...transactionParts(transaction)]);

/** The exact bytes an agent signs to vouch for the first `count` transactions of a session. */
export const checkpointMessage = (docId: DocId, sessionId: SessionId, count: number, lastHash: string): Uint8Array =>
  utf8(canonicalJson(["weft/session/v1", docId, sessionId, count, lastHash]));

export const signCheckpoint = (
  secretKey: Uint8Array,
  docId: DocId,
  sessionId: SessionId,
  count: number,
  lastHash: string,
): string => toBase64Url(sign(checkpointMessage(docId, sessionId, count, lastHash), secretKey));

export async function verifyCheckpoint(
  signature: string,
  docId: DocId,
  sessionId: SessionId,
  count: number,
  lastHash: string,
): Promise<boolean> {
  const publicKey = publicKeyOfAgent(agentOfSession(sessionId));
  const signatureBytes = fromBase64Url(signature);
  if (!publicKey || !signatureBytes) return false;
  return verify(signatureBytes, checkpointMessage(docId, sessionId, count, lastHash), publicKey);
}

/** The bytes a client signs to answer the relay's challenge. */
export const helloMessage = (group: string, sessionId: SessionId, nonce: string): Uint8Array =>
  utf8(canonicalJson(["weft/hello/v1", group, sessionId, nonce]));
