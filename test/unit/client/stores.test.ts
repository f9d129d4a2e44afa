// One contract, three local stores: what the SDK saves on a device comes back the same, in order, without
// duplicates or holes, per group, and (for the durable stores) after a restart of the app.
import { execFile, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GENESIS_HASH, chainHash, newSessionId, type AgentId, type DocHeader, type DocId, type SessionId, type Transaction } from "../../../protocol/index.ts";
import { SessionInUseError } from "../../../client/storage/session-pool.ts";
import { FileLocalStore } from "../../../client/storage/file-store.ts";
import { compactFile } from "../../../client/storage/file-compaction.ts";
import { fileSessionLocks, startTimeOf } from "../../../client/storage/file-session-locks.ts";
import { fakeWebLocks } from "../../support/web-locks.ts";
import { IndexedDbLocalStore } from "../../../client/storage/indexeddb-store.ts";
import { cutStoredSession, type LocalStore, type SaveResult, type StoredDoc } from "../../../client/storage/local-store.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { FILE_TORN_LINE_RECHECK_MS, FILE_TORN_LINE_STILL_MS } from "../../../protocol/limits.ts";
import { testAgent, testHeader, transactions } from "../../support/identity.ts";
import { comparableAll } from "../../support/bytes.ts";
import { until } from "../../support/wait.ts";

// Writes another process makes while a FileLocalStore load waits to read a torn last line again: one lands
// as each of the runtime's waits (afterMs) begins, so these tests do not race the machine's load.
const WRITES_WHILE_LOAD_WAITS = vi.hoisted((): (() => void)[] => []);
vi.mock("../../../client/runtime-timers.ts", async (importOriginal) => {
  const runtime = await importOriginal<typeof import("../../../client/runtime-timers.ts")>();
  return { ...runtime, afterMs: (ms: number) => (WRITES_WHILE_LOAD_WAITS.shift()?.(), runtime.afterMs(ms)) };
});

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL("./file-store-process.ts", import.meta.url));
const alice = testAgent(1, "alice-laptop");
const bob = testAgent(2, "bob-phone");
const GROUP = "team";
const OTHER_GROUP = "family";
const first = testHeader(alice, GROUP, "nonce-first");
const second = testHeader(bob, OTHER_GROUP, "nonce-second");
const txs = transactions(8, "edit");
const slice = (from: number, to: number): Transaction[] => txs.slice(from, to);

type Backend = {
  /** The store as the app opens it (again, after a restart, for the durable ones). */
  open: () => LocalStore;
  /** A torn or garbled write of a document, as a crash mid-save or a power cut leaves it, where one can happen. */
  tear?: (group: string, doc: DocId) => Promise<void>;
  dispose: () => void;
};

/** A store on a fresh folder of its own, opened by `open`. */
function onDisk(open: (directory: string) => LocalStore): Backend {
  const directory = mkdtempSync(join(tmpdir(), "weft-file-store-"));
  return {
    open: () => open(directory),
    // Half a record and no newline: the process died inside write().
    tear: async (group, doc) => appendFileSync(join(directory, encodeURIComponent(group), `${doc}.jsonl`), `\n{"appends":[{"session":"${alice.session}","after":0,"transactions":[{"at":1,"da`),
    dispose: () => rmSync(directory, { recursive: true, force: true }),
  };
}

const backends: { name: string; survivesRestart: boolean; create: () => Backend }[] = [
  {
    name: "MemoryLocalStore",
    survivesRestart: false,
    create: () => {
      // Two clients share a memory store by sharing the instance.
      const shared = new MemoryLocalStore();
      return { open: () => shared, dispose: () => {} };
    },
  },
  { name: "FileLocalStore", survivesRestart: true, create: () => onDisk((directory) => new FileLocalStore(directory)) },
  // Every file written whole after every save and cut, whatever other stores on the folder are doing: what
  // the store gives back must not change, nor any save another store makes meanwhile be lost.
  { name: "FileLocalStore compacted after every save", survivesRestart: true, create: () => onDisk((directory) => new CompactingFileStore(directory)) },
  {
    name: "IndexedDbLocalStore",
    survivesRestart: true,
    create: () => {
      const factory = new IDBFactory(); // a fresh, empty IndexedDB for every test; each open() is another tab
      const locks = fakeWebLocks(); // of one origin, as a browser's
      return {
        open: () => new IndexedDbLocalStore("weft-test", factory, locks),
        // A transaction commits whole or not at all; what can still be there is a record this code did not
        // write whole (another version, a browser extension): it must cost only itself.
        tear: async (group, doc) => {
          const db = await new Promise<IDBDatabase>((resolve, reject) => {
            const request = factory.open("weft-test", 1);
            request.onsuccess = () => resolve(request.result);
            request.onerror = () => reject(request.error);
          });
          const transaction = db.transaction("changes", "readwrite");
          transaction.objectStore("changes").add({ group, doc, changes: { appends: [{ session: alice.session, after: 0 }] } });
          transaction.objectStore("changes").add({ group, doc });
          await new Promise((resolve) => (transaction.oncomplete = resolve));
          db.close();
        },
        dispose: () => {},
      };
    },
  },
];

const stored = (id: DocId, header: DocHeader, sessions: StoredDoc["sessions"]): StoredDoc => ({ id, header, sessions });

/**
 * A FileLocalStore that writes every document file of its folder whole after each save and cut, under the
 * markers the real store's compactions take (file-session-locks.ts, whileRewriting), while this store's
 * other saves and the other stores' go on: what a load gives back must not change, nor any save that has
 * resolved be missing from it.
 */
class CompactingFileStore extends FileLocalStore {
  readonly #rewrites = fileSessionLocks(this.directory);

  override async save(...args: Parameters<FileLocalStore["save"]>): Promise<SaveResult> {
    const saved = await super.save(...args);
    await this.#compactAll();
    return saved;
  }

  override async cutSession(...args: Parameters<FileLocalStore["cutSession"]>): Promise<void> {
    await super.cutSession(...args);
    await this.#compactAll();
  }

  async #compactAll(): Promise<void> {
    for (const group of readdirSync(this.directory, { withFileTypes: true })) {
      if (!group.isDirectory() || group.name === "sessions") continue;
      for (const name of readdirSync(join(this.directory, group.name)).filter((file) => file.endsWith(".jsonl"))) {
        const path = join(this.directory, group.name, name);
        await this.#rewrites.whileRewriting(path, () => compactFile(path, name.slice(0, -".jsonl".length) as DocId, false));
      }
    }
  }
}

