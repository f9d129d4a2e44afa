// A digest of many documents' known states that is cheap to keep current and cannot be cancelled. Its
// elements are each live document's header and each of its sessions at its count. Each element maps to a
// vector of 1,024 lanes of 16 bits (SHAKE128 output), and the group's sum is the lane-wise sum of its
// elements' vectors mod 2^16: LtHash16 (Lewi, Kim, Maykov, Weis, "Securing Update Propagation with Homomorphic
// Hashing", 2019). Order does not matter, a write adds and subtracts only the elements it changed, and the
// digest on the wire is the SHA-256 of the sum. The XOR of 256-bit hashes used before was linear: from a few
// hundred candidate headers, Gaussian elimination finds a subset whose hashes cancel, so a writer could make
// documents invisible to `dir {digest}`. Finding elements whose vectors sum to zero (or to another set's sum)
// here is a short-integer-solution problem in dimension 1,024 over Z_2^16, which the paper puts beyond
// 2^200 work; a plain sum of 256-bit hashes would fall to Wagner's generalized birthday attack instead.
import { canonicalJson, fromBase64Url, toBase64Url, utf8 } from "./encoding.ts";
import { sha256, shake128 } from "./crypto.ts";
import type { DocId, SessionId } from "./ids.ts";
import type { KnownState } from "./known-state.ts";
import { ArgumentError } from "./argument-error.ts";

/** Bytes of a sum and of one element's vector: 1,024 little-endian 16-bit lanes. */
const SUM_BYTES = 2_048;

/** The sum of no elements, as stored (base64url of SUM_BYTES zero bytes). */
export const EMPTY_DIGEST_SUM = toBase64Url(new Uint8Array(SUM_BYTES));

/**
 * The last sum this module encoded, with its bytes and digest. A relay updates its group's sum on every
 * write, each time from the sum it made the time before: decoding 2,048 bytes of base64url and hashing
 * them again was most of the digest's cost per write.
 */
let lastSum: { text: string; bytes: Uint8Array; digest?: string } | undefined;

function bytesOfSum(sum: string): Uint8Array {
  if (lastSum?.text === sum) return lastSum.bytes.slice();
  return fromBase64Url(sum) ?? new Uint8Array(SUM_BYTES);
}

function encodeSum(bytes: Uint8Array): string {
  const text = toBase64Url(bytes);
  lastSum = { text, bytes: bytes.slice() };
  return text;
}

/** The wire digest of a sum: SHA-256 of its bytes, 43 characters of base64url. */
export function digestOfSum(sum: string): string {
  if (lastSum?.text === sum) return (lastSum.digest ??= toBase64Url(sha256(lastSum.bytes)));
  return toBase64Url(sha256(fromBase64Url(sum) ?? new Uint8Array(SUM_BYTES)));
}

/** The digest of an empty group. */
export const EMPTY_DIGEST = digestOfSum(EMPTY_DIGEST_SUM);

/**
 * Vectors computed lately, by element. A write subtracts each session's element at its old count, which is
 * the element the session's previous write added: kept here, it is not computed again (SHAKE128 of 2 KiB
 * is the digest's main cost, in pure JS where the runtime lacks it natively).
 */
const recentVectors = new Map<string, Uint8Array>();
const RECENT_VECTORS = 256;

/** One element's vector: a document's header (no session), or one session of it at a count. */
function elementVector(doc: DocId, session?: SessionId, count?: number): Uint8Array {
  const key = canonicalJson(session === undefined ? ["weft/digest/v3", doc] : ["weft/digest/v3", doc, session, count ?? 0]);
  let vector = recentVectors.get(key);
  if (!vector) {
    vector = shake128(utf8(key), SUM_BYTES);
    if (recentVectors.size >= RECENT_VECTORS) recentVectors.delete(recentVectors.keys().next().value!);
    recentVectors.set(key, vector);
  }
  return vector;
}

