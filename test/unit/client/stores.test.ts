// One contract, three local stores: what the SDK saves on a device comes back the same, in order, without
// duplicates or holes, per group, and (for the durable stores) after a restart of the app.
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IDBFactory } from "fake-indexeddb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DocHeader, DocId, Transaction } from "../../../protocol/index.ts";
import { FileLocalStore } from "../../../client/storage/file-store.ts";
import { IndexedDbLocalStore } from "../../../client/storage/indexeddb-store.ts";
import type { LocalStore, StoredDoc } from "../../../client/storage/local-store.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { testAgent, testHeader, transactions } from "../../support/identity.ts";

const alice = testAgent(1, "alice-laptop");
const bob = testAgent(2, "bob-phone");
const GROUP = "team";
const OTHER_GROUP = "family";
const first = testHeader(alice, GROUP, "nonce-first");
const second = testHeader(bob, OTHER_GROUP, "nonce-second");
const txs = transactions(8, "edit");
const slice = (from: number, to: number): Transaction[] => txs.slice(from, to);

type Backend = { open: () => LocalStore; dispose: () => void };

const backends: { name: string; survivesRestart: boolean; create: () => Backend }[] = [
  { name: "MemoryLocalStore", survivesRestart: false, create: () => ({ open: () => new MemoryLocalStore(), dispose: () => {} }) },
  {
    name: "FileLocalStore",
    survivesRestart: true,
    create: () => {
      const directory = mkdtempSync(join(tmpdir(), "weft-file-store-"));
      return { open: () => new FileLocalStore(directory), dispose: () => rmSync(directory, { recursive: true, force: true }) };
    },
  },
  {
    name: "IndexedDbLocalStore",
    survivesRestart: true,
    create: () => {
      const factory = new IDBFactory(); // a fresh, empty IndexedDB for every test
      return { open: () => new IndexedDbLocalStore("weft-test", factory), dispose: () => {} };
    },
  },
];

const stored = (id: DocId, header: DocHeader, sessions: StoredDoc["sessions"]): StoredDoc => ({ id, header, sessions });

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

  it("keeps one session id per agent", async () => {
    expect(await store.loadSession(alice.agent)).toBeUndefined();
    await store.saveSession(alice.agent, alice.session);
    await store.saveSession(bob.agent, bob.session);
    expect(await store.loadSession(alice.agent)).toBe(alice.session);
    expect(await store.loadSession(bob.agent)).toBe(bob.session);
    const replacement = testAgent(1, "alice-new").session;
    await store.saveSession(alice.agent, replacement);
    expect(await store.loadSession(alice.agent)).toBe(replacement);
    expect(await store.loadSession(bob.agent)).toBe(bob.session);
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

  it("never stores an append that would leave a gap", async () => {
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 5, transactions: slice(5, 7) }] });
    expect((await store.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 2));
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 2, transactions: slice(2, 3) }] });
    expect((await store.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 3));
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
    await store.saveSession(alice.agent, alice.session);
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 3) }] });
    await store.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 4) }] });
    await store.close();
    const restarted = open();
    expect(await restarted.loadSession(alice.agent)).toBe(alice.session);
    expect(await restarted.loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 4) })]);
    await restarted.save(GROUP, first.id, { appends: [{ session: alice.session, after: 4, transactions: slice(4, 6) }] });
    expect((await open().loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 6));
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

  it("ignores a torn last line and loads everything before it", async () => {
    await saveThree();
    tear();
    expect(await new FileLocalStore(directory).loadGroup(GROUP)).toEqual([stored(first.id, first.header, { [alice.session]: slice(0, 3) })]);
  });

  it("saves with fsync on as well", async () => {
    const store = new FileLocalStore(directory, { fsync: true });
    await store.save(GROUP, first.id, { header: first.header, appends: [{ session: alice.session, after: 0, transactions: slice(0, 2) }] });
    expect((await new FileLocalStore(directory).loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 2));
  });

  it("keeps saves made after restarting from a torn line", async () => {
    await saveThree();
    tear();
    const restarted = new FileLocalStore(directory);
    expect((await restarted.loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 3));
    await restarted.save(GROUP, first.id, { appends: [{ session: alice.session, after: 3, transactions: slice(3, 5) }] });
    expect((await new FileLocalStore(directory).loadGroup(GROUP))[0]?.sessions[alice.session]).toEqual(slice(0, 5));
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