describe.each(backends)("$name", ({ survivesRestart, create }) => {
  let backend: Backend;
  let opened: LocalStore[];
  let store: LocalStore;
  const open = (): LocalStore => {
    const instance = backend.open();
    opened.push(instance);
    return instance;
  };

  beforeEach(() => {
    backend = create();
    opened = [];
    store = open();
  });

  afterEach(async () => {
    for (const instance of opened) await instance.close();
    backend.dispose();
  });

  it("tells what announceUnsent announced to every client listening on the store, another tab's or process's, until it stops", async () => {
    const other = open();
    const heard: [string, DocId[]][] = [];
    const stop = other.onUnsent!((group, docs) => heard.push([group, docs]));
    await store.announceUnsent!(GROUP, [first.id, second.id]);
    await until(() => heard.length > 0, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heard).toEqual([[GROUP, [first.id, second.id]]]);
    stop();
    await store.announceUnsent!(OTHER_GROUP, [second.id]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toHaveLength(1);
    // Listening again after the last listener stopped: only what is announced from then on is heard.
    other.onUnsent!((group, docs) => heard.push([group, docs]));
    await store.announceUnsent!(GROUP, [second.id]);
    await until(() => heard.length > 1, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heard).toEqual([[GROUP, [first.id, second.id]], [GROUP, [second.id]]]);
  });

  it("loads the header and every session's appends in order", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 0, transactions: slice(0, 3) }] });
    await store.save(GROUP, first.id, {
      appends: [
        { session: alice.session, after: 3, transactions: slice(3, 5) },
        { session: bob.session, after: 0, transactions: slice(5, 6) },
      ],
    });
    await store.save(GROUP, first.id, { appends: [{ session: bob.session, after: 1, transactions: slice(6, 8) }] });
    expect(await store.loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 5), [bob.session]: slice(5, 8) })]);
  });

  it("keeps nothing saved without the header into a document another client sharing the store removed, and says so; a save with the header makes it again", async () => {
    const other = open();
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    expect(await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: slice(2, 3) }] })).toBeUndefined();
    await other.remove(GROUP, first.id);
    // Saved as it was, it would come back as a document without its header, or its first writes.
    expect(await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 4) }] })).toBe("missing");
    expect(await store.save(GROUP, first.id, { relayHeld: { header: true, sessions: { [alice.session]: 3 } }, appends: [] })).toBe("missing");
    for (const reader of survivesRestart ? [store, other, open()] : [store]) expect(await reader.loadGroup(GROUP)).toEqual([]);
    expect(await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 4) }] })).toBeUndefined();
    expect(await other.save(GROUP, first.id, { appends: [{ session: bob.session, after: 0, transactions: slice(4, 5) }] })).toBeUndefined();
    const expected = [stored(first.id, first.header, { [alice.session]: slice(0, 4), [bob.session]: slice(4, 5) })];
    for (const reader of survivesRestart ? [store, other, open()] : [store]) expect(await reader.loadGroup(GROUP)).toEqual(expected);
  });

  it("takes a header saved later in place of one that is not the document's own (changed on the disk), with every save before and after it; never the other way round", async () => {
    const changed = { ...first.header, meta: { title: "changed on the disk" } };
    await store.save(GROUP, first.id, { header: changed, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 2, transactions: slice(2, 4) }] });
    await store.save(GROUP, first.id, { header: changed, appends: [] });
    expect(await store.loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    if (survivesRestart) expect(await open().loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
  });

  it("keeps data of bytes as exactly those bytes and text as text, across a restart where the store has one", async () => {
    const large = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 13) & 0xff);
    const mixed = [
      { at: 1, data: Uint8Array.of(0, 1, 0x7b, 0x22, 0xff) },
      { at: 2, data: "AAEC" }, // text that looks like base64 stays text
      { at: 3, data: new Uint8Array(0) },
      { at: 4, data: large },
    ];
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: mixed }] });
    const reader = survivesRestart ? open() : store;
    const [doc] = await reader.loadGroup(GROUP);
    const data = doc?.sessions[alice.session]?.map((transaction) => transaction.data);
    expect(comparableAll(data ?? [])).toEqual(comparableAll(mixed.map((transaction) => transaction.data)));
    expect(data?.map((value) => (typeof value === "string" ? "string" : value.constructor.name))).toEqual(["Uint8Array", "string", "Uint8Array", "Uint8Array"]);
  });

  it("loads every save it was given before the load, in order, though none has settled yet", async () => {
    const saves = [store.save(GROUP, first.id, { header: first.header, appends: [] })];
    for (let i = 0; i < 8; i++) saves.push(store.save(GROUP, first.id, { appends: [{ session: alice.session, after: i, transactions: slice(i, i + 1) }] }));
    expect(await store.loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 8) })]);
    await Promise.all(saves);
    expect(await (survivesRestart ? open() : store).loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 8) })]);
  });

  it("takes a header and appends in one save", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    expect(await store.loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 2) })]);
  });

  it("does not duplicate transactions when appends overlap", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 3) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 1, transactions: slice(1, 5) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: slice(2, 4) }] });
    const [doc] = await store.loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(slice(0, 5));
  });

  it("never stores an append that would leave a gap in the log: it is kept aside, and joins the log once a save fills the gap", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 5, transactions: slice(5, 7) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 6, transactions: slice(6, 8) }] });
    expect((await store.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 2));
    expect((await store.loadGroup(GROUP))[0]?.stranded).toEqual({ [alice.session]: [{ after: 5, transactions: slice(5, 8) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: slice(2, 3) }] });
    expect((await store.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 3));
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 6) }] });
    const reader = survivesRestart ? open() : store;
    const [doc] = await reader.loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(slice(0, 8));
    expect(doc?.stranded).toBeUndefined();
  });

  it("forgets a run kept aside that was told lost (dropStranded): a write that then takes its place does not join it, even in the same save", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 5) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 6, transactions: slice(6, 7) }] });
    const instead = { at: slice(2, 3)[0]!.at, data: "written instead" };
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: [instead] }], dropStranded: [{ session: alice.session, after: 3 }] });
    const reader = survivesRestart ? open() : store;
    const [doc] = await reader.loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual([...slice(0, 2), instead]);
    expect(doc?.stranded).toEqual({ [alice.session]: [{ after: 6, transactions: slice(6, 7) }] });
    await store.save(GROUP, first.id, { appends: [], dropStranded: [{ session: alice.session, after: 6 }] });
    expect((await (survivesRestart ? open() : store).loadGroup(GROUP))[0]?.stranded).toBeUndefined();
  });

  it("forgets what was kept aside past a cut of its session: it followed the writes cut", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 4, transactions: slice(4, 6) }] });
    await cutStoredSession(store, GROUP, first.id, { session: alice.session, keep: 1 });
    const [doc] = await store.loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(slice(0, 1));
    expect(doc?.stranded).toBeUndefined();
  });

  it("never mixes a session's log with an append that contradicts it where they overlap (another tab's copy of writes since discarded)", async () => {
    const other = { at: slice(1, 2)[0]!.at, data: "another copy" };
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 1, transactions: [other, ...slice(2, 4)] }] });
    expect((await store.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 2));
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 1, transactions: slice(1, 4) }] });
    expect((await store.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 4));
    const reader = survivesRestart ? open() : store;
    expect((await reader.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 4));
  });

  it("keeps the documents of two groups apart", async () => {
    const third = testHeader(alice, GROUP, "nonce-third");
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 1) }] });
    await store.save(OTHER_GROUP, second.id, { header: second.header, appends: [{ session: bob.session, after: 0, transactions: slice(1, 2) }] });
    await store.save(GROUP, third.id, { header: third.header, appends: [] });
    const team = await store.loadGroup(GROUP);
    expect(team.map((doc) => doc.id).sort()).toEqual([first.id, third.id].sort());
    expect(team.find((doc) => doc.id === first.id)).toEqual(stored(first.id, first.header, { [alice.session]: slice(0, 1) }));
    expect(await store.loadGroup(OTHER_GROUP)).toEqual([stored(second.id, second.header, { [bob.session]: slice(1, 2) })]);
    expect(await store.loadGroup("empty")).toEqual([]);
  });

  it("keeps each agent's role per group, the last one saved, for another client of the store (after a restart where the store has one)", async () => {
    expect(await store.loadRole!(GROUP, alice.agent)).toBeUndefined();
    await store.saveRole!(GROUP, alice.agent, "writer");
    await store.saveRole!(GROUP, bob.agent, "admin");
    await store.saveRole!(OTHER_GROUP, alice.agent, "admin");
    await store.saveRole!(GROUP, alice.agent, "reader");
    const other = open(); // another tab or process, or the app started again
    expect(await other.loadRole!(GROUP, alice.agent)).toBe("reader");
    expect(await other.loadRole!(GROUP, bob.agent)).toBe("admin");
    expect(await other.loadRole!(OTHER_GROUP, alice.agent)).toBe("admin");
    expect(await other.loadRole!(OTHER_GROUP, bob.agent)).toBeUndefined();
    expect(await other.loadGroup(GROUP)).toEqual([]); // a role is no document
  });

  it("forgets a removed document, and only that one", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    const third = testHeader(alice, GROUP, "nonce-third");
    await store.save(GROUP, third.id, { header: third.header, appends: [] });
    await store.save(OTHER_GROUP, first.id, { header: first.header, appends: [] });
    await store.remove(GROUP, first.id);
    expect((await store.loadGroup(GROUP)).map((doc) => doc.id)).toEqual([third.id]);
    expect((await store.loadGroup(OTHER_GROUP)).map((doc) => doc.id)).toEqual([first.id]);
    if (survivesRestart) expect((await open().loadGroup(GROUP)).map((doc) => doc.id)).toEqual([third.id]);
  });

  it.runIf(survivesRestart)("loads what an earlier instance saved (an app restart)", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 3) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 4) }] });
    await store.close();
    const restarted = open();
    expect(await restarted.loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    await restarted.save(GROUP, first.id, { appends: [{ session: alice.session, after: 4, transactions: slice(4, 6) }] });
    expect((await open().loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 6));
  });

  it("survives a torn write: what came before loads, and every later save of the same running store too", async ({ skip }) => {
    if (!backend.tear) return skip("nothing can tear in memory");
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await backend.tear(GROUP, first.id);
    expect(await store.loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 2) })]);
    // The same instance keeps saving after the tear, and after a second one.
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: slice(2, 4) }] });
    await backend.tear(GROUP, first.id);
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 4, transactions: slice(4, 5) }, { session: bob.session, after: 0, transactions: slice(5, 6) }] });
    const expected = [stored(first.id, first.header, { [alice.session]: slice(0, 5), [bob.session]: slice(5, 6) })];
    expect(await store.loadGroup(GROUP)).toEqual(expected);
    expect(await open().loadGroup(GROUP)).toEqual(expected);
  });

  it("keeps every save when two clients save different sessions of one document at the same time", async () => {
    const other = open();
    await store.save(GROUP, first.id, { header: first.header, appends: [] });
    const many = transactions(60, "many");
    const saves: Promise<SaveResult>[] = [];
    for (let i = 0; i < 60; i += 3) {
      saves.push(store.save(GROUP, first.id, { appends: [{ session: alice.session, after: i, transactions: many.slice(i, i + 3) }] }));
      saves.push(other.save(GROUP, first.id, { appends: [{ session: bob.session, after: i, transactions: many.slice(i, i + 3) }] }));
    }
    await Promise.all(saves);
    for (const reader of [store, other, open()]) {
      const [doc] = await reader.loadGroup(GROUP);
      expect(doc?.sessions[alice.session]).toEqual(many);
      expect(doc?.sessions[bob.session]).toEqual(many);
    }
  });

  it("keeps a snapshot in place of the transactions it covers: a restart loads it and every transaction after it", async () => {
    const many = transactions(12, "long");
    const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    const snapshot = { doc: first.id, session: bob.session, covers: { [alice.session]: 6, [bob.session]: 2 }, data, signature: "A".repeat(86) };
    const saved = { snapshot, bases: { [alice.session]: 6, [bob.session]: 2 }, baseHashes: { [alice.session]: "hash-at-6" } };
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: many.slice(0, 8) }, { session: bob.session, after: 0, transactions: many.slice(0, 1) }] });
    // The snapshot, and in the same save what follows it (bob's log jumps past what the store held of it).
    await store.save(GROUP, first.id, { snapshot: saved, appends: [{ session: bob.session, after: 2, transactions: many.slice(2, 4) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 8, transactions: many.slice(8, 10) }] });
    // An older snapshot saved late (another client's slower save) changes nothing.
    const older = { snapshot: { ...snapshot, covers: { [alice.session]: 2 } }, bases: { [alice.session]: 2 }, baseHashes: {} };
    await store.save(GROUP, first.id, { snapshot: older, appends: [] });
    const reader = survivesRestart ? open() : store;
    const [doc] = await reader.loadGroup(GROUP);
    expect(doc?.sessions).toEqual({ [alice.session]: many.slice(6, 10), [bob.session]: many.slice(2, 4) });
    expect(doc?.snapshot?.bases).toEqual(saved.bases);
    expect(doc?.snapshot?.baseHashes).toEqual(saved.baseHashes);
    expect(doc?.snapshot?.snapshot.covers).toEqual(snapshot.covers);
    expect(comparableAll([doc!.snapshot!.snapshot.data])).toEqual(comparableAll([data]));
    expect(doc?.snapshot?.snapshot.data).toBeInstanceOf(Uint8Array);
    // A newer snapshot of text replaces it.
    const newer = { snapshot: { ...snapshot, covers: { [alice.session]: 9, [bob.session]: 2 }, data: "state as text" }, bases: { [alice.session]: 9, [bob.session]: 2 }, baseHashes: {} };
    await store.save(GROUP, first.id, { snapshot: newer, appends: [] });
    const [again] = await (survivesRestart ? open() : store).loadGroup(GROUP);
    expect(again?.sessions).toEqual({ [alice.session]: many.slice(9, 10), [bob.session]: many.slice(2, 4) });
    expect(again?.snapshot?.snapshot.data).toBe("state as text");
  });

  it("keeps the chain hash where a snapshot cuts a session it names no hash for (another agent's), from the transactions it cut", async () => {
    const many = transactions(12, "cut");
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: many.slice(0, 10) }] });
    // Bob's snapshot covers alice's first 6 and 9 and names a hash for neither: only bob's own sessions get one.
    const snapshotAt = (count: number) => ({
      snapshot: { doc: first.id, session: bob.session, covers: { [alice.session]: count }, data: `state-${count}`, signature: "A".repeat(86) },
      bases: { [alice.session]: count },
      baseHashes: {},
    });
    await store.save(GROUP, first.id, { snapshot: snapshotAt(6), appends: [] });
    const [cutOnce] = await (survivesRestart ? open() : store).loadGroup(GROUP);
    expect(cutOnce?.snapshot?.baseHashes).toEqual({ [alice.session]: chainHash(GENESIS_HASH, many.slice(0, 6)) });
    await store.save(GROUP, first.id, { snapshot: snapshotAt(9), appends: [] });
    const [cutTwice] = await (survivesRestart ? open() : store).loadGroup(GROUP);
    expect(cutTwice?.snapshot?.baseHashes).toEqual({ [alice.session]: chainHash(GENESIS_HASH, many.slice(0, 9)) });
    expect(cutTwice?.sessions[alice.session]).toEqual(many.slice(9, 10));
  });

  it("keeps every write when one client saves a snapshot while another saves its own session", async () => {
    const other = open();
    const many = transactions(40, "both");
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: many.slice(0, 20) }] });
    const snapshot = { doc: first.id, session: alice.session, covers: { [alice.session]: 10 }, data: "state", signature: "A".repeat(86) };
    const saves: Promise<SaveResult>[] = [store.save(GROUP, first.id, { snapshot: { snapshot, bases: { [alice.session]: 10 }, baseHashes: {} }, appends: [] })];
    for (let i = 0; i < 40; i += 4) saves.push(other.save(GROUP, first.id, { appends: [{ session: bob.session, after: i, transactions: many.slice(i, i + 4) }] }));
    saves.push(store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 20, transactions: many.slice(20, 25) }] }));
    await Promise.all(saves);
    for (const reader of [store, other, open()]) {
      const [doc] = await reader.loadGroup(GROUP);
      expect(doc?.sessions[alice.session]).toEqual(many.slice(10, 25));
      expect(doc?.sessions[bob.session]).toEqual(many);
      expect(doc?.snapshot?.snapshot.covers).toEqual({ [alice.session]: 10 });
    }
  });

  it("cuts one session short in one step, keeping every other session and another client's saves in between, and the session goes on from the cut", async () => {
    const other = open();
    const many = transactions(20, "cut-short");
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: many.slice(0, 6) }] });
    await other.save(GROUP, first.id, { appends: [{ session: bob.session, after: 0, transactions: many.slice(0, 3) }] });
    await Promise.all([
      store.cutSession!(GROUP, first.id, { session: alice.session, keep: 2 }),
      other.save(GROUP, first.id, { appends: [{ session: bob.session, after: 3, transactions: many.slice(3, 5) }] }),
    ]);
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: many.slice(10, 12) }] });
    for (const reader of survivesRestart ? [store, other, open()] : [store]) {
      const [doc] = await reader.loadGroup(GROUP);
      expect(doc?.sessions[alice.session]).toEqual([...many.slice(0, 2), ...many.slice(10, 12)]);
      expect(doc?.sessions[bob.session]).toEqual(many.slice(0, 5));
    }
    // A cut counts from the session's start, snapshot or not; a document the store does not hold stays unheld.
    const snapshot = { doc: first.id, session: alice.session, covers: { [alice.session]: 3 }, data: "state", signature: "A".repeat(86) };
    await store.save(GROUP, first.id, { snapshot: { snapshot, bases: { [alice.session]: 3 }, baseHashes: {} }, appends: [] });
    await store.cutSession!(GROUP, first.id, { session: alice.session, keep: 3 });
    await store.cutSession!(GROUP, second.id, { session: alice.session, keep: 0 });
    const after = await (survivesRestart ? open() : store).loadGroup(GROUP);
    expect(after.map((doc) => doc.id)).toEqual([first.id]);
    expect(after[0]?.sessions).toEqual({ [alice.session]: [], [bob.session]: many.slice(0, 5) });
  });

  it("keeps what the relay was last heard to hold: each session's count as its last save told it, and the header's flag, across a snapshot and a restart where the store has one", async () => {
    const other = open(); // another tab or process, writing its own session
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 3) }] });
    await store.save(GROUP, first.id, { appends: [], relayHeld: { header: true, sessions: { [alice.session]: 2 } } });
    await other.save(GROUP, first.id, { appends: [{ session: bob.session, after: 0, transactions: slice(3, 5) }], relayHeld: { header: true, sessions: { [bob.session]: 1 } } });
    await store.save(GROUP, first.id, { appends: [], relayHeld: { header: true, sessions: { [alice.session]: 3 } } });
    expect((await store.loadGroup(GROUP))[0]?.relayHeld).toEqual({ header: true, sessions: { [alice.session]: 3, [bob.session]: 1 } });
    // A relay that lost what it held (restored from an older backup) is told so too: the last count stands.
    await other.save(GROUP, first.id, { appends: [], relayHeld: { header: false, sessions: { [bob.session]: 0 } } });
    const snapshot = { doc: first.id, session: alice.session, covers: { [alice.session]: 2 }, data: "state", signature: "A".repeat(86) };
    await store.save(GROUP, first.id, { snapshot: { snapshot, bases: { [alice.session]: 2 }, baseHashes: { [alice.session]: "hash-at-2" } }, appends: [] });
    const reader = survivesRestart ? open() : store;
    const [doc] = await reader.loadGroup(GROUP);
    expect(doc?.relayHeld).toEqual({ header: false, sessions: { [alice.session]: 3, [bob.session]: 0 } });
    expect(doc?.sessions).toEqual({ [alice.session]: slice(2, 3), [bob.session]: slice(3, 5) });
  });

  it("makes no document of a save that tells only what the relay holds (the document removed meanwhile)", async () => {
    const damage: string[] = [];
    await store.save(GROUP, first.id, { appends: [], relayHeld: { header: true, sessions: { [alice.session]: 1 } } });
    expect(await store.loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([]);
    if (survivesRestart) expect(await open().loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([]);
    expect(damage).toEqual([]);
  });

  it("leases a different session to each live client, and a fresh one only when all are held", async () => {
    const fresh = sessionMaker(alice.agent);
    const tab1 = await store.leaseSession(alice.agent, { fresh });
    const tab2 = await open().leaseSession(alice.agent, { fresh });
    expect(tab1.session).not.toBe(tab2.session);
    expect(fresh.made).toEqual([tab1.session, tab2.session]);
    // Leases of another agent are its own pool.
    const bobs = await open().leaseSession(bob.agent, { fresh: sessionMaker(bob.agent) });
    expect(bobs.session.startsWith(`${bob.agent}~`)).toBe(true);
    // A released session is the next one handed out: sessions stay as many as clients running at once.
    await tab1.release();
    const tab3 = await open().leaseSession(alice.agent, { fresh });
    expect(tab3.session).toBe(tab1.session);
    expect(fresh.made).toHaveLength(2);
    for (const lease of [tab2, tab3, bobs]) await lease.release();
  });

  it("never hands one session to two clients that lease at the same moment", async () => {
    const fresh = sessionMaker(alice.agent);
    const first = await store.leaseSession(alice.agent, { fresh });
    const second = await store.leaseSession(alice.agent, { fresh });
    await Promise.all([first.release(), second.release()]);
    // Eight clients start at once on two pooled sessions.
    const leases = await Promise.all(Array.from({ length: 8 }, () => open().leaseSession(alice.agent, { fresh })));
    expect(new Set(leases.map((lease) => lease.session)).size).toBe(8);
    expect(leases.map((lease) => lease.session)).toEqual(expect.arrayContaining([first.session, second.session]));
    for (const lease of leases) await lease.release();
  });

  it("leases a wanted session only while nobody else holds it", async () => {
    const fresh = sessionMaker(alice.agent);
    const held = await store.leaseSession(alice.agent, { fresh, wanted: alice.session });
    expect(held.session).toBe(alice.session);
    await expect(open().leaseSession(alice.agent, { fresh, wanted: alice.session })).rejects.toBeInstanceOf(SessionInUseError);
    // Not wanted by name, it is not handed out either.
    const other = await open().leaseSession(alice.agent, { fresh });
    expect(other.session).not.toBe(alice.session);
    await held.release();
    const again = await open().leaseSession(alice.agent, { fresh, wanted: alice.session });
    expect(again.session).toBe(alice.session);
    await expect(open().leaseSession(alice.agent, { fresh, wanted: bob.session })).rejects.toThrow(TypeError);
    for (const lease of [other, again]) await lease.release();
    expect(fresh.made).toHaveLength(1);
  });

  it.runIf(survivesRestart)("keeps its pool of sessions across a restart", async () => {
    const fresh = sessionMaker(alice.agent);
    const leases = [await store.leaseSession(alice.agent, { fresh }), await store.leaseSession(alice.agent, { fresh })];
    for (const lease of leases) await lease.release();
    await store.close();
    const restarted = open();
    const again = [await restarted.leaseSession(alice.agent, { fresh }), await restarted.leaseSession(alice.agent, { fresh })];
    expect(again.map((lease) => lease.session).sort()).toEqual(leases.map((lease) => lease.session).sort());
    expect(fresh.made).toHaveLength(2);
    for (const lease of again) await lease.release();
  });
});

