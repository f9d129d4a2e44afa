// A digest of many documents' known states that is cheap to keep current: the XOR of one hash per
// document. Order does not matter, and changing one document costs two hashes, not a rescan.
// Two sides with equal digests hold the same documents at the same counts (up to hash collisions).
import { canonicalJson, fromBase64Url, toBase64Url, utf8 } from "./encoding.ts";
import { sha256 } from "./crypto.ts";
import type { DocId } from "./ids.ts";
import type { KnownState } from "./known-state.ts";

export const EMPTY_DIGEST = toBase64Url(new Uint8Array(32));

/** The hash one document contributes to a digest. */
export function docDigest(doc: DocId, known: KnownState): Uint8Array {
  const sessions = Object.entries(known.sessions)
    .filter(([, count]) => count > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256(utf8(canonicalJson(["weft/digest/v1", doc, sessions])));
}

/** XORs `parts` into `digest` (adds a document's hash, or removes it again). */
export function xorDigest(digest: string, ...parts: Uint8Array[]): string {
  const bytes = fromBase64Url(digest) ?? new Uint8Array(32);
  for (const part of parts) for (let i = 0; i < 32; i++) bytes[i] = bytes[i]! ^ part[i]!;
  return toBase64Url(bytes);
}

/** The digest of a set of documents, as a client computes it from what it holds. */
export function digestOf(docs: Iterable<[DocId, KnownState]>): string {
  let digest = EMPTY_DIGEST;
  for (const [doc, known] of docs) if (known.header) digest = xorDigest(digest, docDigest(doc, known));
  return digest;
}
