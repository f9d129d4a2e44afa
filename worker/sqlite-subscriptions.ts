// SqliteStore's subscriptions: which peers get a document's changes live, kept in `subscriptions` so they
// outlive hibernation, and cached per document (or the group-wide ALL_DOCS) so a fan-out reads none.
import type { DocId } from "../protocol/index.ts";
import { ALL_DOCS, type PeerId } from "./core/store.ts";

/** Subscriber lists kept in memory (one per document, and the group-wide one): fan-out reads none. */
const SUBSCRIBER_CACHE_SIZE = 256;
/** Documents known to have no subscriber of their own (most, in a large group): kept apart, they cost a string each. */
const UNSUBSCRIBED_CACHE_SIZE = 20_000;
/** Documents whose subscribers one prefetch query reads. */
const PREFETCH_DOCS = 500;
const NO_PEERS: ReadonlySet<PeerId> = new Set();

export class SubscriptionRows {
  readonly #sql: SqlStorage;
  /** Subscribers by document (or ALL_DOCS), written through by subscribe and unsubscribe. */
  readonly #subscribers = new Map<string, Set<PeerId>>();
  /** Documents known to have no subscriber of their own. */
  readonly #unsubscribed = new Set<string>();

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** The peers subscribed to `doc`, on their own or to the whole group. */
  of(doc: DocId): PeerId[] {
    return [...new Set([...this.#subscribersOf(doc), ...this.#subscribersOf(ALL_DOCS)])];
  }

  /** The peers subscribed to `doc` itself. */
  ofDoc(doc: DocId): PeerId[] {
    return [...this.#subscribersOf(doc)];
  }

  /** Reads the subscribers of documents not cached yet, PREFETCH_DOCS per query: a frame of many writes reads a few statements' worth. */
  prefetch(docs: readonly DocId[]): void {
    const unread = [...new Set(docs.filter((doc) => !this.#unsubscribed.has(doc) && !this.#subscribers.has(doc)))];
    for (let start = 0; start < unread.length; start += PREFETCH_DOCS) {
      const page = unread.slice(start, start + PREFETCH_DOCS);
      const peers = new Map<string, Set<PeerId>>(page.map((doc) => [doc, new Set()]));
      const found = this.#sql.exec<{ doc: string; peer: PeerId }>("SELECT doc, peer FROM subscriptions WHERE doc IN (SELECT value FROM json_each(?))", JSON.stringify(page));
      for (const row of found) peers.get(row.doc)?.add(row.peer);
      for (const [doc, set] of peers) this.#remember(doc, set);
    }
  }

  subscribe(peer: PeerId, doc: DocId | typeof ALL_DOCS): void {
    this.#sql.exec("INSERT OR IGNORE INTO subscriptions (doc, peer) VALUES (?, ?)", doc, peer);
    this.#subscribed(peer, doc);
  }

  subscribeAll(peer: PeerId, docs: readonly (DocId | typeof ALL_DOCS)[]): void {
    if (docs.length === 0) return;
    this.#sql.exec("INSERT OR IGNORE INTO subscriptions (doc, peer) SELECT value, ? FROM json_each(?)", peer, JSON.stringify(docs));
    for (const doc of docs) this.#subscribed(peer, doc);
  }

  unsubscribe(peer: PeerId, doc: DocId): void {
    this.#sql.exec("DELETE FROM subscriptions WHERE doc = ? AND peer = ?", doc, peer);
    this.#subscribers.get(doc)?.delete(peer);
  }

  unsubscribeAll(peer: PeerId, docs: readonly DocId[]): void {
    if (docs.length === 0) return;
    this.#sql.exec("DELETE FROM subscriptions WHERE peer = ? AND doc IN (SELECT value FROM json_each(?))", peer, JSON.stringify(docs));
    for (const doc of docs) this.#subscribers.get(doc)?.delete(peer);
  }

  /** The peer is gone: it is subscribed to nothing. */
  forgetPeer(peer: PeerId): void {
    this.#sql.exec("DELETE FROM subscriptions WHERE peer = ?", peer);
    for (const peers of this.#subscribers.values()) peers.delete(peer);
  }

  /** No peer is connected: every subscription goes. */
  forgetAll(): void {
    this.#sql.exec("DELETE FROM subscriptions");
    this.#subscribers.clear();
    this.#unsubscribed.clear();
  }

  /** The document was deleted: no one is subscribed to it any more (inside the caller's transaction). */
  deleteFor(doc: DocId): void {
    this.#sql.exec("DELETE FROM subscriptions WHERE doc = ?", doc);
    this.#subscribers.delete(doc);
  }

  #subscribersOf(doc: string): ReadonlySet<PeerId> {
    if (this.#unsubscribed.has(doc)) return NO_PEERS;
    let peers = this.#subscribers.get(doc);
    if (!peers) {
      peers = new Set(this.#sql.exec<{ peer: string }>("SELECT peer FROM subscriptions WHERE doc = ?", doc).toArray().map((row) => row.peer));
      this.#remember(doc, peers);
    }
    return peers;
  }

  #remember(doc: string, peers: Set<PeerId>): void {
    if (peers.size === 0) {
      if (this.#unsubscribed.size >= UNSUBSCRIBED_CACHE_SIZE) this.#unsubscribed.clear();
      this.#unsubscribed.add(doc);
      return;
    }
    this.#unsubscribed.delete(doc);
    if (this.#subscribers.size >= SUBSCRIBER_CACHE_SIZE) this.#subscribers.delete(this.#subscribers.keys().next().value!);
    this.#subscribers.set(doc, peers);
  }

  #subscribed(peer: PeerId, doc: string): void {
    // A document known to have no subscribers now has exactly this one.
    if (this.#unsubscribed.has(doc)) this.#remember(doc, new Set([peer]));
    else this.#subscribers.get(doc)?.add(peer);
  }
}
