// A LocalStore for browsers on IndexedDB. Like the file store, it keeps an append-only list of changes
// per document (one record per save), replayed on load; a save resolves when its transaction commits.
// Each save is one IndexedDB transaction, so it is stored whole or not at all, and tabs sharing the
// database never overwrite each other's records. A save with a snapshot compacts the document: in that
// same transaction (which IndexedDB serializes with every other tab's), its records are replaced by one
// holding the header, the snapshot and what follows it, so a load reads no more than that; and so does
// the save that brings a document's records to INDEXEDDB_COMPACT_SAVES (counted from what the last load
// found), so a document that is never snapshotted keeps a few records, not one per save ever made.
// Session leases are Web Locks, which the browser drops when a tab closes or crashes; `navigator.locks` is
// shared by every tab and worker of the origin. A database that is not Weft's, or one closed under the
// store, is told in words that name it (indexeddb-open.ts).
import type { AgentId, DocId, Role, SessionId } from "../../protocol/index.ts";
import { describe } from "../local-checks.ts";
import { applyChanges, changesOf, storedRole, type DocChanges, type LocalStore, type SaveResult, type SessionCut, type StoredChanges, type StoredDoc, type UnsentListener } from "./local-store.ts";
import { UnsentListeners } from "./unsent-listeners.ts";
import { leaseSession, type LeaseRequest, type SessionLease, type SessionLocks } from "./session-pool.ts";
import { CHANGES, SESSIONS, openWeftDatabase } from "./indexeddb-open.ts";
import { forgetInJournal, journalOf, keepInJournal, pageStorage } from "./page-exit-journal.ts";
import { holdAlive, tellLeased, tellLeaving, watchSessions, type SessionWatch } from "./session-watch.ts";
import type { IndexedDbFactory, WebLocks } from "./web-apis.ts";
import { ArgumentError } from "../../protocol/argument-error.ts";
import { INDEXEDDB_COMPACT_SAVES } from "../../protocol/limits.ts";

const roleKey = (group: string, agent: AgentId): IDBValidKey => ["role", group, agent];
/** Where the database marks that it holds a document: set by a save with its header, gone with its records (remove). */
const heldKey = (group: string, doc: DocId): IDBValidKey => ["doc", group, doc];

type ChangeRecord = { group: string; doc: DocId; changes: StoredChanges };

const done = <T>(request: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

const committed = (transaction: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB transaction aborted"));
  });

/** Web Lock names: per session, not per database, since one session must never have two writers anywhere. */
const lockName = (session: SessionId) => `weft-session:${session}`;

export class IndexedDbLocalStore implements LocalStore {
  /** What error messages call it (describe, protocol/messages.ts): a bundler's minifier renames the class, not this. */
  get [Symbol.toStringTag](): string {
    return "IndexedDbLocalStore";
  }

