// A LocalStore for browsers on IndexedDB. Like the file store, it keeps an append-only list of changes
// per document (one record per save), replayed on load; a save resolves when its transaction commits.
import type { AgentId, DocId, SessionId } from "../../protocol/index.ts";
import { applyChanges, type DocChanges, type LocalStore, type StoredDoc } from "./local-store.ts";

const CHANGES = "changes";
const SESSIONS = "sessions";

type ChangeRecord = { group: string; doc: DocId; changes: DocChanges };

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

export class IndexedDbLocalStore implements LocalStore {
  readonly #db: Promise<IDBDatabase>;

  constructor(name = "weft", factory: IDBFactory = globalThis.indexedDB) {
    const request = factory.open(name, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore(SESSIONS);
      db.createObjectStore(CHANGES, { autoIncrement: true }).createIndex("group", "group");
    };
    this.#db = done(request);
  }

  async loadSession(agent: AgentId): Promise<SessionId | undefined> {
    const db = await this.#db;
    return (await done(db.transaction(SESSIONS).objectStore(SESSIONS).get(agent))) as SessionId | undefined;
  }

  async saveSession(agent: AgentId, session: SessionId): Promise<void> {
    const transaction = (await this.#db).transaction(SESSIONS, "readwrite");
    transaction.objectStore(SESSIONS).put(session, agent);
    await committed(transaction);
  }

  async loadGroup(group: string): Promise<StoredDoc[]> {
    const db = await this.#db;
    // Records come in key order, which is the order they were saved in.
    const records = (await done(db.transaction(CHANGES).objectStore(CHANGES).index("group").getAll(group))) as ChangeRecord[];
    const docs = new Map<DocId, StoredDoc>();
    for (const record of records) {
      let stored = docs.get(record.doc);
      if (!stored && record.changes.header) docs.set(record.doc, (stored = { id: record.doc, header: record.changes.header, sessions: {} }));
      if (stored) applyChanges(stored, record.changes);
    }
    return [...docs.values()];
  }

  async save(group: string, doc: DocId, changes: DocChanges): Promise<void> {
    const transaction = (await this.#db).transaction(CHANGES, "readwrite");
    transaction.objectStore(CHANGES).add({ group, doc, changes } satisfies ChangeRecord);
    await committed(transaction);
  }

  async remove(group: string, doc: DocId): Promise<void> {
    const transaction = (await this.#db).transaction(CHANGES, "readwrite");
    const changes = transaction.objectStore(CHANGES);
    const request = changes.index("group").openCursor(group);
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor) return;
      if ((cursor.value as ChangeRecord).doc === doc) cursor.delete();
      cursor.continue();
    };
    await committed(transaction);
  }

  async close(): Promise<void> {
    (await this.#db).close();
  }
}