/** Makes fresh session ids for an agent and remembers them. */
function sessionMaker(agent: AgentId): (() => SessionId) & { made: SessionId[] } {
  const made: SessionId[] = [];
  return Object.assign(() => {
    const session = newSessionId(agent);
    made.push(session);
    return session;
  }, { made });
}

describe("a store of the app's own without cutSession", () => {
  it("has a session cut short by writing the document again without the cut transactions", async () => {
    const inner = new MemoryLocalStore();
    const own: LocalStore = {
      leaseSession: (agent, request) => inner.leaseSession(agent, request),
      loadGroup: (group) => inner.loadGroup(group),
      save: (group, doc, changes) => inner.save(group, doc, changes),
      remove: (group, doc) => inner.remove(group, doc),
      close: () => inner.close(),
    };
    const many = transactions(6, "own-store");
    await own.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: many.slice(0, 4) }, { session: bob.session, after: 0, transactions: many.slice(4, 6) }] });
    const relayHeld = { header: true, sessions: { [alice.session]: 1, [bob.session]: 2 } };
    await own.save(GROUP, first.id, { appends: [], relayHeld });
    await cutStoredSession(own, GROUP, first.id, { session: alice.session, keep: 1 });
    await cutStoredSession(own, GROUP, second.id, { session: alice.session, keep: 0 });
    expect(await own.loadGroup(GROUP)).toEqual([{ ...stored(first.id, first.header, { [alice.session]: many.slice(0, 1), [bob.session]: many.slice(4, 6) }), relayHeld }]);
  });
});

