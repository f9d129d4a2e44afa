// An in-memory GroupStore with the same behaviour as the SQLite one, for the relay core's Node tests.
import type { DirEntry, DocHeader, DocId, KnownState, SessionId } from "../../protocol/index.ts";
import type { GroupStore, PeerId, SessionHead, StoredTransaction, Write } from "./store.ts";

type StoredDoc = { header: DocHeader; updatedAt: number; sessions: Map<SessionId, StoredTransaction[]>; heads: Map<SessionId, SessionHead> };

export class MemoryStore implements GroupStore {
  readonly #docs = new Map<DocId, StoredDoc>();
  readonly #subscriptions = new Map<DocId, Set<PeerId>>();

  header(doc: DocId): DocHeader | undefined {
    return this.#docs.get(doc)?.header;
  }

  knownState(doc: DocId): KnownState {
    const stored = this.#docs.get(doc);
    if (!stored) return { header: false, sessions: {} };
    const sessions: KnownState["sessions"] = {};
    for (const [session, head] of stored.heads) sessions[session] = head.count;
    return { header: true, sessions };
  }

  sessionHead(doc: DocId, session: SessionId): SessionHead | undefined {
    return this.#docs.get(doc)?.heads.get(session);
  }

  subscribers(doc: DocId): PeerId[] {
    return [...(this.#subscriptions.get(doc) ?? [])];
  }

  *readTransactions(doc: DocId, session: SessionId, from: number, to: number): Iterable<StoredTransaction> {
    const log = this.#docs.get(doc)?.sessions.get(session) ?? [];
    yield* log.slice(from, to);
  }

  *listDocuments(): Iterable<DirEntry> {
    for (const id of [...this.#docs.keys()].sort()) {
      const stored = this.#docs.get(id)!;
      yield { id, header: stored.header, known: this.knownState(id), updatedAt: stored.updatedAt };
    }
  }

  commit(write: Write): void {
    let stored = this.#docs.get(write.doc);
    if (!stored) {
      if (!write.header) throw new Error(`commit: no header for new document ${write.doc}`);
      stored = { header: write.header, updatedAt: write.now, sessions: new Map(), heads: new Map() };
      this.#docs.set(write.doc, stored);
    }
    for (const append of write.appends) {
      const log = stored.sessions.get(append.session) ?? [];
      if (log.length !== append.after) throw new Error(`commit: ${append.session} has ${log.length}, not ${append.after}`);
      append.transactions.forEach((transaction, offset) => {
        const last = offset === append.transactions.length - 1;
        log.push({ ...transaction, index: append.after + offset, ...(last ? { signature: append.signature } : {}) });
      });
      stored.sessions.set(append.session, log);
      stored.heads.set(append.session, { count: log.length, lastHash: append.lastHash });
    }
    stored.updatedAt = write.now;
  }

  subscribe(peer: PeerId, doc: DocId): void {
    const peers = this.#subscriptions.get(doc) ?? new Set();
    peers.add(peer);
    this.#subscriptions.set(doc, peers);
  }

  unsubscribe(peer: PeerId, doc: DocId): void {
    this.#subscriptions.get(doc)?.delete(peer);
  }

  forgetPeer(peer: PeerId): void {
    for (const peers of this.#subscriptions.values()) peers.delete(peer);
  }

  forgetPeersExcept(live: readonly PeerId[]): void {
    const keep = new Set(live);
    for (const peers of this.#subscriptions.values()) {
      for (const peer of peers) if (!keep.has(peer)) peers.delete(peer);
    }
  }
}
