// The parts of the browser's IndexedDB and Web Locks an app may hand IndexedDbLocalStore (another factory,
// such as fake-indexeddb's in Node; another lock manager, or none), declared here rather than named by the
// DOM's types (IDBFactory, LockManager): the package's declarations then type-check in a Node app whose lib
// has no "dom". The browser's own objects fit them.

/** An IndexedDB factory (`indexedDB`): the store opens its database with it. */
export type IndexedDbFactory = { open(name: string, version?: number): object };

/** Web Locks (`navigator.locks`): what the store requests and queries of them. */
export type WebLocks = {
  request(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: { name: string } | null) => unknown): Promise<unknown>;
  query(): Promise<{ held?: { name?: string }[] }>;
};
