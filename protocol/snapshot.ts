// Snapshots: a writer's signed statement that `data` holds a document as of a known state (`covers`, a
// transaction count per session), so a loader can start from it instead of replaying every transaction it
// covers. `data` is opaque to the relay, like a transaction's (for Yjs: the merged state as one update),
// and applying it must be idempotent in the binding: a client may receive a snapshot of transactions it
// already holds. The signature covers the document, the author's session, the covered counts, the data's
// hash and the newest time its author had seen (`at`), so any client can check who vouched for the snapshot.
import { canonicalJson, toBase64Url, fromBase64Url, utf8 } from "./encoding.ts";
import { sha256, sign, verify } from "./crypto.ts";
import { agentOfSession, publicKeyOfAgent, type DocId, type SessionId } from "./ids.ts";
import { isSubset, type SessionCounts } from "./known-state.ts";
import type { TransactionData } from "./session-log.ts";

/** A signed snapshot, as it travels both ways (see snapshotSchema in messages.ts). */
export type Snapshot = {
  doc: DocId;
  /** The author's session; its agent signed. */
  session: SessionId;
  /** Per session, how many transactions `data` includes. Sessions not listed are not covered. */
  covers: SessionCounts;
  data: TransactionData;
  /**
   * The newest transaction time its author had seen in the document when it took the snapshot: a client
   * that loads the snapshot instead of the transactions it covers still stamps its next write after them
   * (the clocks may disagree). Absent from snapshots of protocol v2, which signed no time.
   */
  at?: number;
  signature: string;
};

const asKnown = (sessions: SessionCounts) => ({ header: false, sessions });

/** Whether two snapshots cover the same counts (a session missing from one counts 0). */
export const sameCovers = (a: SessionCounts, b: SessionCounts): boolean => isSubset(asKnown(a), asKnown(b)) && isSubset(asKnown(b), asKnown(a));

/**
 * Whether covered counts `a` include all of `b` and more: a snapshot covering `a` is newer than one covering
 * `b`. The relay stores only a newer one; the SDK keeps and publishes only a newer one.
 */
export const coversMore = (a: SessionCounts, b: SessionCounts): boolean => isSubset(asKnown(b), asKnown(a)) && !isSubset(asKnown(a), asKnown(b));

/** Whether covered counts `a` include all of `b` (the same or more): a snapshot covering `a` makes one covering `b` unneeded. */
export const coversAll = (a: SessionCounts, b: SessionCounts): boolean => isSubset(asKnown(b), asKnown(a));

/** SHA-256 of the data with its kind: one byte ("t" text, "b" bytes), then the UTF-8 text or the bytes. */
export function snapshotDataHash(data: TransactionData): string {
  const body = typeof data === "string" ? utf8(data) : data;
  const input = new Uint8Array(1 + body.byteLength);
  input[0] = typeof data === "string" ? 0x74 : 0x62;
  input.set(body, 1);
  return toBase64Url(sha256(input));
}

/**
 * The exact bytes an agent signs to vouch for a snapshot (covered counts in canonical, sorted form). One
 * without a time (stored by a relay of protocol v2) was signed as v1, without it.
 */
export const snapshotMessage = (doc: DocId, session: SessionId, covers: SessionCounts, dataHash: string, at?: number): Uint8Array =>
  utf8(canonicalJson(at === undefined ? ["weft/snapshot/v1", doc, session, covers, dataHash] : ["weft/snapshot/v2", doc, session, covers, at, dataHash]));

export const signSnapshot = (secretKey: Uint8Array, doc: DocId, session: SessionId, covers: SessionCounts, data: TransactionData, at?: number): string =>
  toBase64Url(sign(snapshotMessage(doc, session, covers, snapshotDataHash(data), at), secretKey));

/** Whether the snapshot's signature is its author's over exactly this document, covered state, time and data. */
export async function verifySnapshot(snapshot: Snapshot): Promise<boolean> {
  const publicKey = publicKeyOfAgent(agentOfSession(snapshot.session));
  const signatureBytes = fromBase64Url(snapshot.signature);
  if (!publicKey || !signatureBytes) return false;
  return verify(signatureBytes, snapshotMessage(snapshot.doc, snapshot.session, snapshot.covers, snapshotDataHash(snapshot.data), snapshot.at), publicKey);
}
