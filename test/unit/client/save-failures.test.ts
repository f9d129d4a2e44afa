// A save that fails (a full disk for a moment) is not the end of what it held: the app hears of it once,
// the save is tried again after a wait, and once it succeeds the writes are pushed and synced() settles.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, vi } from "vitest";
import { SAVE_RETRY } from "../../../client/push-pump.ts";
import type { DocChanges, SaveResult, StoredDoc } from "../../../client/storage/local-store.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { FileLocalStore } from "../../../client/storage/file-store.ts";
import type { DocId } from "../../../protocol/index.ts";
import { ClosedError, LocalStoreError, RelayError } from "../../../client/errors.ts";
import type { Group } from "../../../client/group.ts";
import type { Client } from "../../../client/client.ts";
import { until } from "../../support/wait.ts";
import { CUT_OFF_URL, harnessPerTest, statusOf } from "./group-harness.ts";

const setup = harnessPerTest();
const run = promisify(execFile);

/** A memory store whose next `failures` saves fail as a full disk would. */
class FlakyStore extends MemoryLocalStore {
  failures = 0;
  /** Saves tried that carry writes (not those telling only what the relay holds, saved as acks come). */
  attempts = 0;
  override async save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
    if (changes.header || changes.snapshot || changes.appends.length > 0) this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error("ENOSPC: no space left on device, write");
    }
    return super.save(group, doc, changes);
  }
}

/** A client of the harness on `store`, its group live, and what its onError hears (the messages in `errors`). */
async function liveOn(client: ReturnType<typeof setup>["client"], store: FlakyStore) {
  const created = await client({ store });
  const group = created.group("g1");
  const heard: Error[] = [];
  const errors: string[] = [];
  group.onError((error) => {
    heard.push(error);
    errors.push(error.message);
  });
  await statusOf(group, "live");
  return { client: created, group, errors, heard };
}

describe("a local save that fails", () => {
  it("is tried again until it succeeds: the writes reach the relay and synced() settles, the app told once", async () => {
    const { client } = setup();
    const store = new FlakyStore();
    const { client: alice, group, errors, heard } = await liveOn(client, store);
    const doc = group.create();
    doc.append("first");
    await doc.synced();

    store.failures = 3;
    const attemptsBefore = store.attempts;
    doc.append("second");
    const started = performance.now();
    await doc.synced({ signal: AbortSignal.timeout(10_000) });
    // Three failures, then a save that held: waits of 250, 500 and 1,000 ms between them.
    expect(store.attempts - attemptsBefore).toBe(4);
    expect(performance.now() - started).toBeGreaterThanOrEqual(SAVE_RETRY.firstMs * 7 - 20);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^internal: saving doc_\S+ locally failed: ENOSPC: no space left on device, write; trying again$/);
    // Told apart from the relay's own failures by its class; still a RelayError with code internal.
    expect(heard[0]).toBeInstanceOf(LocalStoreError);
    expect(heard[0]).toBeInstanceOf(RelayError);
    expect(heard[0]).toMatchObject({ name: "LocalStoreError", code: "internal", doc: doc.id });
    expect(doc.relayKnown.sessions[alice.session]).toBe(2);
    const stored = (await store.loadGroup("g1"))[0]?.sessions[alice.session]?.map((transaction) => transaction.data);
    expect(stored).toEqual(["first", "second"]);
  });

  it("is tried once more when the client closes, before the session is given up: saved if it holds, told as final if not", async () => {
    const { client } = setup();
    const store = new FlakyStore();
    const { client: alice, group, errors } = await liveOn(client, store);
    const doc = group.create();
    store.failures = 1;
    doc.append("saved at close");
    await new Promise((resolve) => setTimeout(resolve, 20)); // the save failed, its retry waits
    expect(errors).toHaveLength(1);
    await alice.close();
    // The closed client's session is free again, and what it appended is in the store.
    const stored = (await store.loadGroup("g1")).find((saved) => saved.id === doc.id);
    expect(stored?.sessions[alice.session]?.map((transaction) => transaction.data)).toEqual(["saved at close"]);

    const { client: bob, group: bobs, errors: bobErrors } = await liveOn(client, store);
    const lost = bobs.create();
    store.failures = Number.POSITIVE_INFINITY;
    lost.append("never saved");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const attempts = store.attempts;
    await bob.close();
    expect(store.attempts).toBe(attempts + 1);
    expect(bobErrors).toEqual([expect.stringMatching(/; trying again$/), expect.not.stringMatching(/trying again/)]);
    await new Promise((resolve) => setTimeout(resolve, SAVE_RETRY.firstMs * 3));
    expect(store.attempts).toBe(attempts + 1);
  });

  it("a save that holds (a later write's) stops a retry still waiting: after close() no timer keeps the process alive", async () => {
    // In a process of its own, whose timers are only the client's.
    const script = `
      import { createClient, createIdentity, MemoryLocalStore } from ${JSON.stringify(new URL("../../../client/index.ts", import.meta.url).href)};
      class Flaky extends MemoryLocalStore {
        failures = 2;
        async save(...args) {
          if (this.failures-- > 0) throw new Error("ENOSPC");
          return super.save(...args);
        }
      }
      const client = await createClient({ url: "http://127.0.0.1:9", identity: createIdentity(), store: new Flaky(), fetch: false });
      const group = client.group("g1");
      group.onError(() => {});
      const doc = group.create();
      doc.append("first");
      await new Promise((resolve) => setTimeout(resolve, ${SAVE_RETRY.firstMs + 100})); // failed twice: a retry waits
      doc.append("second"); // this save holds, and saves "first" too
      await new Promise((resolve) => setTimeout(resolve, 50));
      await client.close();
      console.log(JSON.stringify(process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length));
    `;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 });
    expect(JSON.parse(stdout.trim())).toBe(0);
  });
});

