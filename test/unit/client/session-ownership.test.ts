// Session ownership (issue 9, item 1): two clients sharing one local store used to load the same session id
// from it and write into one session log, so the relay kept one branch and the other's writes were lost.
// Each live client now leases a session no other live client holds; a closed client's session is reused.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IDBFactory } from "fake-indexeddb";
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity, IndexedDbLocalStore, MemoryLocalStore, SessionInUseError, type Client, type LocalStore } from "../../../client/index.ts";
import { fakeWebLocks } from "../../support/web-locks.ts";
import { FileLocalStore } from "../../../client/node.ts";

// Nothing listens here: the clients work offline, which is all these tests need of a relay.
const NOWHERE = "http://127.0.0.1:9";
const OFFLINE = { url: NOWHERE, backoff: { baseMs: 60_000, capMs: 60_000 } };
const directories: string[] = [];
const clients: Client[] = [];

const setups: { name: string; store: () => LocalStore }[] = [
  { name: "MemoryLocalStore", store: () => new MemoryLocalStore() },
  {
    name: "FileLocalStore",
    store: () => {
      const directory = mkdtempSync(join(tmpdir(), "weft-sessions-"));
      directories.push(directory);
      return new FileLocalStore(directory, { fsync: false });
    },
  },
  { name: "IndexedDbLocalStore", store: () => new IndexedDbLocalStore("weft-sessions", new IDBFactory(), fakeWebLocks()) },
];

async function start(options: Parameters<typeof createClient>[0]): Promise<Client> {
  const client = await createClient(options);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe.each(setups)("two clients of one identity on one $name", ({ store: makeStore }) => {
  it("write into two different sessions, not the one saved in the store", async () => {
    const identity = createIdentity();
    const store = makeStore();
    const first = await start({ ...OFFLINE, identity, store });
    const second = await start({ ...OFFLINE, identity, store });
    expect(second.session).not.toBe(first.session);

    // Both append to one document; the store keeps each client's writes in its own session, nothing mixed.
    const doc = first.group("g").create();
    doc.append("from-first");
    const same = await second.group("g").open(doc.id);
    same.append("from-second");
    await Promise.all([first.close(), second.close()]);
    const [stored] = await store.loadGroup("g");
    expect(stored?.sessions).toEqual({
      [first.session]: [expect.objectContaining({ data: "from-first" })],
      [second.session]: [expect.objectContaining({ data: "from-second" })],
    });
  });

  it("reuses a closed client's session, with its unsent writes, instead of making a new one", async () => {
    const identity = createIdentity();
    const store = makeStore();
    const first = await start({ ...OFFLINE, identity, store });
    const doc = first.group("g").create();
    doc.append("unsent");
    await first.close(); // right after the append: the save under way finishes before the session is given up

    const next = await start({ ...OFFLINE, identity, store });
    expect(next.session).toBe(first.session);
    const reopened = await next.group("g").open(doc.id);
    expect(reopened.sessionTransactions(next.session).map((transaction) => transaction.data)).toEqual(["unsent"]);
    expect(reopened.hasUnsynced).toBe(true); // it will push them as its own
  });

  it("refuses a session passed by name while another live client writes into it", async () => {
    const identity = createIdentity();
    const store = makeStore();
    const first = await start({ ...OFFLINE, identity, store });
    await expect(createClient({ ...OFFLINE, identity, store, session: first.session })).rejects.toBeInstanceOf(SessionInUseError);
    await first.close();
    const named = await start({ ...OFFLINE, identity, store, session: first.session });
    expect(named.session).toBe(first.session);
  });
});
