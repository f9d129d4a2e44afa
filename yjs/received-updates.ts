// Applying other writers' Yjs updates so that one bad payload harms nothing else: each update is applied
// on its own, and one Yjs cannot decode (a buggy binding, a V2-encoded update, a malicious member) is
// skipped and named, while the updates around it still apply. Also what the Y.Doc is left waiting for:
// structs or deletions Yjs holds back because they build on content it never received.
import * as Y from "yjs";
import type { DocId } from "../protocol/ids.ts";

/** An update to apply and where it came from: the transaction that carried it (the last part of a split one). */
export type ReceivedUpdate = { update: Uint8Array; session: string; index: number };

/**
 * A transaction (or a snapshot) of the document holds no update Yjs can apply: it was skipped, and the
 * rest of the document applied without it. Every replica skips it alike, so none forks; whatever it was
 * meant to carry is not in any of them. Reported once per provider that receives it.
 */
export class UndecodableUpdateError extends Error {
  override readonly name = "UndecodableUpdateError";
  readonly doc: DocId;
  /** The session that wrote it (for a snapshot: the session that published it). */
  readonly session: string;
  /** Its index in that session, or undefined when it is the session's snapshot. */
  readonly index: number | undefined;

  constructor(doc: DocId, session: string, index: number | undefined, reason: string) {
    const what = index === undefined ? `the snapshot published by session ${session}` : `transaction ${index} of session ${session}`;
    super(`WeftProvider: ${what} in ${doc} is not a Yjs update this binding can apply (${reason}); skipped`);
    this.doc = doc;
    this.session = session;
    this.index = index;
  }
}

/**
 * The Y.Doc holds updates that build on content the document never delivered (Yjs keeps them aside and
 * shows nothing of them): a writer sent an update whose base it never sent. Reported once the Y.Doc has
 * waited, in sync with the relay, for missingUpdates.reportAfterMs (10 s), and again only after it stopped.
 */
export class MissingUpdatesError extends Error {
  override readonly name = "MissingUpdatesError";
  readonly doc: DocId;
  /** Per Yjs client id, the first clock the Y.Doc waits for (empty when only deletions wait). */
  readonly missing: ReadonlyMap<number, number>;

  constructor(doc: DocId, missing: ReadonlyMap<number, number>) {
    const clients = [...missing].map(([client, clock]) => `client ${client} from clock ${clock}`).join(", ");
    super(`WeftProvider: ${doc} holds updates that build on content it never received (${clients || "deletions of unknown content"}); they are not shown`);
    this.doc = doc;
    this.missing = missing;
  }
}

/**
 * Applies `received` in one Yjs transaction (one `update` event for the app), each update on its own: not
 * Y.mergeUpdates, which is quadratic in their number (30,000 keystrokes took 67 s to merge, 0.2 s to apply
 * one by one), and which one bad update would spoil for all. Returns the ones Yjs threw on, with why.
 */
export function applyEach(ydoc: Y.Doc, received: readonly ReceivedUpdate[], origin: unknown): { update: ReceivedUpdate; reason: string }[] {
  const failed: { update: ReceivedUpdate; reason: string }[] = [];
  if (received.length === 0) return failed;
  ydoc.transact(() => {
    for (const update of received) {
      const nothing = appliesNothing(update.update);
      if (nothing) {
        failed.push({ update, reason: nothing });
        continue;
      }
      try {
        Y.applyUpdate(ydoc, update.update, origin);
      } catch (error) {
        failed.push({ update, reason: reasonOf(error) });
      }
    }
  }, origin);
  return failed;
}

/**
 * Why an update would apply nothing though it holds bytes, or undefined. An update with no new content
 * starts with 0 (its number of Yjs clients); an honest one then holds deletions, or is the 2 bytes of
 * nothing at all. A V2 update (Y.encodeStateAsUpdateV2 or an `updateV2` event's) starts with 0 too, and
 * Yjs reads it as neither content nor deletions, without a word: it would vanish. Only updates that start
 * with 0 (deletions, a small share of typing) are decoded for it.
 */
function appliesNothing(update: Uint8Array): string | undefined {
  if (update[0] !== 0 || update.length <= 2) return undefined;
  let decoded: ReturnType<typeof Y.decodeUpdate>;
  try {
    decoded = Y.decodeUpdate(update);
  } catch {
    return undefined; // applying it throws, and says why
  }
  if (decoded.structs.length > 0 || decoded.ds.clients.size > 0) return undefined;
  return "it holds neither content nor deletions that Yjs can read: a V2 update (encodeStateAsUpdateV2, updateV2) where a V1 one was meant?";
}

/**
 * Why a snapshot's data is no state Yjs can apply, or undefined. A state (Y.encodeStateAsUpdate) starts with
 * its number of Yjs clients, 0 only for an empty document, which is 2 bytes (no clients, no deletions). A V2
 * update (Y.encodeStateAsUpdateV2) starts with a 0 too: Yjs reads the rest as deletions and applies nothing,
 * without a word, so a new editor would show an empty document.
 */
export const notAState = (update: Uint8Array): string | undefined =>
  update[0] === 0 && update.length > 2 ? "a state with no content but deletions: a V2 update (Y.encodeStateAsUpdateV2) where Y.encodeStateAsUpdate was meant?" : undefined;

/**
 * How long the Y.Doc must wait, in sync, before the wait is reported: honest waits (an update arriving
 * before its base, which another tab pushes a moment later) end within a second or two. Tests shorten it.
 */
export const missingUpdates = { reportAfterMs: 10_000 };

/** What the Y.Doc waits for (see MissingUpdatesError), or undefined when it waits for nothing. */
export function missingOf(ydoc: Y.Doc): Map<number, number> | undefined {
  const { pendingStructs, pendingDs } = ydoc.store;
  if (!pendingStructs && !pendingDs) return undefined;
  return new Map(pendingStructs?.missing ?? []);
}

export const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