describe("the documents of one tick are saved side by side", () => {
  it("the store is asked to save each of them before the first save finishes, and all are then pushed together", async () => {
    const { relay, client } = setup();
    let open = 0;
    let most = 0;
    const store = new (class extends MemoryLocalStore {
      override async save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
        most = Math.max(most, ++open);
        await new Promise((resolve) => setTimeout(resolve, 20)); // a disk's write and fsync
        await super.save(group, doc, changes);
        open--;
      }
    })();
    const created = await client({ store });
    const group = created.group("g1");
    await statusOf(group, "live");
    const docs = Array.from({ length: 5 }, () => group.create());
    for (const doc of docs) doc.append("one");
    relay.transcript();
    await group.synced();
    expect(most).toBe(docs.length);
    // One frame carries them all.
    expect(relay.frames.filter((frame) => frame.from !== "relay" && frame.types.includes("content"))).toHaveLength(1);
  });
});

describe("client.close() with a save that never finishes", () => {
  it("waits for it, bounded by a signal; the session stays held meanwhile, so no other client takes it with the write in flight", async () => {
    const { client } = setup();
    let release: (() => void) | undefined;
    const store = new (class extends MemoryLocalStore {
      stuck = false;
      override async save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
        if (this.stuck) await new Promise<void>((resolve) => (release = resolve));
        return super.save(group, doc, changes);
      }
    })();
    const first = await client({ store });
    const group = first.group("g1");
    const doc = group.create();
    await doc.synced();
    store.stuck = true;
    doc.append("its save never finishes");
    await new Promise((resolve) => setTimeout(resolve, 10));
    const synced = doc.synced().then(() => "resolved", (error: unknown) => error);
    await expect(first.close({ signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: "TimeoutError" });
    expect(await synced).toBeInstanceOf(ClosedError);
    const second = await client({ store, identity: first.identity });
    expect(second.session).not.toBe(first.session);
    // Once the save finishes, the session is given up: a third client takes it back.
    store.stuck = false;
    release!();
    await first.close();
    const third = await client({ store, identity: first.identity });
    expect(third.session).toBe(first.session);
  });
});

