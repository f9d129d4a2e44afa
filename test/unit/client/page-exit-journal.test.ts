// What an IndexedDbLocalStore keeps at a page's end (keepAtOnce, in localStorage) comes back from the next
// loadGroup, byte for byte, and moves into the database. Chromium drops a save that had not started when the
// page went (test/browser/reload-beside-busy-tab.test.ts); this is the journal's contract, in Node, with a
// localStorage of the Web Storage API's shape standing in for the page's.
import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IndexedDbLocalStore } from "../../../client/storage/indexeddb-store.ts";
import { testAgent, testHeader, transactions } from "../../support/identity.ts";
import { comparableAll } from "../../support/bytes.ts";

const alice = testAgent(1, "alice-tab");
const bob = testAgent(2, "bob-phone");
const GROUP = "team";
const doc = testHeader(alice, GROUP, "nonce-journal");

/** The Web Storage API's Storage, in memory. */
class PageStorage {
  readonly #items = new Map<string, string>();
  get length(): number {
    return this.#items.size;
  }
  key(index: number): string | null {
    return [...this.#items.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.#items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.#items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.#items.delete(key);
  }
  keys(): string[] {
    return [...this.#items.keys()];
  }
}

let storage: PageStorage;
beforeEach(() => {
  storage = new PageStorage();
  (globalThis as { localStorage?: unknown }).localStorage = storage;
});
afterEach(() => {
  delete (globalThis as { localStorage?: unknown }).localStorage;
});

describe("IndexedDbLocalStore's page-exit journal", () => {
  it("gives back a page's own writes kept at its end, bytes included, and moves them into the database", async () => {
    const factory = new IDBFactory();
    const writes = [...transactions(2, "text"), { at: 1_700_000_000_009, data: new Uint8Array([0, 255, 128, 7]) }];
    new IndexedDbLocalStore("weft", factory).keepAtOnce(GROUP, doc.id, { header: doc.header, appends: [{ session: alice.session, after: 0, transactions: writes }] }, alice.session);
    expect(storage.keys()).toHaveLength(1);

    const [loaded] = await new IndexedDbLocalStore("weft", factory).loadGroup(GROUP);
    expect(loaded?.header).toEqual(doc.header);
    expect(comparableAll(loaded?.sessions[alice.session] ?? [])).toEqual(comparableAll(writes));
    expect(storage.keys()).toEqual([]);
    // In the database now: a page with no localStorage (another origin's worker, say) reads it too.
    delete (globalThis as { localStorage?: unknown }).localStorage;
    const [again] = await new IndexedDbLocalStore("weft", factory).loadGroup(GROUP);
    expect(comparableAll(again?.sessions[alice.session] ?? [])).toEqual(comparableAll(writes));
  });

  it("keeps only the page's own session (the relay sends the others again) and, where the save under way finished too, each write once", async () => {
    const factory = new IDBFactory();
    const store = new IndexedDbLocalStore("weft", factory);
    const own = { session: alice.session, after: 0, transactions: transactions(3, "own") };
    const received = { session: bob.session, after: 0, transactions: transactions(2, "received") };
    await store.save(GROUP, doc.id, { header: doc.header, appends: [own] });
    store.keepAtOnce(GROUP, doc.id, { appends: [own, received] }, alice.session);
    expect(storage.getItem(storage.keys()[0]!)).not.toContain("received");

    const [loaded] = await new IndexedDbLocalStore("weft", factory).loadGroup(GROUP);
    expect(loaded?.sessions[alice.session]).toEqual(own.transactions);
    expect(loaded?.sessions[bob.session]).toBeUndefined();
  });

  it("keeps an entry for a document the database holds without its mark (saved before marks were kept): read on top, and moved in once the document is saved whole", async () => {
    const factory = new IDBFactory();
    const own = transactions(5, "own");
    await new IndexedDbLocalStore("weft", factory).loadGroup(GROUP); // makes the database
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = factory.open("weft", 1);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const written = db.transaction("changes", "readwrite");
    written.objectStore("changes").add({ group: GROUP, doc: doc.id, changes: { header: doc.header, appends: [{ session: alice.session, after: 0, transactions: own.slice(0, 3) }] } });
    await new Promise((resolve) => (written.oncomplete = resolve));
    db.close();
    new IndexedDbLocalStore("weft", factory).keepAtOnce(GROUP, doc.id, { appends: [{ session: alice.session, after: 3, transactions: own.slice(3) }] }, alice.session);

    const store = new IndexedDbLocalStore("weft", factory);
    expect((await store.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(own);
    expect(storage.keys()).toHaveLength(1);
    // The client, told "missing" by its next save, saves the document whole: the entry then moves in.
    await store.save(GROUP, doc.id, { header: doc.header, appends: [{ session: alice.session, after: 0, transactions: own }] });
    expect((await new IndexedDbLocalStore("weft", factory).loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(own);
    expect(storage.keys()).toEqual([]);
  });

  it("forgets what a page kept of a document once the document is removed, and only that document's", async () => {
    const factory = new IDBFactory();
    const store = new IndexedDbLocalStore("weft", factory);
    const other = testHeader(alice, GROUP, "nonce-other");
    await store.save(GROUP, doc.id, { header: doc.header, appends: [] });
    await store.save(GROUP, other.id, { header: other.header, appends: [] });
    store.keepAtOnce(GROUP, doc.id, { appends: [{ session: alice.session, after: 0, transactions: transactions(2, "removed") }] }, alice.session);
    store.keepAtOnce(GROUP, other.id, { appends: [{ session: alice.session, after: 0, transactions: transactions(1, "kept") }] }, alice.session);
    expect(storage.keys()).toHaveLength(2);

    await store.remove(GROUP, doc.id);
    expect(storage.keys()).toHaveLength(1);
    const loaded = await new IndexedDbLocalStore("weft", factory).loadGroup(GROUP);
    expect(loaded.map((stored) => [stored.id, stored.sessions[alice.session]?.map((transaction) => transaction.data)])).toEqual([[other.id, ["kept-0"]]]);
    expect(storage.keys()).toEqual([]);
  });

  it("drops an entry it cannot read, and loads the rest; other databases' and groups' entries stay", async () => {
    const factory = new IDBFactory();
    const store = new IndexedDbLocalStore("weft", factory);
    await store.save(GROUP, doc.id, { header: doc.header, appends: [] });
    store.keepAtOnce(GROUP, doc.id, { appends: [{ session: alice.session, after: 0, transactions: transactions(1, "kept") }] }, alice.session);
    storage.setItem(`weft-pending:weft:${JSON.stringify(GROUP)}:damaged`, "{not json");
    new IndexedDbLocalStore("another-db", factory).keepAtOnce(GROUP, doc.id, { header: doc.header, appends: [] }, alice.session);
    store.keepAtOnce("another-group", doc.id, { header: doc.header, appends: [] }, alice.session);

    const [loaded] = await new IndexedDbLocalStore("weft", factory).loadGroup(GROUP);
    expect(loaded?.sessions[alice.session]?.map((transaction) => transaction.data)).toEqual(["kept-0"]);
    expect(storage.keys().filter((key) => key.startsWith(`weft-pending:weft:${JSON.stringify(GROUP)}:`))).toEqual([]);
    expect(storage.keys()).toHaveLength(2);
  });
});
