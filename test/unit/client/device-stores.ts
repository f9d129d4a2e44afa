// The local stores one device's tabs share, of each kind the SDK has: one MemoryLocalStore instance for all
// tabs, an IndexedDbLocalStore per tab on one IndexedDB (fake-indexeddb) and one origin's Web Locks, or a
// FileLocalStore per tab on one folder. `tabs()` starts a device; each call of what it returns is a tab's store.
import { IDBFactory } from "fake-indexeddb";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileLocalStore } from "../../../client/storage/file-store.ts";
import { IndexedDbLocalStore } from "../../../client/storage/indexeddb-store.ts";
import type { LocalStore } from "../../../client/storage/local-store.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { fakeWebLocks } from "../../support/web-locks.ts";

export type Device = { name: string; tabs: () => () => LocalStore };

/** The three kinds of device, their databases and folders named after `name`; `removeFolders` after each test. */
export function deviceStores(name: string): { devices: Device[]; removeFolders: () => void } {
  const folders: string[] = [];
  const devices: Device[] = [
    { name: "MemoryLocalStore", tabs: () => ((shared) => () => shared)(new MemoryLocalStore()) },
    {
      name: "IndexedDbLocalStore",
      tabs: () => {
        const factory = new IDBFactory();
        const locks = fakeWebLocks();
        return () => new IndexedDbLocalStore(name, factory, locks);
      },
    },
    {
      name: "FileLocalStore",
      tabs: () => {
        const directory = mkdtempSync(join(tmpdir(), `${name}-`));
        folders.push(directory);
        return () => new FileLocalStore(directory, { fsync: false });
      },
    },
  ];
  // A client of the test may still be saving into a folder (the harness closes them too): retried, not failed.
  const removeFolders = () => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true, maxRetries: 5 });
  };
  return { devices, removeFolders };
}