describe("a store of the app's own that throws instead of rejecting", () => {
  /** A memory store whose next `throws` saves throw synchronously (a bug), and whose reads can give garbage. */
  class BuggyStore extends MemoryLocalStore {
    throws = 0;
    garbage: unknown[] = [];
    override save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
      if (this.throws > 0) {
        this.throws--;
        throw new Error("a bug in save");
      }
      return super.save(group, doc, changes);
    }
    override loadGroup(group: string): Promise<StoredDoc[]> {
      if (this.garbage.length > 0) return Promise.resolve(this.garbage.shift() as StoredDoc[]);
      return super.loadGroup(group);
    }
  }

  it("a save that throws is reported and tried again like one that rejects; the other documents of its flush are saved and synced", async () => {
    const { client } = setup();
    const store = new BuggyStore();
    const created = await client({ store });
    const group = created.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await statusOf(group, "live");
    const [first, second] = [group.create(), group.create()];
    store.throws = 1;
    first.append("one");
    second.append("two");
    await group.synced({ signal: AbortSignal.timeout(5_000) });
    expect(errors).toEqual([expect.stringMatching(/^internal: saving doc_\S+ locally failed: a bug in save; trying again$/)]);
    expect((await store.loadGroup("g1")).map((doc) => Object.values(doc.sessions).flat().map((tx) => tx.data)).sort()).toEqual([["one"], ["two"]]);
  });

  it("a loadGroup that gives something other than a list of stored documents is reported once and read again", async () => {
    const { relay, client } = setup();
    const store = new BuggyStore();
    const earlier = await client({ store });
    earlier.group("g1").create().append("saved earlier");
    await earlier.group("g1").synced();
    await earlier.close();
    relay.down = true;
    store.garbage = [null, [null, 42]];
    const again = await client({ store, identity: earlier.identity });
    const group = again.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await group.ready;
    expect(errors.filter((message) => message.startsWith("internal"))).toEqual([
      "internal: loading group g1 from the local store failed: the local store's loadGroup must resolve with a list of stored documents ({ id, header, sessions }): it gave null; trying again",
    ]);
    expect(group.docs.map((held) => held.transactions().map((transaction) => transaction.data))).toEqual([["saved earlier"]]);
  });
});