/** Adds (`sign` 1) or subtracts (`sign` -1) a vector into `sum`, lane by lane, mod 2^16. */
function addInto(sum: Uint8Array, vector: Uint8Array, sign: 1 | -1): void {
  for (let i = 0; i < SUM_BYTES; i += 2) {
    const lane = (sum[i]! | (sum[i + 1]! << 8)) + sign * (vector[i]! | (vector[i + 1]! << 8));
    sum[i] = lane & 0xff;
    sum[i + 1] = (lane >> 8) & 0xff;
  }
}

/** A document's elements: its header, and each session with a count above zero. */
function elements(known: KnownState): Map<SessionId | "", number> {
  const held = new Map<SessionId | "", number>();
  if (!known.header) return held;
  held.set("", 0);
  for (const [session, count] of Object.entries(known.sessions) as [SessionId, number][]) if (count > 0) held.set(session, count);
  return held;
}

/** Moves `sum` (bytes, changed in place) from `doc` at `before` to `doc` at `after`. */
function updateInPlace(sum: Uint8Array, doc: DocId, before: KnownState, after: KnownState): void {
  const removed = elements(before);
  const added = elements(after);
  const vector = (session: SessionId | "", count: number) => (session === "" ? elementVector(doc) : elementVector(doc, session, count));
  for (const [session, count] of removed) if (added.get(session) !== count) addInto(sum, vector(session, count), -1);
  for (const [session, count] of added) if (removed.get(session) !== count) addInto(sum, vector(session, count), 1);
}

/**
 * The sum once `doc` went from `before` to `after`. Each may list only the sessions that changed: a session
 * at the same count on both sides, or absent from both, leaves the sum as it was. A document without its
 * header (missing or deleted) contributes nothing. Costs one SHAKE128 per changed element, never a rescan.
 */
export function updateDigestSum(sum: string, doc: DocId, before: KnownState, after: KnownState): string {
  const bytes = bytesOfSum(sum);
  updateInPlace(bytes, doc, before, after);
  return encodeSum(bytes);
}

/** The sum once each change (a document from `before` to `after`) is applied in turn: one decoding and one encoding for them all. */
export function updateDigestSumAll(sum: string, changes: Iterable<readonly [doc: DocId, before: KnownState, after: KnownState]>): string {
  const bytes = bytesOfSum(sum);
  for (const [doc, before, after] of changes) updateInPlace(bytes, doc, before, after);
  return encodeSum(bytes);
}

/** `sum` plus (`sign` 1) or less (`sign` -1) another sum: the sum of two sets apart, or of a set less a part of it. */
export function combineDigestSums(sum: string, other: string, sign: 1 | -1): string {
  const bytes = bytesOfSum(sum);
  addInto(bytes, fromBase64Url(other) ?? new Uint8Array(SUM_BYTES), sign);
  return encodeSum(bytes);
}

/** The sum of a set of documents (a relay rebuilding its own, or a reader's share of a group). */
export function digestSumOf(docs: Iterable<readonly [DocId, KnownState]>): string {
  const sum = new Uint8Array(SUM_BYTES);
  for (const [doc, known] of docs) updateInPlace(sum, doc, { header: false, sessions: {} }, known);
  return encodeSum(sum);
}

/**
 * The digest of a set of documents, as a client computes it from what it holds. An app's plain JavaScript
 * passing anything but [id, known state] pairs hears what it passed, not the engine's words from inside.
 */
export function digestOf(docs: Iterable<readonly [DocId, KnownState]>): string {
  if (typeof (docs as { [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== "function" || typeof docs === "string") {
    throw new ArgumentError(`digestOf: docs must be an iterable of [document id, known state] pairs (a Map, say), not ${docs === null ? "null" : typeof docs}`);
  }
  // A list (what the client passes) is read as it is; any other iterable once, into one.
  const pairs: readonly (readonly [DocId, KnownState])[] = Array.isArray(docs) ? docs : [...docs];
  const bad = pairs.findIndex((pair) => !Array.isArray(pair) || typeof pair[0] !== "string" || typeof pair[1] !== "object" || pair[1] === null || typeof pair[1].sessions !== "object" || pair[1].sessions === null);
  if (bad >= 0) throw new ArgumentError(`digestOf: docs[${bad}] is not a [document id, known state] pair ({ header, sessions })`);
  return digestOfSum(digestSumOf(pairs));
}