describe("FileLocalStore on disk", () => {
  let directory: string;
  const docFile = (group: string, id: DocId) => join(directory, encodeURIComponent(group), `${id}.jsonl`);

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), "weft-file-store-"));
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  async function saveThree(): Promise<void> {
    const store = new FileLocalStore(directory);
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: slice(2, 3) }] });
  }

  // A crash mid-write leaves half a line at the end of the file.
  const tear = () => appendFileSync(docFile(GROUP, first.id), `{"session":"${alice.session}","after":3,"transactions":[{"at":1,"da`);

  it("writes bytes compactly: base64url in the line, about 4/3 of their size", async () => {
    const store = new FileLocalStore(directory);
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: [{ at: 1, data: new Uint8Array(30_000).fill(200) }] }] });
    const size = readFileSync(docFile(GROUP, first.id), "utf8").length;
    expect(size).toBeGreaterThan(40_000);
    expect(size).toBeLessThan(41_500);
  });

  it("never shows another store on the folder a document's file half made: new files appear whole, so reads meanwhile tell no damage", async () => {
    const writer = new FileLocalStore(directory, { fsync: false });
    const reader = new FileLocalStore(directory, { fsync: false });
    const damage: string[] = [];
    const docs = Array.from({ length: 150 }, (_, i) => testHeader(alice, GROUP, `nonce-new-${i}`));
    let saving = true;
    const saves = Promise.all(docs.map((doc) => writer.save(GROUP, doc.id, { header: doc.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 1) }] }))).finally(() => (saving = false));
    let reads = 0;
    while (saving) {
      await reader.loadGroup(GROUP, (problem) => damage.push(problem));
      reads++;
      await new Promise((resolve) => setImmediate(resolve)); // the writer's file work completes between reads
    }
    await saves;
    expect(reads).toBeGreaterThan(1);
    expect(damage).toEqual([]);
    expect(await reader.loadGroup(GROUP)).toHaveLength(docs.length);
    expect(readdirSync(join(directory, encodeURIComponent(GROUP))).filter((name) => !name.endsWith(".jsonl"))).toEqual([]);
  });

  it("reads no file before a socket made in the same tick has connected, so the relay answers it while the (synchronous) reads run", async () => {
    await saveThree();
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const store = new FileLocalStore(directory);
      // As a group does: its socket is made, and its load starts, in one tick.
      const socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
      const loading = store.loadGroup(GROUP);
      let connected = false;
      socket.on("error", () => {});
      socket.on("connect", () => {
        connected = true;
        rmSync(docFile(GROUP, first.id)); // what the load reads after this is told
      });
      expect(await loading).toEqual([]);
      expect(connected).toBe(true);
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it("tells a last line cut short, since it cannot be told from a whole save cut on the disk, and loads everything before it", async () => {
    await saveThree();
    tear();
    const damage: string[] = [];
    expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 3) })]);
    expect(damage).toEqual([`${first.id}: its last save was cut short (on the disk, or by a crash as it was written), and is left out`]);
  });

  it("tells a last line cut short under a test's fake timers too (vi.useFakeTimers): reading it again waits on the runtime's own", async () => {
    await saveThree();
    tear();
    const damage: string[] = [];
    vi.useFakeTimers();
    try {
      expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 3) })]);
    } finally {
      vi.useRealTimers();
    }
    expect(damage).toEqual([`${first.id}: its last save was cut short (on the disk, or by a crash as it was written), and is left out`]);
  });

  /**
   * Loads the group while another process writes a fourth save in `parts` pieces: the first is in the file
   * as the load reads it; then, each time the load waits to read the file again (the runtime's afterMs,
   * through WRITES_WHILE_LOAD_WAITS), the next piece "lands" or the writer stays "still", as `waits` says,
   * whatever else the machine is busy with.
   */
  async function loadWhileWritten(parts: number, waits: ("lands" | "still")[]): Promise<{ docs: StoredDoc[]; damage: string[] }> {
    await saveThree();
    const path = docFile(GROUP, first.id);
    const before = readFileSync(path).length;
    await new FileLocalStore(directory).save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 4) }] });
    const written = readFileSync(path).subarray(before);
    const cuts = Array.from({ length: parts + 1 }, (_, k) => Math.floor((k * written.length) / parts));
    truncateSync(path, before + cuts[1]!);
    let landed = 1;
    for (const wait of waits) WRITES_WHILE_LOAD_WAITS.push(() => wait === "lands" && appendFileSync(path, written.subarray(cuts[landed], cuts[++landed])));
    const damage: string[] = [];
    try {
      return { docs: await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem)), damage };
    } finally {
      WRITES_WHILE_LOAD_WAITS.length = 0;
    }
  }

  it("does not tell a last line another process is writing as the load reads it: read again a moment later, it is whole, and loads", async () => {
    // Half the save is in the file as the load reads it; the rest lands while it waits.
    const { docs, damage } = await loadWhileWritten(2, ["lands"]);
    expect(docs).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    expect(damage).toEqual([]);
  });

  it("waits for a last line another process is still writing while the file grows, and loads it whole", async () => {
    // A third more lands before the load reads again, the rest before it reads a third time.
    const { docs, damage } = await loadWhileWritten(3, ["lands", "lands"]);
    expect(docs).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    expect(damage).toEqual([]);
  });

  it("waits through a writer held back a moment (a busy machine) and loads the line whole", async () => {
    // The writer stands still for all but the last wait the load allows it, then finishes.
    const stills = FILE_TORN_LINE_STILL_MS / FILE_TORN_LINE_RECHECK_MS - 1;
    const { docs, damage } = await loadWhileWritten(3, ["lands", ...Array<"still">(stills).fill("still"), "lands"]);
    expect(docs).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    expect(damage).toEqual([]);
  });

  it("tells a last line that stops growing before it is whole, once it has stood still FILE_TORN_LINE_STILL_MS, and loads everything before it", async () => {
    // A third more lands while the load waits, then nothing, for longer than the load waits: the writer died part-way.
    const stills = FILE_TORN_LINE_STILL_MS / FILE_TORN_LINE_RECHECK_MS;
    const { docs, damage } = await loadWhileWritten(3, ["lands", ...Array<"still">(stills).fill("still"), "lands"]);
    expect(docs).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 3) })]);
    expect(damage).toEqual([`${first.id}: its last save was cut short (on the disk, or by a crash as it was written), and is left out`]);
  });

  it("a whole, fsynced last save truncated on the disk is told, not skipped unsaid", async () => {
    await saveThree();
    const path = docFile(GROUP, first.id);
    truncateSync(path, statSync(path).size - 10);
    const damage: string[] = [];
    expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 2) })]);
    expect(damage).toEqual([`${first.id}: its last save was cut short (on the disk, or by a crash as it was written), and is left out`]);
  });

  it("a save torn part-way and followed by the next one (a full disk, a crash) costs only itself, unsaid", async () => {
    await saveThree();
    tear();
    await new FileLocalStore(directory).save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 4) }] });
    const damage: string[] = [];
    expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    expect(damage).toEqual([]);
  });

  it("a line zeroed on the disk up to the next save's newline is told, not taken for a torn save", async () => {
    await saveThree();
    const path = docFile(GROUP, first.id);
    const text = readFileSync(path, "utf8");
    // A block of zeros from the middle of the first save through its newline, up to the second save's own.
    const second = text.indexOf('\n{"appends"');
    const from = text.indexOf('"appends"');
    writeFileSync(path, text.slice(0, from) + "\u0000".repeat(second - 1 - from) + text.slice(second - 1).replace(/^\n\n/, "\u0000\n"));
    const damage: string[] = [];
    expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([]);
    expect(damage).toEqual([`${first.id}: a save could not be read (damaged on the disk), and is left out; its header could not be read, so the document and its 1 later saves are left out`]);
  });

  it("a file emptied on the disk is told", async () => {
    await saveThree();
    truncateSync(docFile(GROUP, first.id), 0);
    const damage: string[] = [];
    expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([]);
    expect(damage).toEqual([`${first.id}: its file is empty (cut on the disk, or a crash as it was made), so the document is left out`]);
  });

  /** Overwrites part of the file's `index`th line (counted from 0, empty lines skipped), as a disk fault would. */
  const damageLine = (index: number) => {
    const path = docFile(GROUP, first.id);
    const lines = readFileSync(path, "utf8").split("\n");
    const at = lines.map((line, i) => (line ? i : -1)).filter((i) => i >= 0)[index]!;
    lines[at] = `${lines[at]!.slice(0, 20)}\u0000GARBAGE${lines[at]!.slice(28)}`;
    writeFileSync(path, lines.join("\n"));
  };

  it("a line damaged on the disk loses what it held; the later saves of its session are kept aside, and loading tells onDamage which", async () => {
    await saveThree();
    await new FileLocalStore(directory).save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 5) }, { session: bob.session, after: 0, transactions: slice(0, 1) }] });
    damageLine(2); // the save of transaction 2 (the first save's header has a line of its own after it)
    const damage: string[] = [];
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem));
    expect(doc?.sessions).toEqual({ [alice.session]: slice(0, 2), [bob.session]: slice(0, 1) });
    expect(doc?.stranded).toEqual({ [alice.session]: [{ after: 3, transactions: slice(3, 5) }] });
    expect(damage).toEqual([`${first.id}: a save could not be read (damaged on the disk), and is left out; session ${alice.session}: transactions 3-4 follow transactions that could not be read, and are kept aside until the relay's copy of those fills the gap`]);
  });

  it("a save that fills the hole a damaged line left joins what was kept aside: loading tells nothing more of them", async () => {
    await saveThree();
    const store = new FileLocalStore(directory);
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 5) }] });
    damageLine(2); // the save of transaction 2 (the first save's header has a line of its own after it)
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: slice(2, 3) }] }); // the relay's copy of it
    const damage: string[] = [];
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem));
    expect(doc?.sessions).toEqual({ [alice.session]: slice(0, 5) });
    expect(doc?.stranded).toBeUndefined();
    expect(damage).toEqual([`${first.id}: a save could not be read (damaged on the disk), and is left out`]);
  });

  it("a damaged line is told once for its document, however many later saves it costs: their ranges merged", async () => {
    await saveThree();
    const store = new FileLocalStore(directory);
    for (let after = 3; after < 6; after++) await store.save(GROUP, first.id, { appends: [{ session: alice.session, after, transactions: slice(after, after + 1) }] });
    damageLine(2);
    const damage: string[] = [];
    await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem));
    expect(damage).toEqual([`${first.id}: a save could not be read (damaged on the disk), and is left out; session ${alice.session}: transactions 3-5 follow transactions that could not be read, and are kept aside until the relay's copy of those fills the gap`]);
  });

  it("a line replaced whole by something that is not a save is told, though nothing later is lost", async () => {
    await saveThree();
    const path = docFile(GROUP, first.id);
    writeFileSync(path, readFileSync(path, "utf8").replace(/\n([^\n]+)\n$/, "\n#damaged#\n"));
    const damage: string[] = [];
    expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 2) })]);
    expect(damage).toEqual([`${first.id}: a save could not be read (damaged on the disk), and is left out`]);
  });

  it("a damaged first line costs what it held, not the document: the header's copy on the line after it stands, and the saves after it wait aside", async () => {
    await saveThree();
    damageLine(0);
    const damage: string[] = [];
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem));
    expect(doc?.header).toEqual(first.header);
    expect(doc?.stranded).toEqual({ [alice.session]: [{ after: 2, transactions: slice(2, 3) }] });
    expect(damage).toEqual([`${first.id}: a save could not be read (damaged on the disk), and is left out; session ${alice.session}: transactions 2-2 follow transactions that could not be read, and are kept aside until the relay's copy of those fills the gap`]);
  });

  it("a document whose header lines were both damaged is left out, and loading tells onDamage so", async () => {
    await saveThree();
    damageLine(0);
    damageLine(1);
    const damage: string[] = [];
    expect(await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem))).toEqual([]);
    expect(damage).toEqual([`${first.id}: 2 saves could not be read (damaged on the disk), and are left out; its header could not be read, so the document and its 1 later saves are left out`]);
  });

  it("fsyncs every save unless told not to", async () => {
    expect(new FileLocalStore(directory).fsync).toBe(true);
    expect(new FileLocalStore(directory, { fsync: false }).fsync).toBe(false);
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    expect((await new FileLocalStore(directory).loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 2));
  });

  it("refuses, naming it, an option it does not know, an fsync that is not a boolean, and a document id that is not one (it would name a file outside the group)", async () => {
    expect(() => new FileLocalStore(directory, { fsnyc: false } as never)).toThrow(/FileLocalStore.*fsnyc/);
    expect(() => new FileLocalStore(directory, { fsync: "no" } as never)).toThrow("FileLocalStore: fsync must be true or false");
    expect(() => new FileLocalStore(directory, null as never)).toThrow(TypeError);
    expect(() => new FileLocalStore(undefined as never)).toThrow("FileLocalStore: the directory must be a path");
    // A file where the folder goes: said of the folder, fs's error as its cause.
    const file = join(directory, "a-file");
    writeFileSync(file, "not a folder");
    expect(() => new FileLocalStore(file)).toThrow(`FileLocalStore: the store folder ${file} cannot be made (a file is in its place, or in its path) (EEXIST)`);
    expect(() => new FileLocalStore(join(file, "inside"))).toThrow(`FileLocalStore: the store folder ${join(file, "inside")} cannot be made (a file is in its place, or in its path) (ENOTDIR)`);
    const store = new FileLocalStore(directory);
    const escaping = "../../escaped" as DocId;
    await expect(store.save(GROUP, escaping, { header: first.header, appends: [] })).rejects.toThrow(/is not a document id/);
    await expect(store.remove(GROUP, escaping)).rejects.toThrow(/is not a document id/);
    expect(readdirSync(join(directory, ".."))).not.toContain("escaped.jsonl");
  });

  it("keeps saves made after restarting from a torn line", async () => {
    await saveThree();
    tear();
    const restarted = new FileLocalStore(directory);
    expect((await restarted.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 3));
    await restarted.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 5) }] });
    expect((await new FileLocalStore(directory).loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 5));
  });

  it("loses no later save after a write torn at any byte, in one running store", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, first.id, { header: first.header, appends: [] });
    const record = `\n${JSON.stringify({ appends: [{ session: bob.session, after: 0, transactions: slice(0, 3) }] })}\n`;
    const many = transactions(record.length, "after-tear");
    for (let cut = 0; cut < record.length; cut++) {
      appendFileSync(docFile(GROUP, first.id), record.slice(0, cut)); // the write stopped after `cut` bytes
      await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: cut, transactions: many.slice(cut, cut + 1) }] });
    }
    const [doc] = await store.loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(many);
    // Only the last cut (all but the newline) left a whole record: it counts, no shorter prefix did.
    expect(doc?.sessions[bob.session]).toEqual(slice(0, 3));
  });

  it("keeps roles saved at once by two stores on one folder in one process (two clients), each save resolving, the last one kept", async () => {
    const [one, two] = [new FileLocalStore(directory, { fsync: false }), new FileLocalStore(directory, { fsync: false })];
    for (let round = 0; round < 50; round++) {
      await Promise.all([one.saveRole(GROUP, alice.agent, "writer"), two.saveRole(GROUP, alice.agent, "reader")]);
    }
    await two.saveRole(GROUP, alice.agent, "admin");
    expect(await one.loadRole(GROUP, alice.agent)).toBe("admin");
    expect(readdirSync(join(directory, encodeURIComponent(GROUP))).filter((name) => name.includes(".role."))).toEqual([]); // nothing left aside
  });

  it("keeps every save when two processes save into one document at the same time", { timeout: 30_000 }, async () => {
    const store = new FileLocalStore(directory);
    await store.save(GROUP, first.id, { header: first.header, appends: [] });
    const count = 300;
    const [a, b] = await Promise.all([alice, bob].map((who) => run(process.execPath, [CHILD, "save", directory, GROUP, first.id, who.session, String(count)], { timeout: 20_000 })));
    expect([a!.stdout, b!.stdout].map((out) => out.endsWith(`${count}\nsaved\n`))).toEqual([true, true]);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
    for (const who of [alice, bob]) {
      expect(doc?.sessions[who.session]?.map((transaction) => transaction.data)).toEqual(Array.from({ length: count }, (_, i) => `${who.session}-${i}`));
    }
  });

  it("leaves a session held by another live process alone, and takes it over once that process is killed", { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, [CHILD, "hold", directory, alice.agent], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const held = await new Promise<string>((resolve, reject) => {
        child.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
        child.once("exit", () => reject(new Error("the holding process exited")));
      });
      const store = new FileLocalStore(directory);
      const fresh = () => newSessionId(alice.agent);
      await expect(store.leaseSession(alice.agent, { fresh, wanted: held as SessionId })).rejects.toBeInstanceOf(SessionInUseError);
      const mine = await store.leaseSession(alice.agent, { fresh });
      expect(mine.session).not.toBe(held);
      await mine.release();

      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL"); // no chance to release: its lock file stays behind
      await exited;
      const taken = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
      expect(taken.session).toBe(held); // the oldest free session of the pool: the dead process's
      await taken.release();
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("hands six processes that start at once on a pool of two six different sessions", { timeout: 30_000 }, async () => {
    const store = new FileLocalStore(directory);
    const pooled = [await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) }), await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) })];
    for (const lease of pooled) await lease.release();
    const children = Array.from({ length: 6 }, () => spawn(process.execPath, [CHILD, "hold", directory, alice.agent], { stdio: ["ignore", "pipe", "inherit"] }));
    try {
      const sessions = await Promise.all(
        children.map((child) => new Promise<string>((resolve, reject) => {
          child.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
          child.once("exit", () => reject(new Error("a holding process exited")));
        })),
      );
      // Never may two keep one session; and of those racing for a pooled session, one gets it.
      expect(new Set(sessions).size).toBe(6);
      expect(sessions).toEqual(expect.arrayContaining(pooled.map((lease) => lease.session)));
    } finally {
      for (const child of children) child.kill("SIGKILL");
    }
  });

  describe("a claim that meets another live client's claim on the same session", () => {
    // A live claim of another realm of this process, named to sort before or after any claim of this realm.
    const ownStart = startTimeOf(process.pid);
    const claimOf = (session: SessionId, realm: string) => join(directory, "sessions", `${session}.lock.${process.pid}.${ownStart}.${realm}.1`);
    const SORTS_AFTER = "zzzzzzzz";
    const SORTS_FIRST = "00000000";

    async function pooledSession(store: FileLocalStore): Promise<SessionId> {
      const lease = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
      await lease.release();
      return lease.session;
    }

    it("waits for a racer whose name sorts after its own, and holds the session once the racer gives it up", async () => {
      const store = new FileLocalStore(directory);
      const pooled = await pooledSession(store);
      const racer = claimOf(pooled, SORTS_AFTER);
      writeFileSync(racer, "");
      let leased: SessionId | undefined;
      const leasing = store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) }).then((lease) => (leased = lease.session));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(leased).toBeUndefined(); // still waiting for the racer
      rmSync(racer);
      expect(await leasing).toBe(pooled); // not a fresh session
    });

    it("gives the session up to a racer whose name sorts first, or to one that holds it", async () => {
      const store = new FileLocalStore(directory);
      const pooled = await pooledSession(store);
      writeFileSync(claimOf(pooled, SORTS_FIRST), "");
      const first = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
      expect(first.session).not.toBe(pooled);
      rmSync(claimOf(pooled, SORTS_FIRST));

      writeFileSync(claimOf(pooled, SORTS_AFTER), "");
      writeFileSync(`${claimOf(pooled, SORTS_AFTER)}.held`, "");
      const second = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
      expect(second.session).not.toBe(pooled);
      expect(second.session).not.toBe(first.session);
      await Promise.all([first.release(), second.release()]);
    });

    it("deletes the claims of processes that are gone, and takes the session", async () => {
      const store = new FileLocalStore(directory);
      const pooled = await pooledSession(store);
      const gone = join(directory, "sessions", `${pooled}.lock.${process.pid}.1.${SORTS_FIRST}.1`); // our pid, another start: an earlier process
      writeFileSync(gone, "");
      writeFileSync(`${gone}.held`, "");
      const lease = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
      expect(lease.session).toBe(pooled);
      expect(readdirSync(join(directory, "sessions")).filter((name) => name.includes(`${pooled}.lock.${process.pid}.1.`))).toEqual([]);
      await lease.release();
      expect(readdirSync(join(directory, "sessions"))).toEqual([`${pooled}.session`]);
    });
  });

  it("leaves no lock file behind when a process exits without closing its client", { timeout: 30_000 }, async () => {
    const { stdout } = await run(process.execPath, [CHILD, "exit", directory, alice.agent], { timeout: 20_000 });
    const session = stdout.trim();
    expect(readdirSync(join(directory, "sessions"))).toEqual([`${session}.session`]);
  });

  it("reads a directory written before leases: its one session is leased first, its old-format lines load", async () => {
    writeFileSync(join(directory, "sessions.json"), JSON.stringify({ [alice.agent]: alice.session }));
    mkdirSync(join(directory, GROUP));
    const lines = [{ header: first.header }, { session: alice.session, after: 0, transactions: slice(0, 2) }, { session: alice.session, after: 2, transactions: slice(2, 3) }];
    writeFileSync(docFile(GROUP, first.id), lines.map((line) => `${JSON.stringify(line)}\n`).join(""));
    const store = new FileLocalStore(directory);
    const lease = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
    expect(lease.session).toBe(alice.session);
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 4) }] });
    expect(await new FileLocalStore(directory).loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    await lease.release();
  });

  it("writes a group named '..' inside its own folder", async () => {
    const root = join(directory, "store");
    const store = new FileLocalStore(root);
    const dotted = testHeader(alice, "..", "nonce-dots");
    await store.save("..", dotted.id, { header: dotted.header, appends: [] });
    expect(readdirSync(directory)).toEqual(["store"]);
    expect(await new FileLocalStore(join(directory, "sibling")).loadGroup("..")).toEqual([]);
  });
});