describe("a local store damaged on the disk", () => {
  /**
   * A client that wrote offline into a FileLocalStore (`write`) and closed; once `damage` has changed the
   * folder, a client of the same identity starts on it with the relay back, and the group syncs. What
   * its onError heard, its group, and the first client.
   */
  async function damagedThenRestarted<T>(write: (group: Group, folder: string) => Promise<T> | T, damage: (folder: string, written: T) => void) {
    const { relay, client } = setup();
    const directory = mkdtempSync(join(tmpdir(), "weft-damaged-"));
    let again: Client | undefined;
    try {
      relay.down = true;
      const earlier = await client({ store: new FileLocalStore(directory, { fsync: false }) });
      const written = await write(earlier.group("g1"), join(directory, "g1"));
      await earlier.close();
      damage(join(directory, "g1"), written);
      relay.down = false;
      again = await client({ store: new FileLocalStore(directory, { fsync: false }), identity: earlier.identity });
      const group = again.group("g1");
      const errors: string[] = [];
      group.onError((error) => errors.push(error.message));
      await group.synced();
      return { relay, earlier, group, errors, written };
    } finally {
      // Closed first: saves it still makes (what the relay holds, the role it was told) land before the folder goes.
      await again?.close();
      rmSync(directory, { recursive: true, force: true });
    }
  }

  it("what it could not read is told once through onError, and the rest loads and syncs", async () => {
    const { relay, earlier, errors, written: doc } = await damagedThenRestarted(
      async (group, folder) => {
        const doc = group.create();
        const saves = () => readdirSync(folder).flatMap((name) => (name.endsWith(".jsonl") ? readFileSync(join(folder, name), "utf8").split("\n").filter(Boolean) : [])).length;
        for (const [index, data] of ["one", "two", "three"].entries()) {
          doc.append(data);
          // A save each, however busy the machine: the next append waits for this one's line.
          await vi.waitFor(() => expect(saves()).toBe(index + 2), { timeout: 10_000, interval: 5 });
        }
        return doc;
      },
      (folder) => {
        const [file] = readdirSync(folder).filter((name) => name.endsWith(".jsonl"));
        const path = join(folder, file!);
        const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
        expect(lines).toHaveLength(4); // the first save's header has a line of its own after it
        writeFileSync(path, [lines[0], lines[1], "\u0000garbage", lines[3]].join("\n"));
      },
    );
    // The write after the damaged one waits aside for the relay's copy of it, which never reached the relay.
    expect(errors).toEqual([
      expect.stringMatching(/^internal: the local store could not read all of group g1: doc_\S+: a save could not be read \(damaged on the disk\), and is left out; session \S+: transactions 2-2 follow transactions that could not be read, and are kept aside until the relay's copy of those fills the gap$/),
      expect.stringMatching(/^internal: the local store kept writes 2-2 of session \S+ of doc_\S+ past a save damaged on the disk, and the relay's copy of the session does not lead up to them: they are lost$/),
    ]);
    expect(relay.store.knownState(doc.id).sessions[earlier.session]).toBe(1);
  });

  it("a document's file that cannot be read at all is left out and told; the group's other documents load and sync", async () => {
    const { relay, earlier, group, errors, written } = await damagedThenRestarted(
      (group) => {
        const kept = group.create();
        kept.append("kept");
        const lost = group.create();
        lost.append("its file is replaced");
        return { kept, lost };
      },
      (folder, { lost }) => {
        const path = join(folder, `${lost.id}.jsonl`);
        rmSync(path);
        mkdirSync(path); // a folder where the file was: no read of it will ever succeed
      },
    );
    expect(errors).toEqual([`internal: the local store could not read all of group g1: ${written.lost.id}: its file cannot be read (EISDIR), so the document is left out`]);
    expect(group.docs.map((doc) => doc.id)).toEqual([written.kept.id]);
    expect(relay.store.knownState(written.kept.id).sessions[earlier.session]).toBe(1);
  });
});

describe("reading the group from the local store at start", () => {
  /** A memory store whose next `failures` reads of a group fail, or (`hang`) never answer. */
  class UnreadableStore extends MemoryLocalStore {
    failures = 0;
    hang = false;
    reads = 0;
    override loadGroup(group: string): Promise<StoredDoc[]> {
      this.reads++;
      if (this.hang) return new Promise(() => {});
      if (this.failures > 0) {
        this.failures--;
        return Promise.reject(new Error("the database is blocked"));
      }
      return super.loadGroup(group);
    }
  }

  it("that fails is read again until it answers: the app told once, then the group works", async () => {
    const { relay, client } = setup();
    const store = new UnreadableStore();
    const earlier = await client({ store });
    const doc = earlier.group("g1").create();
    doc.append("saved earlier");
    await doc.synced();
    await earlier.close();

    relay.down = true; // what it shows comes from the store
    store.failures = 2;
    const again = await client({ store, identity: earlier.identity });
    const group = again.group("g1");
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    await group.ready; // after waits of 250 and 500 ms
    expect(store.reads).toBe(4); // one for each client's start, and two that failed
    // Beside the relay being out of reach (reported at every attempt), the store's failure once.
    expect(errors.filter((message) => message.startsWith("internal"))).toEqual(["internal: loading group g1 from the local store failed: the database is blocked; trying again"]);
    expect(group.docs.map((held) => held.transactions().map((transaction) => transaction.data))).toEqual([["saved earlier"]]);
  });

  it("that never answers: a call given a signal gives up when it aborts, and closing settles everything with a ClosedError", async () => {
    const { client } = setup();
    const store = new UnreadableStore();
    store.hang = true;
    const alice = await client({ store });
    const group = alice.group("g1");
    await expect(group.open(group.create().id, { signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: "TimeoutError" });
    await expect(group.openAll({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: "AbortError" });
    const pending = [group.ready, group.openAll(), group.synced(), group.directory()];
    group.close();
    for (const promise of pending) await expect(promise).rejects.toBeInstanceOf(ClosedError);
  });
});

describe("a discard whose store never answers", () => {
  class HangingCuts extends MemoryLocalStore {
    override cutSession(): Promise<void> {
      return new Promise(() => {});
    }
  }

  it("settles with the ClosedError once the group closes, instead of holding the app's promise for good", async () => {
    const { client, cutOff } = setup();
    const alice = await client({ name: "alice" });
    const aliceGroup = alice.group("g1");
    await aliceGroup.createMembers().synced();
    const bob = await client({ name: "bob", url: CUT_OFF_URL, store: new HangingCuts() });
    await aliceGroup.setRole(bob.identity.agent, "writer");
    const doc = aliceGroup.create();
    await doc.synced();
    const group = bob.group("g1");
    const held = await group.open(doc.id);
    const back = cutOff(bob);
    await aliceGroup.setRole(bob.identity.agent, "reader");
    held.append("written as a writer, cut off");
    back();
    await until(() => group.refused().length === 1, 2_000);
    const discarded = group.discardRefused(held);
    const outcome = Promise.race([discarded.then(() => "resolved", (error: unknown) => error), new Promise((resolve) => setTimeout(() => resolve("pending"), 100))]);
    expect(await outcome).toBe("pending");
    group.close();
    await expect(discarded).rejects.toBeInstanceOf(ClosedError);
  });
});
