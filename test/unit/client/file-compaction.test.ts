// FileLocalStore writes a document's file whole again (compaction), so the file grows with the document and
// not with every save ever made; and it never loses a save to it, with other processes on the folder.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { newSessionId, type SessionId } from "../../../protocol/index.ts";
import { FILE_COMPACTION_WAIT_MS, FILE_COMPACT_MIN_BYTES, UNSENT_FILE_MAX_BYTES } from "../../../protocol/limits.ts";
import { compactFile } from "../../../client/storage/file-compaction.ts";
import { fileSessionLocks, startTimeOf } from "../../../client/storage/file-session-locks.ts";
import { wholeLines } from "../../../client/storage/file-lines.ts";
import { FileLocalStore } from "../../../client/storage/file-store.ts";
import { testAgent, testHeader, transactions } from "../../support/identity.ts";
import { spawnLineProcess } from "../../support/line-process.ts";
import { sleep, until } from "../../support/wait.ts";
import { createClient, createIdentity } from "../../../client/index.ts";

/** How many compactions run at once in this process, the most that did, and how many wrote a file whole. */
const compacting = vi.hoisted(() => ({ now: 0, most: 0, delayMs: 0, written: 0 }));
vi.mock("../../../client/storage/file-compaction.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../client/storage/file-compaction.ts")>();
  return {
    ...original,
    compactFile: async (...args: Parameters<typeof original.compactFile>) => {
      compacting.most = Math.max(compacting.most, ++compacting.now);
      try {
        if (compacting.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, compacting.delayMs));
        const size = await original.compactFile(...args);
        if (size !== undefined) compacting.written++;
        return size;
      } finally {
        compacting.now--;
      }
    },
  };
});

const CHILD = fileURLToPath(new URL("./file-store-process.ts", import.meta.url));
const alice = testAgent(1, "alice-laptop");
const bob = testAgent(2, "bob-phone");
const GROUP = "team";
const { id: DOC, header } = testHeader(alice, GROUP, "nonce-first");

let directory: string;
const docFile = () => join(directory, encodeURIComponent(GROUP), `${DOC}.jsonl`);
const children: ChildProcess[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "weft-compaction-"));
});

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  rmSync(directory, { recursive: true, force: true });
});

/** Types `count` one-transaction writes as the SDK saves them: the write, then the relay's ack of it. */
async function type(store: FileLocalStore, from: number, count: number, text = "k"): Promise<void> {
  const typed = transactions(from + count, text).slice(from);
  for (const [i, transaction] of typed.entries()) {
    await store.save(GROUP, DOC, { appends: [{ session: alice.session, after: from + i, transactions: [transaction] }] });
    await store.save(GROUP, DOC, { appends: [], relayHeld: { header: true, sessions: { [alice.session]: from + i + 1 } } });
  }
}

/** The file an earlier version, which never compacted, wrote for `count` keystrokes, each acknowledged. */
function keystrokeSaves(docHeader: typeof header, count: number): string {
  const lines = [`\n${JSON.stringify({ header: docHeader, appends: [] })}\n`];
  for (const [i, transaction] of transactions(count, "k").entries()) {
    lines.push(`\n${JSON.stringify({ appends: [{ session: alice.session, after: i, transactions: [transaction] }] })}\n`);
    lines.push(`\n${JSON.stringify({ relayHeld: { header: true, sessions: { [alice.session]: i + 1 } }, appends: [] })}\n`);
  }
  return lines.join("");
}