  /** The database's name: what the page-exit journal's keys start with. */
  readonly #name: string;
  /** Per document (`[group, doc]` as JSON), the saves this store made of it since it last compacted it. */
  readonly #savesSinceCompacted = new Map<string, number>();
  readonly #opened: Promise<IDBDatabase>;
  /** Why the database can no longer be used, once its connection was closed under the store (onLost). */
  #lost: Error | undefined;
  readonly #lostListeners = new Set<(error: Error) => void>();
  readonly #locks: SessionLocks;
  /** Web Locks as watching other clients' sessions needs them; none where the page has no Web Locks. */
  readonly #watch: SessionWatch | undefined;
  /** Announcements of unsent writes travel between the tabs of the database's origin on this BroadcastChannel. */
  readonly #channelName: string;
  /** Listening is a BroadcastChannel of that name, open while anyone listens. */
  readonly #unsent = new UnsentListeners((hear) => {
    if (typeof BroadcastChannel === "undefined") return () => {};
    const channel = new BroadcastChannel(this.#channelName);
    channel.onmessage = (event: MessageEvent) => hear(event.data);
    (channel as { unref?: () => void }).unref?.(); // Node: listening does not keep the process alive
    return () => channel.close();
  });

  /**
   * `locks` is the origin's Web Locks (`navigator.locks`). Where there is none (pages served over plain
   * http from another host than localhost, browsers older than 2022, Node with fake-indexeddb) a lease
   * cannot tell whether another tab holds a pooled session, so every client takes a fresh session: two
   * tabs never write into one, at the cost of a new session per page load.
   */
  constructor(name = "weft", factory: IndexedDbFactory = globalThis.indexedDB, locks: WebLocks | undefined = globalThis.navigator?.locks) {
    // Opened under whatever it turned into ("42", "[object Object]"), a store of the app's would be another database.
    if (typeof name !== "string" || name === "") throw new ArgumentError(`IndexedDbLocalStore: the database name must be a non-empty string, not ${describe(name)}`);
    this.#name = name;
    this.#channelName = `weft-unsent:${name}`;
    // The app's factory is an IndexedDB factory (its type names only what an app hands in: web-apis.ts).
    this.#opened = openWeftDatabase(factory as IDBFactory, name, (error) => {
      this.#lost = error;
      for (const listener of [...this.#lostListeners]) listener(error);
    });
    this.#opened.catch(() => {}); // a database refused rejects every call that uses it, createClient's lease first
    this.#locks = {
      pool: async (agent) => poolOf(await done((await this.#db()).transaction(SESSIONS).objectStore(SESSIONS).get(agent))),
      addToPool: async (agent, session) => {
        // Read and write in one transaction: tabs adding sessions at once are serialized by IndexedDB.
        const transaction = (await this.#db()).transaction(SESSIONS, "readwrite");
        const sessions = transaction.objectStore(SESSIONS);
        const read = sessions.get(agent);
        read.onsuccess = () => {
          const pool = poolOf(read.result);
          if (!pool.includes(session)) sessions.put([...pool, session], agent);
        };
        await committed(transaction);
      },
      tryLock: (session) => (locks ? webLock(locks, lockName(session)) : Promise.resolve(async () => {})),
      seesOtherRealms: locks !== undefined,
    };
    this.#watch = locks && { locks, aliveName: (session) => `weft-alive:${session}`, pool: this.#locks.pool, channel: `weft-leases:${name}` };
  }

  async leaseSession(agent: AgentId, request: LeaseRequest): Promise<SessionLease> {
    const lease = await leaseSession(this.#locks, agent, request);
    if (!this.#watch) return lease;
    // Held for the lease's life, for the other clients of the agent to wait for (session-watch.ts).
    const watch = this.#watch;
    const letGo = holdAlive(watch, lease.session);
    tellLeased(watch, agent, lease.session);
    return {
      session: lease.session,
      leaving: () => tellLeaving(watch, agent, lease.session),
      release: async () => {
        tellLeaving(watch, agent, lease.session);
        letGo();
        await lease.release();
      },
    };
  }

  /** The open database; rejects with why it can no longer be used once its connection was closed under the store. */
  async #db(): Promise<IDBDatabase> {
    const db = await this.#opened;
    if (this.#lost) throw this.#lost;
    return db;
  }

  /**
   * Calls `listener` once the database's connection was closed under the store for good (another connection
   * upgraded or deleted the database, or the browser closed it), at once if it was already.
   */
  onLost(listener: (error: Error) => void): () => void {
    const lost = this.#lost;
    if (!lost) {
      this.#lostListeners.add(listener);
      return () => this.#lostListeners.delete(listener);
    }
    let listening = true;
    queueMicrotask(() => listening && listener(lost));
    return () => void (listening = false);
  }

  onSessionGone(agent: AgentId, own: SessionId, listener: (session: SessionId) => void): () => void {
    return this.#watch ? watchSessions(this.#watch, agent, own, listener) : () => {};
  }

  async loadGroup(group: string): Promise<StoredDoc[]> {
    const db = await this.#db();
    // What a page kept at its end (keepAtOnce) goes into the database first, so the records below hold it.
    // What the database will not take (its quota reached) stays in localStorage, read on top of the records,
    // and moved at a later load: the group opens from what the device holds rather than wait for space.
    const storage = pageStorage();
    const unmoved: { doc: DocId; changes: DocChanges }[] = [];
    for (const { key, doc, changes } of storage ? journalOf(storage, this.#name, group) : []) {
      try {
        // A document the database does not mark as held (removed since, or saved before marks were kept)
        // takes nothing without the header: the entry stays, read on top, as when the database is full.
        if ((await this.save(group, doc, changes)) === "missing") unmoved.push({ doc, changes });
        else storage!.removeItem(key);
      } catch {
        unmoved.push({ doc, changes });
      }
    }
    // Records come in key order, which is the order they were saved in.
    const records = (await done(db.transaction(CHANGES).objectStore(CHANGES).index("group").getAll(group))) as ChangeRecord[];
    const docs = new Map<DocId, StoredDoc>();
    // A document's records stand for its saves since it was last compacted (one record then): a page
    // reloaded every few hundred saves still compacts once they pass INDEXEDDB_COMPACT_SAVES.
    const counts = new Map<string, number>();
    for (const record of records) {
      const key = JSON.stringify([group, record?.doc]);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, count] of counts) this.#savesSinceCompacted.set(key, count);
    for (const record of [...records, ...unmoved]) {
      if (!record?.changes || !Array.isArray(record.changes.appends)) continue; // not a record this code wrote
      let stored = docs.get(record.doc);
      if (!stored && record.changes.header) docs.set(record.doc, (stored = { id: record.doc, header: record.changes.header, sessions: {} }));
      if (stored) applyChanges(stored, record.changes);
    }
    return [...docs.values()];
  }

  /**
   * Keeps a page's own writes at its end in localStorage, synchronously (page-exit-journal.ts): a save to
   * the database that had not started by then would be lost with the page. The next loadGroup moves them in.
   */
  keepAtOnce(group: string, doc: DocId, changes: DocChanges, own: SessionId): void {
    const storage = pageStorage();
    if (storage) keepInJournal(storage, this.#name, group, doc, changes, own);
  }

  async save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
    const transaction = (await this.#db()).transaction([CHANGES, SESSIONS], "readwrite");
    const records = transaction.objectStore(CHANGES);
    const marks = transaction.objectStore(SESSIONS);
    let missing = false;
    const write = () => {
      const key = JSON.stringify([group, doc]);
      const saves = (this.#savesSinceCompacted.get(key) ?? 0) + 1;
      const compacting = changes.snapshot !== undefined || saves >= INDEXEDDB_COMPACT_SAVES;
      this.#savesSinceCompacted.set(key, compacting ? 0 : saves);
      if (changes.header) marks.put(true, heldKey(group, doc));
      if (!compacting) records.add({ group, doc, changes } satisfies ChangeRecord);
      else compact(records, group, doc, changes);
      // Asked to commit now, with its requests: a page going away does not wait for it to go idle first.
      if (!compacting) transaction.commit?.();
    };
    // Changes without the header go into a document only while the database holds it (another tab may
    // have removed it): its mark is read in the same transaction, so a removal comes wholly before or after.
    if (changes.header) write();
    else {
      const held = marks.get(heldKey(group, doc));
      held.onsuccess = () => (held.result === undefined ? (missing = true) : write());
    }
    await committed(transaction);
    return missing ? "missing" : undefined;
  }

  async cutSession(group: string, doc: DocId, cut: SessionCut): Promise<void> {
    // One more record, replayed in its place: the records saved before it, of every tab, stay as they are.
    const transaction = (await this.#db()).transaction(CHANGES, "readwrite");
    transaction.objectStore(CHANGES).add({ group, doc, changes: { appends: [], cuts: [cut] } } satisfies ChangeRecord);
    await committed(transaction);
  }

  async remove(group: string, doc: DocId): Promise<void> {
    const transaction = (await this.#db()).transaction([CHANGES, SESSIONS], "readwrite");
    transaction.objectStore(SESSIONS).delete(heldKey(group, doc));
    const changes = transaction.objectStore(CHANGES);
    const request = changes.index("group").openCursor(group);
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor) return;
      if ((cursor.value as ChangeRecord).doc === doc) cursor.delete();
      cursor.continue();
    };
    await committed(transaction);
    // What a page kept of it at its end goes too: without its records it would be read at every load after.
    const storage = pageStorage();
    if (storage) forgetInJournal(storage, this.#name, group, doc);
  }

  async saveRole(group: string, agent: AgentId, role: Role): Promise<void> {
    const transaction = (await this.#db()).transaction(SESSIONS, "readwrite");
    transaction.objectStore(SESSIONS).put(role, roleKey(group, agent));
    await committed(transaction);
  }

  async loadRole(group: string, agent: AgentId): Promise<Role | undefined> {
    return storedRole(await done((await this.#db()).transaction(SESSIONS).objectStore(SESSIONS).get(roleKey(group, agent))));
  }

  async close(): Promise<void> {
    this.#unsent.clear();
    this.#lostListeners.clear();
    // A database refused at the open was never open, and one lost is closed already.
    (await this.#opened.catch(() => undefined))?.close();
  }

  async announceUnsent(group: string, docs: DocId[]): Promise<void> {
    if (typeof BroadcastChannel === "undefined") {
      queueMicrotask(() => this.#unsent.tell({ group, docs })); // this realm only
      return;
    }
    // A channel of its own: every other one of the name hears it, this store's own listening one included.
    const channel = new BroadcastChannel(this.#channelName);
    channel.postMessage({ group, docs });
    channel.close();
  }

  onUnsent(listener: UnsentListener): () => void {
    return this.#unsent.add(listener);
  }
}

/** Replaces a document's records, and the changes of this save, by one record of what they hold together. */
function compact(records: IDBObjectStore, group: string, doc: DocId, changes: DocChanges): void {
  let stored: StoredDoc | undefined;
  const request = records.index("group").openCursor(group);
  request.onsuccess = () => {
    const cursor = request.result;
    if (cursor) {
      const record = cursor.value as ChangeRecord;
      if (record?.doc === doc && record.changes && Array.isArray(record.changes.appends)) {
        if (!stored && record.changes.header) stored = { id: doc, header: record.changes.header, sessions: {} };
        if (stored) applyChanges(stored, record.changes);
        cursor.delete();
      }
      return cursor.continue();
    }
    if (!stored && changes.header) stored = { id: doc, header: changes.header, sessions: {} };
    if (!stored) return void records.add({ group, doc, changes } satisfies ChangeRecord); // nothing to anchor it to yet
    applyChanges(stored, changes);
    records.add({ group, doc, changes: changesOf(stored) } satisfies ChangeRecord);
  };
}

/** The pool as stored: a list, or one session id as databases written before leases kept it. */
function poolOf(value: unknown): SessionId[] {
  if (typeof value === "string") return [value as SessionId];
  return Array.isArray(value) ? (value as SessionId[]) : [];
}

/** Takes the Web Lock `name` if free, holding it until the returned unlock is called. */
function webLock(locks: WebLocks, name: string): Promise<(() => Promise<void>) | undefined> {
  return new Promise((resolve, reject) => {
    let unlock!: () => void;
    const held = new Promise<void>((release) => (unlock = release));
    const request = locks.request(name, { ifAvailable: true }, (lock) => {
      if (!lock) return resolve(undefined);
      resolve(async () => {
        unlock();
        await request;
      });
      return held;
    });
    request.catch(reject);
  });
}
