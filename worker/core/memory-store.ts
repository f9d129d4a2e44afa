// An in-memory GroupStore with the same behaviour as the SQLite one, for the relay core's Node tests.
import { EMPTY_DIGEST, EMPTY_DIGEST_SUM, agentOfSession, digestOfSum, mayRead, updateDigestSum, updateDigestSumAll } from "../../protocol/index.ts";
import type { AgentId, DirEntry, DocHeader, DocId, KnownState, Role, SessionId } from "../../protocol/index.ts";
import { dataBytes, encodedDataBytes, toWireData } from "../../protocol/index.ts";
import {
  ALL_DOCS,
  digestAfter,
  quotaBytes,
  type AgentUsage,
  type ListedDoc,
  type GroupInfo,
  type GroupStore,
  type PeerId,
  type PruneSlice,
  type SessionExtent,
  type SessionHead,
  type SnapshotHead,
  type StoredSnapshot,
  type StoredTransaction,
  type TransactionRun,
  type Write,
} from "./store.ts";

type StoredDoc = {
  header: DocHeader;
  updatedAt: number;
  cursor: number;
  deleted: boolean;
  /** Each session's log; a pruned transaction's slot is empty (see `firstStored`). */
  sessions: Map<SessionId, (StoredTransaction | undefined)[]>;
  /** Per session, the first index still stored (transactions before it were pruned). */
  firstStored: Map<SessionId, number>;
  snapshot?: StoredSnapshot;
  /** Sessions of the snapshot whose pruning is done (undefined once all are, or before it is due). */
  prunedSessions?: Set<SessionId>;
  heads: Map<SessionId, SessionHead>;
  /** Bytes of each session's data, as its appends counted them. */
  bytes: Map<SessionId, number>;
};

export class MemoryStore implements GroupStore {
  readonly #docs = new Map<DocId, StoredDoc>();
  readonly #subscriptions = new Map<string, Set<PeerId>>();
  readonly #members = new Map<AgentId, Role>();
  /** `removed` is replaced, never changed in place: commitAll's copy of the info is enough to roll it back. */
  #info: GroupInfo = { membersDoc: undefined, membersLast: { at: 0, session: "" }, removed: new Set(), cursor: 0, digest: EMPTY_DIGEST, digestSum: EMPTY_DIGEST_SUM };

