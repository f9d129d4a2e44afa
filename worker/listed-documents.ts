// What SqliteStore reads of each document when it lists them (a directory, an open) or reads ahead for a
// frame's loads: one statement per page of documents carries each one's row, its sessions (their counts;
// for an open or loads, their heads and small open chunks too) and whether it has a snapshot, so listing or
// sending many small documents does not cost a statement or two per document.
import type { DocId, SessionId } from "../protocol/index.ts";

/**
 * A listed document's sessions come with it (counts; for an open or loads, heads), in the listing's one
 * statement, when it has at most this many: most documents have one to three, one per device.
 */
const LISTED_SESSIONS = 8;
/**
 * And, for an open or loads, a session's open chunk when it is at most this many characters and its
 * document has at most LISTED_TAIL_SESSIONS sessions. So a page of 200 documents carries at most about
 * 2 MB (8 heads and 4 open chunks of 2 KiB each), and a directory's page of 2,000 about 1.2 MB of sessions.
 */
const LISTED_TAIL_CHARS = 2 * 1024;
const LISTED_TAIL_SESSIONS = 4;

/** Documents an open's slice or a frame's loads read ahead per statement (each with its sessions). */
export const LISTED_PAGE = 200;

export type DocListRow = {
  num: number;
  id: DocId;
  header: string;
  updated_at: number;
  cursor: number;
  deleted: number;
  sessions: number;
  /**
   * For a document of up to LISTED_SESSIONS sessions, each session as JSON: `[id, count]`, or for an open
   * `[id, count, num, last_hash, tail_first, tail_chars, tail]` (its head, and its open chunk if small, else
   * null); else null.
   */
  listed_sessions: string | null;
  /** 1 when the document has a snapshot. */
  snapshotted: number;
};
export type ListedSession = [id: SessionId, count: number, num?: number, lastHash?: string, tailFirst?: number, tailChars?: number, tail?: string | null];

/**
 * What a listing reads of each document (DocListRow): the row, its sessions (for an open, their heads too,
 * and a small open chunk's text: sending a small document then reads nothing more), and whether it has a
 * snapshot.
 */
export const listedColumns = (heads: boolean) => `num, id, header, updated_at, cursor, deleted, sessions,
  CASE WHEN deleted = 0 AND sessions <= ${LISTED_SESSIONS} THEN (SELECT json_group_array(json_array(id, count${heads ? `, num, last_hash, tail_first, length(tail), CASE WHEN docs.sessions <= ${LISTED_TAIL_SESSIONS} AND length(tail) <= ${LISTED_TAIL_CHARS} THEN tail END` : ""})) FROM sessions WHERE doc_num = docs.num) END AS listed_sessions,
  EXISTS (SELECT 1 FROM snapshots WHERE doc_num = docs.num) AS snapshotted`;

/** A listed document's sessions, if the listing carried them (else they are read on their own). */
export const listedSessions = (doc: DocListRow): ListedSession[] | undefined => (doc.listed_sessions === null ? undefined : (JSON.parse(doc.listed_sessions) as ListedSession[]));

/** Listed sessions as a known state's counts. */
export const sessionCounts = (sessions: readonly ListedSession[]): Record<SessionId, number> => Object.fromEntries(sessions.map(([session, count]) => [session, count]));
