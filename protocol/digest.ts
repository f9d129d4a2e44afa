// A digest of many documents' known states that is cheap to keep current. Its elements are each live
// document's header and each of its sessions at its count; the digest is the XOR of one hash per element.
// Order does not matter, and a write changes only the elements of the sessions it appended to, so keeping
// it current costs two hashes per changed session, never a rescan of a document or of the group.
// Two sides with equal digests hold the same documents at the same counts (up to hash collisions).
import { canonicalJson, fromBase64Url, toBase64Url, utf8 } from "./encoding.ts";
import { sha256 } from "./crypto.ts";
import type { DocId, SessionId } from "./ids.ts";
import type { KnownState } from "./known-state.ts";

export const EMPTY_DIGEST = toBase64Url(new Uint8Array(32));

/** The hash of one element: a document's header (no session), or one session of it at a count. */
const elementHash = (doc: DocId, session?: SessionId, count?: number): Uint8Array =>
  sha256(utf8(canonicalJson(session === undefined ? ["weft/digest/v2", doc] : ["weft/digest/v2", doc, session, count ?? 0])));

function xorInto(bytes: Uint8Array, part: Uint8Array): void {
  for (let i = 0; i < 32; i++) bytes[i] = bytes[i]! ^ part[i]!;
}

/**
 * The digest once `doc` went from `before` to `after`. Each may list only the sessions that changed:
 * a session at the same count on both sides, or absent from both, leaves the digest as it was. A document
 * without its header (missing or deleted) contributes nothing.
 */
export function updateDigest(digest: string, doc: DocId, before: KnownState, after: KnownState): string {
  const bytes = fromBase64Url(digest) ?? new Uint8Array(32);
  const elements = (known: KnownState): Map<SessionId | "", number> => {
    const held = new Map<SessionId | "", number>();
    if (!known.header) return held;
    held.set("", 0);
    for (const [session, count] of Object.entries(known.sessions) as [SessionId, number][]) if (count > 0) held.set(session, count);
    return held;
  };
  const removed = elements(before);
  const added = elements(after);
  const flip = (session: SessionId | "", count: number) => xorInto(bytes, session === "" ? elementHash(doc) : elementHash(doc, session, count));
  for (const [session, count] of removed) if (added.get(session) !== count) flip(session, count);
  for (const [session, count] of added) if (removed.get(session) !== count) flip(session, count);
  return toBase64Url(bytes);
}

/** The digest of a set of documents, as a client computes it from what it holds. */
export function digestOf(docs: Iterable<readonly [DocId, KnownState]>): string {
  let digest = EMPTY_DIGEST;
  for (const [doc, known] of docs) digest = updateDigest(digest, doc, { header: false, sessions: {} }, known);
  return digest;
}