describe("IndexedDbLocalStore of a database written before leases", () => {
  it("leases the one session it kept per agent first", async () => {
    const factory = new IDBFactory();
    const locks = fakeWebLocks();
    const before = new IndexedDbLocalStore("weft-old", factory, locks);
    await before.loadGroup(GROUP); // creates the database
    await before.close();
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = factory.open("weft-old", 1);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const transaction = db.transaction("sessions", "readwrite");
    transaction.objectStore("sessions").put(alice.session, alice.agent); // the old layout: one id, not a list
    await new Promise((resolve) => (transaction.oncomplete = resolve));
    db.close();

    const store = new IndexedDbLocalStore("weft-old", factory, locks);
    const lease = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
    expect(lease.session).toBe(alice.session);
    const second = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
    expect(second.session).not.toBe(alice.session);
    await Promise.all([lease.release(), second.release()]);
    const again = await new IndexedDbLocalStore("weft-old", factory, locks).leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
    expect(again.session).toBe(alice.session); // the old session stays in the pool once it is a list
    await again.release();
    await store.close();
  });
});

describe("IndexedDbLocalStore without Web Locks (a page on plain http from another host than localhost)", () => {
  it("leases a fresh session every time, even when the pool has a free one: it cannot tell another tab's from a free one", async () => {
    const factory = new IDBFactory();
    const fresh = { fresh: () => newSessionId(alice.agent) };
    const tabA = new IndexedDbLocalStore("weft-no-locks", factory, undefined);
    const first = await tabA.leaseSession(alice.agent, fresh);
    // A second tab while the first still writes (in a browser it could not see the first's lease at all):
    const tabB = new IndexedDbLocalStore("weft-no-locks", factory, undefined);
    const second = await tabB.leaseSession(alice.agent, fresh);
    expect(second.session).not.toBe(first.session);
    // Free here, but another tab without Web Locks could be writing into it by now: not reused.
    await first.release();
    const third = await tabB.leaseSession(alice.agent, fresh);
    expect([first.session, second.session]).not.toContain(third.session);
    await Promise.all([second.release(), third.release(), tabA.close(), tabB.close()]);
  });
});

