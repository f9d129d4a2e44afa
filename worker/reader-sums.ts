// A reader's own digest without reading documents. A member who is not an admin sees the documents that do
// not limit their readers, and of those that do, the ones that list it or that it created. So its digest
// sum is the group's, less the sum of every document that limits its readers (`restricted_sum` in meta),
// plus its own share of those (`reader_sums`). Both move with the group's sum as it is folded
// (digest-fold.ts), by the changes of the documents that limit their readers: each such change moves the
// sums of its creator and readers (at most 65), however many documents the group holds. Storage written
// before these sums existed gets them once, from the documents that limit their readers (an index holds
// them apart), when the sum is next folded.
import { EMPTY_DIGEST_SUM, combineDigestSums, updateDigestSumAll, type AgentId, type DirEntry, type DocHeader, type DocId } from "../protocol/index.ts";
import type { DigestChange } from "./digest-fold.ts";

/** Meta keys: the sum of every live document that limits its readers, and whether the sums are kept. */
const RESTRICTED_SUM = "restricted_sum";
export const READER_SUMS_KEPT = "reader_sums";
const KEPT = READER_SUMS_KEPT;

export type ReaderSumsHost = {
  sql: SqlStorage;
  meta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  header(doc: DocId): DocHeader | undefined;
  /** The live documents that limit their readers. */
  restricted(): Iterable<DirEntry>;
};

/** Who may read a document that limits its readers, besides the group's admins. */
const readersOf = (header: DocHeader): Set<AgentId> => new Set([header.creator, ...(header.readers ?? [])]);

/** Moves the sums by the folded changes of documents that limit their readers; builds them first if they are not kept yet. Inside the fold's transaction. */
export function foldReaderSums(host: ReaderSumsHost, changes: readonly DigestChange[]): void {
  if (host.meta(KEPT) !== "1") return build(host);
  if (changes.length === 0) return;
  host.setMeta(RESTRICTED_SUM, updateDigestSumAll(host.meta(RESTRICTED_SUM) ?? EMPTY_DIGEST_SUM, changes));
  const byReader = new Map<AgentId, DigestChange[]>();
  for (const change of changes) {
    const header = host.header(change[0]);
    if (!header) continue;
    for (const agent of readersOf(header)) addTo(byReader, agent, change);
  }
  for (const [agent, moved] of byReader) store(host, agent, updateDigestSumAll(sumOf(host, agent), moved));
}

/** A document that limits its readers is deleted: it leaves the sums whole, as it leaves the group's. After a fold, inside its transaction. */
export function leaveReaderSums(host: ReaderSumsHost, header: DocHeader, change: DigestChange): void {
  host.setMeta(RESTRICTED_SUM, updateDigestSumAll(host.meta(RESTRICTED_SUM) ?? EMPTY_DIGEST_SUM, [change]));
  for (const agent of readersOf(header)) store(host, agent, updateDigestSumAll(sumOf(host, agent), [change]));
}

/** The digest sum of the documents `agent` may read as a member who is not an admin, given the group's folded sum. */
export function readerSum(host: ReaderSumsHost, groupSum: string, agent: AgentId): string {
  return combineDigestSums(combineDigestSums(groupSum, host.meta(RESTRICTED_SUM) ?? EMPTY_DIGEST_SUM, -1), sumOf(host, agent), 1);
}

function build(host: ReaderSumsHost): void {
  const all: DigestChange[] = [];
  const byReader = new Map<AgentId, DigestChange[]>();
  for (const entry of host.restricted()) {
    const change: DigestChange = [entry.id, { header: false, sessions: {} }, entry.known];
    all.push(change);
    for (const agent of readersOf(entry.header)) addTo(byReader, agent, change);
  }
  host.sql.exec("DELETE FROM reader_sums");
  host.setMeta(RESTRICTED_SUM, updateDigestSumAll(EMPTY_DIGEST_SUM, all));
  for (const [agent, changes] of byReader) store(host, agent, updateDigestSumAll(EMPTY_DIGEST_SUM, changes));
  host.setMeta(KEPT, "1");
}

function addTo(byReader: Map<AgentId, DigestChange[]>, agent: AgentId, change: DigestChange): void {
  const changes = byReader.get(agent);
  if (changes) changes.push(change);
  else byReader.set(agent, [change]);
}

const sumOf = (host: ReaderSumsHost, agent: AgentId): string =>
  host.sql.exec<{ sum: string }>("SELECT sum FROM reader_sums WHERE agent = ?", agent).toArray()[0]?.sum ?? EMPTY_DIGEST_SUM;

function store(host: ReaderSumsHost, agent: AgentId, sum: string): void {
  host.sql.exec("INSERT INTO reader_sums (agent, sum) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET sum = excluded.sum", agent, sum);
}
