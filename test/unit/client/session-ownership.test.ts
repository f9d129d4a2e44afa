// Session ownership (issue 9, item 1): two clients sharing one local store used to load the same session id
// from it and write into one session log, so the relay kept one branch and the other's writes were lost.
// Each live client now leases a session no other live client holds; a closed client's session is reused.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
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

describe("a FileLocalStore whose folder cannot be written", () => {
  const folder = (): string => {
    const directory = mkdtempSync(join(tmpdir(), "weft-unwritable-"));
    directories.push(directory);
    return directory;
  };

  async function leaseFailure(directory: string): Promise<Error> {
    const failure = await createClient({ ...OFFLINE, identity: createIdentity(), store: new FileLocalStore(directory, { fsync: false }) }).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (!(failure instanceof Error)) throw new Error("createClient did not reject");
    return failure;
  }

  const expectUnwritable = (failure: Error, directory: string, code: string) => {
    expect(failure.message).toBe(`FileLocalStore: the store folder ${directory} cannot be written (${code}), so no session can be leased in it`);
    expect((failure.cause as NodeJS.ErrnoException).code).toBe(code);
  };

  // A file where the sessions folder goes: this fails for root too, which a folder's permissions do not.
  it("rejects createClient with an error that names the store folder, not a lock file, and keeps the cause", async () => {
    const directory = folder();
    writeFileSync(join(directory, "sessions"), "");
    expectUnwritable(await leaseFailure(directory), directory, "ENOTDIR");
  });

  it("says the same of a folder without write permission", async ({ skip }) => {
    const directory = folder();
    chmodSync(directory, 0o555);
    let writable = true;
    try {
      writeFileSync(join(directory, "probe"), "");
    } catch {
      writable = false;
    }
    if (writable) skip("this user writes where permissions say no (root)");
    try {
      expectUnwritable(await leaseFailure(directory), directory, "EACCES");
    } finally {
      chmodSync(directory, 0o755);
    }
  });
});

/** Runs `body` as an ES module in a Node process of its own (for what a test process must not do, or may never return from); its stdout. */
function inOwnProcess(body: string): { stdout: string; status: number | null; signal: NodeJS.Signals | null } {
  const client = new URL("../../../client/index.ts", import.meta.url).href;
  const node = new URL("../../../client/node.ts", import.meta.url).href;
  const script = `import { createClient, createIdentity } from ${JSON.stringify(client)};\nimport { FileLocalStore } from ${JSON.stringify(node)};\n${body}`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 15_000, killSignal: "SIGKILL" });
  return { stdout: run.stdout, status: run.status, signal: run.signal };
}

describe("a FileLocalStore given an odd folder", () => {
  // Node's recursive mkdir loops for ever where the parent refuses children with ENOENT: the app's event
  // loop never ran again, so no timer, promise or signal handler could stop it.
  it("in /proc (no folder can be made in it), rejects createClient naming the folder instead of spinning for ever", ({ skip }) => {
    if (!existsSync("/proc/self")) skip("no /proc here");
    const run = inOwnProcess(`
      const store = new FileLocalStore("/proc", { fsync: false });
      await createClient({ url: "${NOWHERE}", identity: createIdentity(), store }).then(
        () => console.log("created"),
        (error) => console.log(error.message),
      );
    `);
    expect(run.signal).toBeNull();
    expect(run.stdout.trim()).toMatch(/^FileLocalStore: the store folder \/proc cannot be written \(ENOENT\), so no session can be leased in it$/);
  });

  it("as a relative path, keeps one store after the app changes its working directory", () => {
    const base = mkdtempSync(join(tmpdir(), "weft-relative-"));
    directories.push(base);
    mkdirSync(join(base, "first"));
    mkdirSync(join(base, "second"));
    const run = inOwnProcess(`
      process.chdir(${JSON.stringify(join(base, "first"))});
      const store = new FileLocalStore("./store", { fsync: false });
      const client = await createClient({ url: "${NOWHERE}", identity: createIdentity(), store, backoff: { baseMs: 60000 } });
      process.chdir(${JSON.stringify(join(base, "second"))});
      const doc = client.group("g").create();
      doc.append("saved while offline");
      await client.close();
      console.log(store.directory);
    `);
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(join(base, "first", "store"));
    expect(existsSync(join(base, "second", "store"))).toBe(false);
    // The document and the session lease are both in the first folder, the lease let go at close.
    expect(readdirSync(join(base, "first", "store", "g")).filter((name) => name.endsWith(".jsonl"))).toHaveLength(1);
    expect(readdirSync(join(base, "first", "store", "sessions")).filter((name) => name.endsWith(".held"))).toEqual([]);
  });
});