  info(): GroupInfo {
    return { ...this.#info, membersLast: { ...this.#info.membersLast }, removed: new Set(this.#info.removed) };
  }

  role(agent: AgentId): Role | undefined {
    return this.#members.get(agent);
  }

  members(): Map<AgentId, Role> {
    return new Map(this.#members);
  }

  header(doc: DocId): DocHeader | undefined {
    const stored = this.#docs.get(doc);
    return stored && !stored.deleted ? stored.header : undefined;
  }

  deleted(doc: DocId): boolean {
    return this.#docs.get(doc)?.deleted ?? false;
  }

  tombstone(doc: DocId): DocHeader | undefined {
    const stored = this.#docs.get(doc);
    return stored?.deleted ? stored.header : undefined;
  }

  hasRestrictedDocs(): boolean {
    return [...this.#docs.values()].some((doc) => !doc.deleted && doc.header.readers !== undefined);
  }

  knownState(doc: DocId): KnownState {
    const stored = this.#docs.get(doc);
    if (!stored || stored.deleted) return { header: false, sessions: {} };
    const sessions: KnownState["sessions"] = {};
    for (const [session, head] of stored.heads) sessions[session] = head.count;
    return { header: true, sessions };
  }

  sessionHead(doc: DocId, session: SessionId): SessionHead | undefined {
    return this.#docs.get(doc)?.heads.get(session);
  }

  usage(agent: AgentId): AgentUsage {
    const usage = { docs: 0, sessions: 0, bytes: 0 };
    for (const stored of this.#docs.values()) {
      if (stored.deleted) continue;
      if (stored.header.creator === agent) usage.docs++;
      for (const [session, bytes] of stored.bytes) {
        if (agentOfSession(session) !== agent) continue;
        usage.sessions++;
        usage.bytes += quotaBytes(bytes, stored.heads.get(session)!.count);
      }
      // Its snapshot's data counts against its author, as long as it is stored.
      if (stored.snapshot && agentOfSession(stored.snapshot.session) === agent) usage.bytes += dataBytes(stored.snapshot.data);
    }
    return usage;
  }

  sessionCount(doc: DocId): number {
    const stored = this.#docs.get(doc);
    return stored && !stored.deleted ? stored.heads.size : 0;
  }

  agentSessionCount(doc: DocId, agent: AgentId): number {
    const stored = this.#docs.get(doc);
    return stored && !stored.deleted ? [...stored.heads.keys()].filter((session) => agentOfSession(session) === agent).length : 0;
  }

  subscribers(doc: DocId): PeerId[] {
    return [...new Set([...(this.#subscriptions.get(doc) ?? []), ...(this.#subscriptions.get(ALL_DOCS) ?? [])])];
  }

  docSubscribers(doc: DocId): PeerId[] {
    return [...(this.#subscriptions.get(doc) ?? [])];
  }

  readerSum(agent: AgentId): string {
    const unreadable = function* (entries: Iterable<DirEntry>): Iterable<[DocId, KnownState, KnownState]> {
      for (const entry of entries) if (!entry.deleted && !mayRead("reader", agent, entry.header)) yield [entry.id, entry.known, { header: false, sessions: {} }];
    };
    return updateDigestSumAll(this.#info.digestSum, unreadable(this.listDocumentsById()));
  }

  *readTransactions(doc: DocId, session: SessionId, from: number, to: number): Iterable<StoredTransaction> {
    const log = this.#docs.get(doc)?.sessions.get(session) ?? [];
    for (const transaction of log.slice(from, to)) if (transaction) yield transaction;
  }

  *readRuns(doc: DocId, session: SessionId, from: number, to: number, limit = Infinity): Iterable<TransactionRun> {
    // A run ends at a gap (pruned transactions), so its transactions stay consecutive.
    let run: TransactionRun | undefined;
    let taken = 0;
    for (const transaction of this.readTransactions(doc, session, from, to)) {
      if (taken++ >= limit) break;
      if (run && run.first + run.at.length !== transaction.index) {
        yield run;
        run = undefined;
      }
      run ??= { first: transaction.index, at: [], data: [], bytes: [], signatures: [] };
      const data = toWireData(transaction.data);
      run.at.push(transaction.at);
      run.data.push(data);
      run.bytes.push(encodedDataBytes(data));
      if (transaction.signature !== undefined) run.signatures[run.at.length - 1] = transaction.signature;
    }
    if (run) yield run;
  }

  snapshotHead(doc: DocId): SnapshotHead | undefined {
    const snapshot = this.#live(doc)?.snapshot;
    return snapshot && { session: snapshot.session, covers: { ...snapshot.covers }, bytes: dataBytes(snapshot.data), takenAt: snapshot.takenAt };
  }

  readSnapshot(doc: DocId): StoredSnapshot | undefined {
    const snapshot = this.#live(doc)?.snapshot;
    return snapshot && { ...snapshot, covers: { ...snapshot.covers } };
  }

  sessionExtents(doc: DocId): Map<SessionId, SessionExtent> {
    const extents = new Map<SessionId, SessionExtent>();
    const stored = this.#live(doc);
    for (const [session, head] of stored?.heads ?? []) {
      extents.set(session, { count: head.count, bytes: stored!.bytes.get(session) ?? 0, firstStored: stored!.firstStored.get(session) ?? 0 });
    }
    return extents;
  }

  putSnapshot(snapshot: StoredSnapshot): void {
    const stored = this.#live(snapshot.doc);
    if (!stored) throw new Error(`putSnapshot: unknown document ${snapshot.doc}`);
    const data = typeof snapshot.data === "string" ? snapshot.data : snapshot.data.slice();
    stored.snapshot = { ...snapshot, covers: { ...snapshot.covers }, data };
    stored.prunedSessions = new Set();
  }

  /** Prunes exactly what each snapshot covers, a transaction being one unit of work (SQLite deletes whole chunks). */
  prune(takenBy: number, budget: number): PruneSlice {
    let work = 0;
    for (;;) {
      const due = [...this.#docs.values()].filter((doc) => !doc.deleted && doc.snapshot && doc.prunedSessions).sort((a, b) => a.snapshot!.takenAt - b.snapshot!.takenAt)[0];
      if (!due || due.snapshot!.takenAt > takenBy) return { work, next: due?.snapshot!.takenAt };
      if (work >= budget) return { work, next: due.snapshot!.takenAt };
      for (const [session, covered] of Object.entries(due.snapshot!.covers) as [SessionId, number][]) {
        if (due.prunedSessions!.has(session)) continue;
        const log = due.sessions.get(session) ?? [];
        let first = due.firstStored.get(session) ?? 0;
        work++;
        while (first < Math.min(covered, log.length) && work < budget) {
          log[first++] = undefined;
          work++;
        }
        due.firstStored.set(session, first);
        if (first < Math.min(covered, log.length)) return { work, next: due.snapshot!.takenAt };
        due.prunedSessions!.add(session);
      }
      delete due.prunedSessions;
    }
  }

  #live(doc: DocId): StoredDoc | undefined {
    const stored = this.#docs.get(doc);
    return stored && !stored.deleted ? stored : undefined;
  }

  *listDocuments(since = 0): Iterable<ListedDoc> {
    const changed = [...this.#docs.entries()].filter(([, doc]) => doc.cursor > since).sort(([, a], [, b]) => a.cursor - b.cursor);
    for (const [id, stored] of changed) {
      yield { id, header: stored.header, known: this.knownState(id), updatedAt: stored.updatedAt, ...(stored.deleted ? { deleted: true } : {}), cursor: stored.cursor };
    }
  }

  *listDocumentsById(after?: DocId, through?: DocId, _pageSize?: number, live = false): Iterable<DirEntry> {
    const inRange = [...this.#docs.entries()].filter(([id, stored]) => (after === undefined || id > after) && (through === undefined || id <= through) && !(live && stored.deleted));
    for (const [id, stored] of inRange.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      yield { id, header: stored.header, known: this.knownState(id), updatedAt: stored.updatedAt, ...(stored.deleted ? { deleted: true } : {}) };
    }
  }

  commit(write: Write): void {
    // Every check before the first change, so a refused write leaves nothing behind, as in SQLite.
    let stored = this.#docs.get(write.doc);
    if (stored ? write.header || stored.deleted : !write.header) throw new Error(`commit: ${write.doc} is not a document this write can change`);
    for (const append of write.appends) {
      const held = stored?.sessions.get(append.session)?.length ?? 0;
      if (held !== append.after) throw new Error(`commit: ${append.session} has ${held}, not ${append.after}`);
    }
    if (!stored) {
      // Stored as SQLite stores it, a JSON copy (-0 becomes 0), so both stores serve the same header.
      stored = {
        header: JSON.parse(JSON.stringify(write.header)) as DocHeader,
        updatedAt: write.now,
        cursor: 0,
        deleted: false,
        sessions: new Map(),
        firstStored: new Map(),
        heads: new Map(),
        bytes: new Map(),
      };
      this.#docs.set(write.doc, stored);
    }
    for (const append of write.appends) {
      const log = stored.sessions.get(append.session) ?? [];
      append.transactions.forEach((transaction, offset) => {
        const last = offset === append.transactions.length - 1;
        // Bytes are copied, as SQLite copies them: the writer's array may change after the commit.
        const data = typeof transaction.data === "string" ? transaction.data : transaction.data.slice();
        log.push({ at: transaction.at, data, index: append.after + offset, ...(last ? { signature: append.signature } : {}) });
      });
      stored.sessions.set(append.session, log);
      stored.heads.set(append.session, { count: log.length, lastHash: append.lastHash });
      stored.bytes.set(append.session, (stored.bytes.get(append.session) ?? 0) + append.bytes);
    }
    stored.updatedAt = write.now;
    stored.cursor = ++this.#info.cursor;
    this.#info.digestSum = digestAfter(this.#info.digestSum, write);
    this.#info.digest = digestOfSum(this.#info.digestSum);
    if (write.members) {
      if (write.members.genesis) this.#info.membersDoc = write.doc;
      this.#info.membersLast = write.members.last;
      const removed = new Set(this.#info.removed);
      for (const change of write.members.changes) {
        if (change.role) {
          this.#members.set(change.agent, change.role);
          removed.delete(change.agent);
        } else {
          this.#members.delete(change.agent);
          removed.add(change.agent);
        }
      }
      this.#info.removed = removed;
    }
  }

  commitAll(writes: readonly Write[]): void {
    if (writes.length === 1) return this.commit(writes[0]!);
    // All or none: what the writes touch is copied first and put back if one of them is refused.
    const copies = new Map<DocId, StoredDoc | undefined>();
    for (const { doc } of writes) {
      const stored = this.#docs.get(doc);
      copies.set(doc, stored && { ...stored, sessions: new Map([...stored.sessions].map(([id, log]) => [id, [...log]])), heads: new Map(stored.heads), bytes: new Map(stored.bytes) });
    }
    const info = { ...this.#info };
    const members = new Map(this.#members);
    try {
      for (const write of writes) this.commit(write);
    } catch (error) {
      for (const [doc, copy] of copies) {
        if (copy) this.#docs.set(doc, copy);
        else this.#docs.delete(doc);
      }
      this.#info = info;
      this.#members.clear();
      for (const [agent, role] of members) this.#members.set(agent, role);
      throw error;
    }
  }

  deleteDoc(doc: DocId, now: number): void {
    const stored = this.#docs.get(doc);
    if (!stored || stored.deleted) return;
    this.#info.digestSum = updateDigestSum(this.#info.digestSum, doc, this.knownState(doc), { header: false, sessions: {} });
    this.#info.digest = digestOfSum(this.#info.digestSum);
    stored.deleted = true;
    stored.header = { ...stored.header, meta: {} };
    this.#subscriptions.delete(doc);
    stored.sessions.clear();
    stored.heads.clear();
    stored.bytes.clear();
    stored.firstStored.clear();
    delete stored.snapshot;
    delete stored.prunedSessions;
    stored.updatedAt = now;
    stored.cursor = ++this.#info.cursor;
  }

  subscribe(peer: PeerId, doc: DocId | typeof ALL_DOCS): void {
    const peers = this.#subscriptions.get(doc) ?? new Set();
    peers.add(peer);
    this.#subscriptions.set(doc, peers);
  }

  subscribeAll(peer: PeerId, docs: readonly (DocId | typeof ALL_DOCS)[]): void {
    for (const doc of docs) this.subscribe(peer, doc);
  }

  unsubscribe(peer: PeerId, doc: DocId): void {
    this.#subscriptions.get(doc)?.delete(peer);
  }

  unsubscribeAll(peer: PeerId, docs: readonly DocId[]): void {
    for (const doc of docs) this.unsubscribe(peer, doc);
  }

  forgetPeer(peer: PeerId): void {
    for (const peers of this.#subscriptions.values()) peers.delete(peer);
  }

  forgetAllPeers(): void {
    this.#subscriptions.clear();
  }
}