/** How many change records the IndexedDB database `name` holds. */
async function recordCount(factory: IDBFactory, name: string): Promise<number> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = factory.open(name, 1);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const count = await new Promise<number>((resolve) => {
    const request = db.transaction("changes").objectStore("changes").count();
    request.onsuccess = () => resolve(request.result);
  });
  db.close();
  return count;
}

describe("IndexedDbLocalStore and snapshots", () => {
  it("compacts a document when a snapshot is saved: one record holds the header, the snapshot and what follows", async () => {
    const factory = new IDBFactory();
    const store = new IndexedDbLocalStore("weft-compact", factory);
    const many = transactions(30, "kept");
    await store.save(GROUP, first.id, { header: first.header, appends: [] });
    for (let i = 0; i < 30; i += 3) await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: i, transactions: many.slice(i, i + 3) }] });
    await store.save(GROUP, second.id, { header: second.header, appends: [{ session: bob.session, after: 0, transactions: many.slice(0, 2) }] });
    const snapshot = { doc: first.id, session: alice.session, covers: { [alice.session]: 25 }, data: Uint8Array.of(1, 2), signature: "A".repeat(86) };
    await store.save(GROUP, first.id, { snapshot: { snapshot, bases: { [alice.session]: 25 }, baseHashes: { [alice.session]: "h" } }, appends: [] });
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = factory.open("weft-compact", 1);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const records = await new Promise<{ doc: DocId }[]>((resolve) => {
      const request = db.transaction("changes").objectStore("changes").getAll();
      request.onsuccess = () => resolve(request.result as { doc: DocId }[]);
    });
    db.close();
    expect(records.filter((record) => record.doc === first.id)).toHaveLength(1);
    expect(records.filter((record) => record.doc === second.id)).toHaveLength(1); // other documents untouched
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 30, transactions: transactions(1, "later") }] });
    const docs = await new IndexedDbLocalStore("weft-compact", factory).loadGroup(GROUP);
    const compacted = docs.find((doc) => doc.id === first.id)!;
    expect(compacted.header).toEqual(first.header);
    expect(compacted.sessions[alice.session]).toEqual([...many.slice(25), ...transactions(1, "later")]);
    expect(compacted.snapshot?.snapshot.data).toEqual(Uint8Array.of(1, 2));
    expect(docs.find((doc) => doc.id === second.id)?.sessions[bob.session]).toEqual(many.slice(0, 2));
    await store.close();
  });

  it("compacts a document never snapshotted every 1,000 saves: typed a keystroke at a time, each acknowledged, it keeps a few records, not two a keystroke", async () => {
    const factory = new IDBFactory();
    const store = new IndexedDbLocalStore("weft-typing", factory);
    const typed = transactions(1_500, "k");
    await store.save(GROUP, first.id, { header: first.header, appends: [] });
    for (const [i, transaction] of typed.entries()) {
      await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: i, transactions: [transaction] }] });
      await store.save(GROUP, first.id, { appends: [], relayHeld: { header: true, sessions: { [alice.session]: i + 1 } } });
    }
    expect(await recordCount(factory, "weft-typing")).toBeLessThan(1_000); // 3,001 saves
    const [doc] = await new IndexedDbLocalStore("weft-typing", factory).loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(typed);
    expect(doc?.relayHeld).toEqual({ header: true, sessions: { [alice.session]: 1_500 } });
    await store.close();
  });

  it("compacts a document of a page reloaded every 300 saves, once its records pass 1,000", async () => {
    const factory = new IDBFactory();
    const typed = transactions(750, "k");
    for (let reload = 0; reload < 5; reload++) {
      const page = new IndexedDbLocalStore("weft-reloaded", factory);
      await page.loadGroup(GROUP);
      if (reload === 0) await page.save(GROUP, first.id, { header: first.header, appends: [] });
      for (let i = reload * 150; i < (reload + 1) * 150; i++) {
        await page.save(GROUP, first.id, { appends: [{ session: alice.session, after: i, transactions: [typed[i]!] }] });
        await page.save(GROUP, first.id, { appends: [], relayHeld: { header: true, sessions: { [alice.session]: i + 1 } } });
      }
      await page.close();
    }
    expect(await recordCount(factory, "weft-reloaded")).toBeLessThan(1_000); // 1,501 saves
    const [doc] = await new IndexedDbLocalStore("weft-reloaded", factory).loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(typed);
  });
});