/** Another process on the folder that holds a lease until it is killed; resolves with its session once it does. */
async function holdLease(): Promise<{ child: ChildProcess; session: string }> {
  const child = spawn(process.execPath, [CHILD, "hold", directory, bob.agent], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const session = await new Promise<string>((resolve, reject) => {
    child.stdout!.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once("exit", () => reject(new Error("the holding process exited")));
  });
  return { child, session };
}

const killed = async (child: ChildProcess): Promise<void> => {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
};

describe("FileLocalStore compaction", () => {
  it("keeps the file of a document typed one character at a time, every write acknowledged, under 100 bytes a keystroke, and loads every write", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    await type(store, 0, 4_000);
    await store.close();
    // Each keystroke appends two lines (its write, then the ack) of about 250 bytes between them.
    expect(statSync(docFile()).size / 4_000).toBeLessThan(100);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(transactions(4_000, "k"));
    expect(doc?.relayHeld).toEqual({ header: true, sessions: { [alice.session]: 4_000 } });
  });

  it("writes a small document's file whole too: 100 keystrokes, each acknowledged, take under 150 bytes each, not 255", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    await type(store, 0, 100);
    await store.close();
    expect(statSync(docFile()).size / 100).toBeLessThan(150);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(transactions(100, "k"));
  });

  it("drops from the disk what a snapshot replaced, once the file is big enough to be worth it; a restart loads the snapshot and what follows", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    const written = transactions(2_000, "x".repeat(60));
    await store.save(GROUP, DOC, { header, appends: [{ session: alice.session, after: 0, transactions: written.slice(0, 1_990) }] });
    const before = statSync(docFile()).size;
    expect(before).toBeGreaterThan(FILE_COMPACT_MIN_BYTES);
    const snapshot = { doc: DOC, session: alice.session, covers: { [alice.session]: 1_990 }, data: "the state", signature: "A".repeat(86) };
    await store.save(GROUP, DOC, { snapshot: { snapshot, bases: { [alice.session]: 1_990 }, baseHashes: { [alice.session]: "hash-at-1990" } }, appends: [{ session: alice.session, after: 1_990, transactions: written.slice(1_990) }] });
    await store.close();
    expect(statSync(docFile()).size).toBeLessThan(4 * 1024);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
    expect(doc?.snapshot?.snapshot.data).toBe("the state");
    expect(doc?.snapshot?.bases).toEqual({ [alice.session]: 1_990 });
    expect(doc?.sessions[alice.session]).toEqual(written.slice(1_990));
  });

  it("writes whole at a load a file that holds twice what its document needs (written by an earlier version, or while shared)", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] }); // makes the group's folder and the file
    writeFileSync(docFile(), keystrokeSaves(header, 1_500));
    const before = statSync(docFile()).size;
    const [loaded] = await store.loadGroup(GROUP);
    await store.close(); // the compaction the load started has ended
    expect(statSync(docFile()).size).toBeLessThan(before / 3);
    const [again] = await new FileLocalStore(directory).loadGroup(GROUP);
    expect(again).toEqual(loaded);
    expect(again?.sessions[alice.session]).toHaveLength(1_500);
  });

  it("writes the files of a group whole one at a time, each holding a whole file in memory", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    const docs = Array.from({ length: 20 }, (_, i) => testHeader(alice, GROUP, `nonce-${i}`));
    for (const doc of docs) await store.save(GROUP, doc.id, { header: doc.header, appends: [] });
    const path = (id: string) => join(directory, encodeURIComponent(GROUP), `${id}.jsonl`);
    for (const doc of docs) writeFileSync(path(doc.id), keystrokeSaves(doc.header, 600));
    const before = statSync(path(docs[0]!.id)).size;
    compacting.most = 0;
    await store.loadGroup(GROUP);
    await store.close();
    expect(compacting.most).toBe(1);
    for (const doc of docs) expect(statSync(path(doc.id)).size).toBeLessThan(before / 3);
  });

  it("writes a file whole while other processes hold leases on the folder and save into the same document, and loses none of their saves", { timeout: 60_000 }, async () => {
    await holdLease();
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    const written = compacting.written;
    // Another process saves into the document meanwhile, with its own store (which compacts the file too).
    const count = 600;
    const child = spawn(process.execPath, [CHILD, "save", directory, GROUP, DOC, bob.session, String(count)], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    await type(store, 0, 3_000);
    await exited;
    await store.close();
    // This process wrote it whole at least once (not told by the file's inode: a file written whole later
    // may be given the number the first one freed).
    expect(compacting.written).toBeGreaterThan(written);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP, (problem) => expect.fail(problem));
    expect(doc?.sessions[alice.session]).toEqual(transactions(3_000, "k"));
    expect(doc?.sessions[bob.session]?.map((transaction) => transaction.data)).toEqual(Array.from({ length: count }, (_, i) => `${bob.session}-${i}`));
    // What it held when last written whole, and what each process appended since (each writes it whole
    // again once that is more than it held, or FILE_COMPACT_MIN_BYTES): not every save ever made.
    expect(statSync(docFile()).size).toBeLessThan(3 * Buffer.byteLength(wholeLines(doc!)) + 2 * FILE_COMPACT_MIN_BYTES);
  });

  it("a load beside three processes that save into one document and write its file whole never misses a save that has resolved, nor tells damage", { timeout: 60_000 }, async () => {
    await new FileLocalStore(directory, { fsync: false }).save(GROUP, DOC, { header, appends: [] });
    const count = 1_000;
    const sessions = [1, 2, 3].map((n) => newSessionId(testAgent(10 + n, `writer-${n}`).agent));
    const writers = sessions.map((session) => spawnLineProcess(CHILD, ["save", directory, GROUP, DOC, session, String(count)], children));
    /** How many saves each writer has said resolved: its last line that is a count. */
    const resolved = () => writers.map((writer) => Number(writer.lines().findLast((line) => /^\d+$/.test(line)) ?? 0));
    let done = false;
    void Promise.all(writers.map(({ child }) => new Promise((resolve) => child.once("exit", resolve)))).then(() => (done = true));
    const reader = new FileLocalStore(directory, { fsync: false });
    const damage: string[] = [];
    const missed: string[] = [];
    let loads = 0;
    while (!done) {
      await new Promise((resolve) => setImmediate(resolve));
      const before = resolved();
      const [doc] = await reader.loadGroup(GROUP, (problem) => damage.push(problem));
      loads++;
      sessions.forEach((session, i) => {
        const held = doc?.sessions[session]?.length ?? 0;
        if (held < before[i]!) missed.push(`${session}: ${held} of the ${before[i]} resolved`);
      });
    }
    await reader.close();
    expect(loads).toBeGreaterThan(10);
    expect(missed).toEqual([]);
    expect(damage).toEqual([]);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
    for (const session of sessions) expect(doc?.sessions[session]?.map((transaction) => transaction.data)).toEqual(Array.from({ length: count }, (_, i) => `${session}-${i}`));
  });

  describe("a save that lands while another store writes its file whole", () => {
    const typed = transactions(11, "k");
    const saveLast = (store: FileLocalStore) => store.save(GROUP, DOC, { appends: [{ session: alice.session, after: 10, transactions: typed.slice(10) }] });

    /** Runs `compaction` under another store's marker once the save has landed in the file; resolves with the save, and whether it had resolved before the compaction ended. */
    async function saveDuring(compaction: (before: Buffer) => Promise<void>): Promise<{ early: boolean; store: FileLocalStore }> {
      const store = new FileLocalStore(directory, { fsync: false });
      await store.save(GROUP, DOC, { header, appends: [] });
      await type(store, 0, 10);
      let resolved = false;
      let saving: Promise<void> | undefined;
      let early = true;
      await fileSessionLocks(directory).whileRewriting(docFile(), async () => {
        const before = readFileSync(docFile());
        saving = saveLast(store).then(() => void (resolved = true));
        await until(() => statSync(docFile()).size > before.length); // written to the file being compacted
        await sleep(100);
        await compaction(before);
        early = resolved;
      });
      await saving;
      return { early, store };
    }

    it("resolves once the compaction has ended, and the file by its name holds it", async () => {
      const { early, store } = await saveDuring(async () => void (await compactFile(docFile(), DOC, false)));
      expect(early).toBe(false);
      const [doc] = await new FileLocalStore(directory).loadGroup(GROUP); // another store, as soon as it resolved
      expect(doc?.sessions[alice.session]).toEqual(typed);
      await store.close();
    });

    it("is written again where the compaction ended without copying it (its process died after renaming its file into place)", async () => {
      const { early, store } = await saveDuring(async (before) => {
        // What the compaction read, renamed over the file that holds the save since: the copy never came.
        writeFileSync(`${docFile()}.whole`, before);
        renameSync(`${docFile()}.whole`, docFile());
      });
      expect(early).toBe(false);
      const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
      expect(doc?.sessions[alice.session]).toEqual(typed);
      await store.close();
    });
  });

  it("a document removed while another store writes its file whole stays removed", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    await type(store, 0, 10);
    let removing: Promise<void> | undefined;
    let early = true;
    await fileSessionLocks(directory).whileRewriting(docFile(), async () => {
      const before = readFileSync(docFile());
      let removed = false;
      removing = store.remove(GROUP, DOC).then(() => void (removed = true));
      await until(() => !existsSync(docFile()));
      // The compaction, having looked before the removal, renames its file into place.
      writeFileSync(`${docFile()}.whole`, before);
      renameSync(`${docFile()}.whole`, docFile());
      await sleep(100);
      early = removed;
    });
    await removing;
    expect(early).toBe(false);
    expect(existsSync(docFile())).toBe(false);
    expect(await new FileLocalStore(directory).loadGroup(GROUP)).toEqual([]);
    await store.close();
  });

  it("a save waits for no marker older than a compaction takes, though its store seems alive (a worker thread terminated mid-way)", { timeout: 30_000 }, async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    // Another realm of this process: held for as long as the process lives.
    const marker = join(directory, "sessions", "rewriting", `${process.pid}.${startTimeOf(process.pid)}.thread.1`);
    mkdirSync(join(directory, "sessions", "rewriting"), { recursive: true });
    writeFileSync(marker, join(GROUP, `${DOC}.jsonl`)); // the file, named in the store folder
    let saved = false;
    const saving = type(store, 0, 1).then(() => void (saved = true));
    await sleep(200);
    expect(saved).toBe(false);
    const past = (Date.now() - FILE_COMPACTION_WAIT_MS - 1_000) / 1_000;
    utimesSync(marker, past, past);
    await saving;
    const started = performance.now();
    await type(store, 1, 5);
    expect(performance.now() - started).toBeLessThan(FILE_COMPACTION_WAIT_MS / 2);
    await store.close();
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toEqual(transactions(6, "k"));
  });

  it("a store that reaches the folder through a link waits for a rewrite by one that names it by its own path", async () => {
    const link = `${directory}-link`;
    symlinkSync(directory, link);
    onTestFinished(() => rmSync(link, { force: true }));
    const store = new FileLocalStore(link, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    let saved = false;
    let saving: Promise<void> | undefined;
    await fileSessionLocks(directory).whileRewriting(docFile(), async () => {
      saving = store.save(GROUP, DOC, { appends: [{ session: alice.session, after: 0, transactions: transactions(1, "k") }] }).then(() => void (saved = true));
      await sleep(100);
      expect(saved).toBe(false);
    });
    await saving;
    await store.close();
  });

  it("a save waits only for the rewrites under way as it lands, so a stream of them never holds it up", { timeout: 20_000 }, async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    const [first, next] = [fileSessionLocks(directory), fileSessionLocks(directory)];
    let saved = false;
    let saving: Promise<void> | undefined;
    await first.whileRewriting(docFile(), async () => {
      saving = store.save(GROUP, DOC, { appends: [{ session: alice.session, after: 0, transactions: transactions(1, "k") }] }).then(() => void (saved = true));
      await sleep(100);
      expect(saved).toBe(false); // it waits for the rewrite under way
    });
    // The next rewrite begins at once, before the waiting save looks again; it ends only once the save has.
    const ran = await next.whileRewriting(docFile(), async () => {
      await saving;
      return true;
    });
    expect(ran).toBe(true);
    expect(saved).toBe(true);
    await store.close();
  });

  it("never has two stores write one file whole at once", async () => {
    const [one, other] = [fileSessionLocks(directory), fileSessionLocks(directory)];
    const ran: string[] = [];
    await one.whileRewriting(docFile(), async () => {
      expect(await other.whileRewriting(docFile(), async () => void ran.push("same file"))).toBeUndefined();
      await other.whileRewriting(`${docFile()}-other`, async () => void ran.push("another file"));
    });
    await other.whileRewriting(docFile(), async () => void ran.push("same file, after"));
    expect(ran).toEqual(["another file", "same file, after"]);
  });

  it("keeps every save another store on the folder makes without a lease while the file is written whole again and again", { timeout: 60_000 }, async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [{ session: alice.session, after: 0, transactions: transactions(1_000, "y".repeat(80)) }] });
    const count = 400;
    const child = spawn(process.execPath, [CHILD, "save", directory, GROUP, DOC, bob.session, String(count)], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    let saved = false;
    child.stdout!.on("data", (chunk: Buffer) => (saved ||= chunk.toString().includes("saved")));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    let compactions = 0;
    while (!saved) {
      if ((await compactFile(docFile(), DOC, false)) !== undefined) compactions++;
    }
    await exited;
    expect(compactions).toBeGreaterThan(10);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP, (problem) => expect.fail(problem));
    expect(doc?.sessions[bob.session]?.map((transaction) => transaction.data)).toEqual(Array.from({ length: count }, (_, i) => `${bob.session}-${i}`));
    expect(doc?.sessions[alice.session]).toHaveLength(1_000);
  });

  it("a process killed while it writes the file whole leaves the document as it was, whenever it dies", { timeout: 60_000 }, async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    for (let i = 0; i < 4; i++) await store.save(GROUP, DOC, { appends: [{ session: alice.session, after: i * 500, transactions: transactions(2_000, "z".repeat(40)).slice(i * 500, (i + 1) * 500) }] });
    await store.close();
    const [before] = await new FileLocalStore(directory).loadGroup(GROUP);
    for (const lifetime of [15, 40, 80, 120, 200]) {
      const child = spawn(process.execPath, [CHILD, "compact", directory, GROUP, DOC], { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child);
      await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
      await sleep(lifetime * Math.random());
      await killed(child);
      const damage: string[] = [];
      const [after] = await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem));
      expect(damage).toEqual([]);
      expect(after).toEqual(before);
    }
  });

  it("client.close() resolves once the compaction its saves began has ended, so an app exiting then leaves nothing aside", async () => {
    compacting.delayMs = 300;
    onTestFinished(() => void (compacting.delayMs = 0));
    const client = await createClient({ url: "http://127.0.0.1:9", identity: createIdentity(), store: new FileLocalStore(directory, { fsync: false }) });
    const doc = client.group(GROUP).create();
    doc.append("first");
    await until(() => existsSync(join(directory, GROUP)) && readdirSync(join(directory, GROUP)).length > 0);
    for (let i = 0; i < 100; i++) doc.append("x".repeat(1_000));
    await until(() => compacting.now > 0, 10_000);
    await client.close();
    expect(compacting.now).toBe(0);
    expect(readdirSync(join(directory, GROUP)).filter((name) => name.includes(".compact"))).toEqual([]);
  });

  it("starts unsent.jsonl again once it holds 64 KiB, and a client listening on the store hears every announcement across it", { timeout: 30_000 }, async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    const heard: string[] = [];
    const stop = store.onUnsent!((_group, docs) => heard.push(...docs));
    for (let i = 0; i < 1_500; i++) await store.announceUnsent!(GROUP, [DOC]);
    await until(() => heard.length === 1_500, 10_000);
    stop();
    await store.close();
    expect(statSync(join(directory, "unsent.jsonl")).size).toBeLessThanOrEqual(UNSENT_FILE_MAX_BYTES + 200);
  });

  it("keeps unsent.jsonl growing while another process, which may be listening, holds a lease on the folder", { timeout: 30_000 }, async () => {
    await holdLease();
    const store = new FileLocalStore(directory, { fsync: false });
    for (let i = 0; i < 1_500; i++) await store.announceUnsent!(GROUP, [DOC]);
    await store.close();
    expect(statSync(join(directory, "unsent.jsonl")).size).toBeGreaterThan(1_500 * 50);
  });

  it("removes what a compaction cut short by a crash left aside", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    const aside = `${docFile()}.0f8e2c1a-crashed.compact`;
    writeFileSync(aside, "half a file");
    await type(store, 0, 1_500);
    await store.close();
    expect(existsSync(aside)).toBe(false);
    const [doc] = await new FileLocalStore(directory).loadGroup(GROUP);
    expect(doc?.sessions[alice.session]).toHaveLength(1_500);
  });

  it("leaves a damaged file as it is, so what it lost is told at every load", async () => {
    const store = new FileLocalStore(directory, { fsync: false });
    await store.save(GROUP, DOC, { header, appends: [] });
    await type(store, 0, 10);
    appendFileSync(docFile(), "\n{\"appends\":[garbled]}\n");
    await type(store, 10, 1_500);
    await store.close();
    for (let load = 0; load < 2; load++) {
      const damage: string[] = [];
      const [doc] = await new FileLocalStore(directory).loadGroup(GROUP, (problem) => damage.push(problem));
      expect(damage).toEqual([`${DOC}: a save could not be read (damaged on the disk), and is left out`]);
      expect(doc?.sessions[alice.session]).toEqual(transactions(1_510, "k"));
    }
    expect(readFileSync(docFile(), "utf8")).toContain("garbled");
  });

  describe("a lease taken while another process writes a file whole", () => {
    /** A compaction marker as a store in another process leaves it while it works. */
    const marker = (pid: number): string => join(directory, "sessions", `compacting.${pid}.${startTimeOf(pid)}.other.1`);

    it("waits for it to end, then resolves", { timeout: 30_000 }, async () => {
      const { child } = await holdLease();
      const path = marker(child.pid!);
      writeFileSync(path, "");
      const store = new FileLocalStore(directory);
      let leased: SessionId | undefined;
      const lease = store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) }).then((held) => {
        leased = held.session;
        return held;
      });
      await sleep(300);
      expect(leased).toBeUndefined();
      rmSync(path);
      expect((await lease).session).toMatch(new RegExp(`^${alice.agent}~`));
      await (await lease).release();
    });

    it("does not wait for one whose process is gone", { timeout: 30_000 }, async () => {
      const { child } = await holdLease();
      const pid = child.pid!;
      await killed(child);
      writeFileSync(marker(pid), "");
      const store = new FileLocalStore(directory);
      const started = performance.now();
      const lease = await store.leaseSession(alice.agent, { fresh: () => newSessionId(alice.agent) });
      expect(performance.now() - started).toBeLessThan(1_000);
      await lease.release();
    });
  });
});
