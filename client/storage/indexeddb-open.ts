// Opening IndexedDbLocalStore's database, and keeping what is not Weft's out of it. The store's name is an
// IndexedDB database name, shared with every other program of the origin: an app that gives Weft the name
// of one of its own databases would have Weft fail on the browser's bare VersionError or NotFoundError, and
// an app (or a newer Weft in another tab) upgrading or deleting Weft's database while it is open would
// leave every later save failing on a closed connection. Both are told in words that name the store.

/** The version of the database this code writes: one of another version is not this code's to touch. */
export const WEFT_DB_VERSION = 1;
export const CHANGES = "changes";
/** Each agent's pool of sessions, keyed by the agent; and, keyed by ["role", group, agent], the role kept (saveRole). */
export const SESSIONS = "sessions";

/** What to do with a database that is, or may be, another program's. */
const OWN_NAME_ADVICE = "give IndexedDbLocalStore a database name of its own (new IndexedDbLocalStore(name))";

/**
 * Weft's database `name`, made at its first open. A database of another version, or of this version
 * without Weft's object stores (the app's own), is refused with a TypeError that names it, as a store
 * that cannot be used is. `onLost` hears, once, that the connection was closed under the store for good:
 * another connection upgraded or deleted the database (it is closed at once, so that one is not blocked),
 * or the browser closed it (site data cleared).
 */
export function openWeftDatabase(factory: IDBFactory, name: string, onLost: (error: Error) => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, WEFT_DB_VERSION);
    } catch (error) {
      // A page whose origin may keep nothing (a sandboxed frame, a data: URL): the browser's own words name no store.
      const { name: kind, message } = error as Error;
      return reject(new Error(`IndexedDbLocalStore: this page may not use IndexedDB (${kind}: ${message}), so nothing can be kept on the device; where a page cannot (a sandboxed frame, an opaque origin), pass new MemoryLocalStore(), which keeps nothing across reloads`, { cause: error }));
    }
    // Only a database that did not exist is upgraded to version 1: it is new, and Weft's.
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore(SESSIONS);
      db.createObjectStore(CHANGES, { autoIncrement: true }).createIndex("group", "group");
    };
    request.onerror = () => {
      const error = request.error;
      // A higher version: another program's database, or one a newer Weft upgraded.
      if (error?.name !== "VersionError") return reject(error);
      reject(new TypeError(`IndexedDbLocalStore: the IndexedDB database ${JSON.stringify(name)} is at a higher version than Weft's, ${WEFT_DB_VERSION} (${error.message.replace(/\.$/, "")}): it is another database of this origin, so ${OWN_NAME_ADVICE}; or a newer version of Weft upgraded it, and this page must be reloaded`));
    };
    request.onsuccess = () => {
      const db = request.result;
      const missing = [CHANGES, SESSIONS].filter((store) => !db.objectStoreNames.contains(store));
      if (missing.length > 0) {
        db.close();
        const has = db.objectStoreNames.length === 0 ? "none" : [...db.objectStoreNames].join(", ");
        return reject(new TypeError(`IndexedDbLocalStore: the IndexedDB database ${JSON.stringify(name)} is not Weft's: it lacks Weft's object stores (${missing.join(", ")}; it has ${has}), so it is another database of this origin: ${OWN_NAME_ADVICE}`));
      }
      let lost = false;
      const lose = (error: Error) => {
        if (lost) return;
        lost = true;
        onLost(error);
      };
      db.onversionchange = (event) => {
        // Closed at once: the other connection waits (blocked) until every connection to the database closes.
        db.close();
        const what = event.newVersion === null ? "deleted it" : `opened it at version ${event.newVersion}`;
        lose(new Error(`IndexedDbLocalStore: another connection to the IndexedDB database ${JSON.stringify(name)} ${what}, so Weft closed its own and can save nothing more there: if the app uses that database, ${OWN_NAME_ADVICE}; if a newer version of Weft opened it, reload the page`));
      };
      // Not fired by db.close(): only when the browser closes the connection itself.
      db.onclose = () => lose(new Error(`IndexedDbLocalStore: the browser closed the IndexedDB database ${JSON.stringify(name)} (its site data cleared, or a storage failure), so Weft can save nothing more there: reload the page`));
      resolve(db);
    };
  });
}
