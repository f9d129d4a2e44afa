// A reader's own digest without reading the group's documents at every write. A member who is not an admin
// sees the documents that do not limit their readers, and of those that do, the ones that list it or that
// it created. So its digest sum is the group's, less the sum of every document that limits its readers
// (`restricted_sum` in meta), plus its own share of those (`reader_sums`). The restricted sum moves with the
// group's as it is folded (digest-fold.ts). An agent's share is kept only once the agent asked for its
// digest: it is taken then, by one pass over the documents that limit their readers (an index holds them
// apart), and moves from then on with the changes of the documents that name it. Readers named in headers
// that never ask (any writer may name any id) cost nothing. Storage written before the restricted sum was
// kept gets it once, by the same pass, when the sum is next folded.
import { EMPTY_DIGEST_SUM, combineDigestSums, mayRead, updateDigestSumAll, type AgentId, type DirEntry, type DocHeader, type DocId } from "../protocol/index.ts";
import type { DigestChange } from "./digest-fold.ts";

/** Meta keys: the sum of every live document that limits its readers, and whether it is kept. */
const RESTRICTED_SUM = "restricted_sum";
export const READER_SUMS_KEPT = "reader_sums";

export type ReaderSumsHost = {
  sql: SqlStorage;
  meta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  header(doc: DocId): DocHeader | undefined;
  /** The live documents that limit their readers. */
  restricted(): Iterable<DirEntry>;
};

/** Who may read a document that limits its readers, besides the group's admins: each once (a header may name one twice). */
const readersOf = (header: DocHeader): AgentId[] => [...new Set([header.creator, ...(header.readers ?? [])])];

/**
 * Moves the sums by the folded changes of documents that limit their readers (the restricted sum, and the
 * shares of the agents that asked and that the documents name); takes the restricted sum first where it is
 * not kept yet. Inside the fold's transaction.
 */
export function foldReaderSums(host: ReaderSumsHost, changes: readonly DigestChange[], headers?: ReadonlyMap<DocId, DocHeader>): void {
  if (host.meta(READER_SUMS_KEPT) !== "1") return build(host);
  if (changes.length === 0) return;
  host.setMeta(RESTRICTED_SUM, updateDigestSumAll(host.meta(RESTRICTED_SUM) ?? EMPTY_DIGEST_SUM, changes));
  const named = new Map<AgentId, DigestChange[]>();
  for (const change of changes) {
    const header = headers?.get(change[0]) ?? host.header(change[0]);
    if (!header) continue;
    for (const agent of readersOf(header)) {
      const moved = named.get(agent);
      if (moved) moved.push(change);
      else named.set(agent, [change]);
    }
  }
  for (const [agent, sum] of keptShares(host, [...named.keys()])) store(host, agent, updateDigestSumAll(sum, named.get(agent)!));
}

/** A document that limits its readers is deleted: it leaves the sums whole, as it leaves the group's. After a fold, inside its transaction. */
export function leaveReaderSums(host: ReaderSumsHost, header: DocHeader, change: DigestChange): void {
  host.setMeta(RESTRICTED_SUM, updateDigestSumAll(host.meta(RESTRICTED_SUM) ?? EMPTY_DIGEST_SUM, [change]));
  for (const [agent, sum] of keptShares(host, readersOf(header))) store(host, agent, updateDigestSumAll(sum, [change]));
}

/**
 * The digest sum of the documents `agent` may read as a member who is not an admin, given the group's
 * folded sum. Its share is taken the first time (one pass over the documents that limit their readers), and
 * kept; inside a write transaction.
 */
export function readerSum(host: ReaderSumsHost, groupSum: string, agent: AgentId): string {
  let share = keptShares(host, [agent]).get(agent);
  if (share === undefined) {
    let named = false;
    const readable = function* (entries: Iterable<DirEntry>): Iterable<DigestChange> {
      for (const entry of entries) {
        if (!mayRead("reader", agent, entry.header)) continue;
        named = true;
        yield [entry.id, { header: false, sessions: {} }, entry.known];
      }
    };
    share = updateDigestSumAll(EMPTY_DIGEST_SUM, readable(host.restricted()));
    store(host, agent, named ? share : NO_SHARE);
  }
  return combineDigestSums(combineDigestSums(groupSum, host.meta(RESTRICTED_SUM) ?? EMPTY_DIGEST_SUM, -1), share, 1);
}

/** Storage from before: the restricted sum, from one pass; the agents' shares are taken again as they ask. */
function build(host: ReaderSumsHost): void {
  const all = function* (entries: Iterable<DirEntry>): Iterable<DigestChange> {
    for (const entry of entries) yield [entry.id, { header: false, sessions: {} }, entry.known];
  };
  host.sql.exec("DELETE FROM reader_sums");
  host.setMeta(RESTRICTED_SUM, updateDigestSumAll(EMPTY_DIGEST_SUM, all(host.restricted())));
  host.setMeta(READER_SUMS_KEPT, "1");
}

/** A share taken and found empty, as stored: a few bytes where an empty sum would be 2,731. */
const NO_SHARE = "";

/** The kept shares of those of `agents` that have one: one statement. */
function keptShares(host: ReaderSumsHost, agents: readonly AgentId[]): Map<AgentId, string> {
  if (agents.length === 0) return new Map();
  const rows = host.sql.exec<{ agent: AgentId; sum: string }>("SELECT agent, sum FROM reader_sums WHERE agent IN (SELECT value FROM json_each(?))", JSON.stringify([...new Set(agents)])).toArray();
  return new Map(rows.map((row) => [row.agent, row.sum === NO_SHARE ? EMPTY_DIGEST_SUM : row.sum]));
}

function store(host: ReaderSumsHost, agent: AgentId, sum: string): void {
  host.sql.exec("INSERT INTO reader_sums (agent, sum) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET sum = excluded.sum", agent, sum);
}
