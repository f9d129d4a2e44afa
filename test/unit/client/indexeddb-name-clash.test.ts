// IndexedDbLocalStore's name is an IndexedDB database name, shared with the app's own databases. Given the
// name of one of them, createClient used to reject with the browser's bare VersionError or NotFoundError;
// and an app upgrading (or deleting) the database Weft had open left every later save failing, "trying
// again", and synced() waiting forever. Here on fake-indexeddb, with the real SDK against the relay core;
// test/browser/indexeddb-name-clash.test.ts runs the same in Chromium against the real relay.
import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { ClosedError, createIdentity, IndexedDbLocalStore } from "../../../client/index.ts";
import { fakeWebLocks } from "../../support/web-locks.ts";
import { CUT_OFF_URL, GROUP, harnessPerTest, statusOf } from "./group-harness.ts";

const setup = harnessPerTest();

/** What the app does with its own database `name`: opens it at `version`, with its object store "todos" holding one todo. */
function appDatabase(factory: IDBFactory, name: string, version: number): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, version);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains("todos")) request.result.createObjectStore("todos").put("buy milk", 1);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error(`opening ${name} at version ${version} is blocked by another connection`));
  });
}

/** The app's todo, read back: what Weft must leave alone. */
async function appTodo(factory: IDBFactory, name: string): Promise<{ version: number; todo: unknown }> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = factory.open(name);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const todo = await new Promise((resolve) => (db.transaction("todos").objectStore("todos").get(1).onsuccess = (event) => resolve((event.target as IDBRequest).result)));
  db.close();
  return { version: db.version, todo };
}

describe("IndexedDbLocalStore given the name of a database the app already uses", () => {
  it.each([3, 1])("makes createClient reject with a TypeError that names the store and says to give Weft a name of its own (the app's at version %i), and leaves the app's data alone", async (version) => {
    const { client } = setup();
    const factory = new IDBFactory();
    (await appDatabase(factory, "appdb", version)).close();

    const refused = client({ store: new IndexedDbLocalStore("appdb", factory, fakeWebLocks()) });
    await expect(refused).rejects.toThrow(TypeError);
    await expect(refused).rejects.toThrow(/^IndexedDbLocalStore: the IndexedDB database "appdb" .*give IndexedDbLocalStore a database name of its own/);
    expect(await appTodo(factory, "appdb")).toEqual({ version, todo: "buy milk" });
  });

  it("keeps no lease on the session asked for: the app given its own name takes it at once", async () => {
    const { client } = setup();
    const factory = new IDBFactory();
    const locks = fakeWebLocks();
    (await appDatabase(factory, "appdb", 3)).close();
    const identity = createIdentity();
    const { session } = await client({ identity, store: new IndexedDbLocalStore("weft", factory, locks) }).then(async (first) => (await first.close(), first));

    await expect(client({ identity, session, store: new IndexedDbLocalStore("appdb", factory, locks) })).rejects.toThrow(/IndexedDbLocalStore: the IndexedDB database "appdb"/);
    const again = await client({ identity, session, store: new IndexedDbLocalStore("weft", factory, locks) });
    expect(again.session).toBe(session);
  });
});

describe("IndexedDbLocalStore whose database another connection upgrades or deletes while a client uses it", () => {
  it("lets the app's upgrade through, closes the group with one error that names the store, and never leaves a call waiting", async () => {
    const { client } = setup();
    const factory = new IDBFactory();
    const alice = await client({ store: new IndexedDbLocalStore("clash", factory, fakeWebLocks()) });
    const group = alice.group(GROUP);
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await statusOf(group, "live");
    const doc = group.create();
    doc.append("before");
    await doc.synced();

    // The app opens "its" database at version 2: not blocked by Weft's connection.
    (await appDatabase(factory, "clash", 2)).close();

    const named = /IndexedDbLocalStore: another connection to the IndexedDB database "clash" opened it at version 2, so Weft closed its own .*database name of its own/;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(named);
    expect(group.status).toBe("closed");
    expect(group.connection.closeReason).toMatch(named);
    // A write now cannot be saved, so it is refused at once rather than left to fail and wait.
    expect(() => doc.append("after")).toThrow(ClosedError);
    expect(() => group.create()).toThrow(named);
    // What was synced before stays synced; a group opened now is closed for the same reason.
    await group.synced({ signal: AbortSignal.timeout(5_000) });
    const later = alice.group("another");
    await expect(later.ready).rejects.toThrow(named);
    await alice.close({ signal: AbortSignal.timeout(5_000) });
    expect(errors).toHaveLength(1);
  });

  it("settles synced() of writes saved but not yet sent with a ClosedError naming the store, when the app deletes the database", async () => {
    const { client, cutOff } = setup();
    const factory = new IDBFactory();
    const alice = await client({ store: new IndexedDbLocalStore("clash", factory, fakeWebLocks()), url: CUT_OFF_URL });
    const group = alice.group(GROUP);
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await statusOf(group, "live");
    cutOff(alice);
    const doc = group.create();
    doc.append("offline");
    const synced = doc.synced({ signal: AbortSignal.timeout(5_000) });
    synced.catch(() => {});
    await group.ready;

    await new Promise<void>((resolve, reject) => {
      const request = factory.deleteDatabase("clash");
      request.onsuccess = () => resolve();
      request.onerror = () => reject(request.error);
    });

    const named = /IndexedDbLocalStore: another connection to the IndexedDB database "clash" deleted it/;
    await expect(synced).rejects.toThrow(ClosedError);
    await expect(synced).rejects.toThrow(named);
    expect(errors.filter((message) => message.includes("IndexedDbLocalStore"))).toHaveLength(1);
    await alice.close({ signal: AbortSignal.timeout(5_000) });
  });
});

describe("IndexedDbLocalStore on a page that may not use IndexedDB (a sandboxed frame: open throws SecurityError)", () => {
  it("rejects createClient with an error that names the store and says what to use instead, the browser's error as its cause", async () => {
    const denied = new DOMException("Failed to execute 'open' on 'IDBFactory': access to the Indexed Database API is denied in this context.", "SecurityError");
    const factory = { open: () => { throw denied; } } as unknown as IDBFactory;
    const { client } = setup();
    const refusal = await client({ store: new IndexedDbLocalStore("weft", factory, fakeWebLocks()) }).then(() => undefined, (error: unknown) => error as Error);
    expect(refusal?.message).toBe(
      "IndexedDbLocalStore: this page may not use IndexedDB (SecurityError: Failed to execute 'open' on 'IDBFactory': access to the Indexed Database API is denied in this context.), " +
        "so nothing can be kept on the device; where a page cannot (a sandboxed frame, an opaque origin), pass new MemoryLocalStore(), which keeps nothing across reloads",
    );
    expect(refusal?.cause).toBe(denied);
  });
});
