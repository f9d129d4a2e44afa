// End to end: a relay whose storage went back in time is filled again by the clients that synced with it.
// The relay (weft/dev's startRelay) persists to a folder, which is copied while the relay is stopped (a
// backup), written past, then restored (docs/deploy.md: clients "will resend what they hold"); or it keeps
// everything in memory and is restarted empty. The writer resends, `synced()` settles, nothing loops, and a
// fresh client reads every transaction. A document created by another agent cannot be given back by this
// client: the relay's `unknown_doc` is reported, once per connection, not pushed into again and again. Nor
// can a document this device holds from a snapshot of its own writes: that is told once, and synced() rejects.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryLocalStore, RelayError, createClient, createIdentity, type Client, type Doc, type Group } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { sleep, until } from "../support/wait.ts";

const FAST_RETRY = { baseMs: 50, capMs: 200, minUptimeMs: 1_000 };

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function relayAt(options: { persistTo?: string; port?: number }): Promise<LocalRelay> {
  const relay = await startRelay(options);
  cleanups.push(() => relay.stop());
  return relay;
}

async function client(url: string): Promise<Client> {
  const created = await createClient({ url, identity: createIdentity(), backoff: FAST_RETRY });
  cleanups.push(() => created.close());
  return created;
}

/** `doc.synced()`, failing after `ms` instead of hanging (the bug this file is about). */
async function syncedWithin(doc: Doc, ms = 10_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`doc.synced() did not settle within ${ms} ms`)), ms)));
  try {
    await Promise.race([doc.synced(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Frames the group receives over `ms` once it is quiet: a client looping against the relay gets ~100 a second. */
async function framesOver(group: Group, ms = 1_000): Promise<number> {
  const before = group.connection.framesReceived;
  await sleep(ms);
  return group.connection.framesReceived - before;
}

const portOf = (relay: LocalRelay) => Number(new URL(relay.url).port);
const dataOf = (doc: Doc) => doc.transactions().map((transaction) => transaction.data);

describe("a relay restored from an older backup", () => {
  it("the writer resends what the relay lost, synced() settles, and a fresh client reads every transaction", { timeout: 60_000 }, async () => {
    const persistTo = mkdtempSync(join(tmpdir(), "weft-e2e-rewound-"));
    const backup = mkdtempSync(join(tmpdir(), "weft-e2e-rewound-backup-"));
    cleanups.push(() => rmSync(persistTo, { recursive: true, force: true }), () => rmSync(backup, { recursive: true, force: true }));
    const first = await relayAt({ persistTo });
    const port = portOf(first);
    const writer = await client(first.url);
    const group = writer.group("rewound");
    const doc = group.create({});
    doc.append("1");
    await syncedWithin(doc);

    // The backup point: the relay holds "1".
    await first.stop();
    await until(() => group.status !== "live");
    cpSync(persistTo, backup, { recursive: true });
    const second = await relayAt({ persistTo, port });
    doc.append("2");
    doc.append("3");
    await syncedWithin(doc);
    expect(doc.relayKnown.sessions[writer.session]).toBe(3);

    // Restored: the relay holds "1" again.
    await second.stop();
    await until(() => group.status !== "live");
    rmSync(persistTo, { recursive: true, force: true });
    cpSync(backup, persistTo, { recursive: true });
    const restored = await relayAt({ persistTo, port });
    await until(() => group.status === "live", 15_000);
    doc.append("4");
    await syncedWithin(doc);
    expect(doc.relayKnown.sessions[writer.session]).toBe(4);
    expect(await framesOver(group)).toBeLessThan(10);

    const reader = await client(restored.url);
    const seen = await reader.group("rewound").open(doc.id);
    expect(dataOf(seen)).toEqual(["1", "2", "3", "4"]);
  });
});

describe("an in-memory relay restarted empty", () => {
  it("the creator gives the relay the document again (after a load, and after openAll()), and a fresh client reads it all", { timeout: 60_000 }, async () => {
    const first = await relayAt({});
    const port = portOf(first);
    const writer = await client(first.url);
    // One group resumes with a load per document; the other with openAll(), whose answer names what the
    // relay lacks as holding nothing. Either way the creator pushes the header and its writes again.
    const loaded = writer.group("mem-load");
    const opened = writer.group("mem-open");
    await opened.openAll();
    const errors: string[] = [];
    for (const group of [loaded, opened]) group.onError((error) => void (error instanceof RelayError && errors.push(error.code)));
    const docs = [loaded.create({}), opened.create({})];
    for (const doc of docs) doc.append("one");
    for (const doc of docs) await syncedWithin(doc);

    await first.stop();
    await until(() => loaded.status !== "live" && opened.status !== "live");
    const second = await relayAt({ port });
    await until(() => loaded.status === "live" && opened.status === "live", 15_000);
    for (const doc of docs) doc.append("two");
    for (const doc of docs) await syncedWithin(doc);
    expect(await framesOver(loaded)).toBeLessThan(10);
    expect(await framesOver(opened)).toBeLessThan(10);
    expect(errors).toEqual([]);

    const reader = await client(second.url);
    expect(dataOf(await reader.group("mem-load").open(docs[0]!.id))).toEqual(["one", "two"]);
    expect(dataOf(await reader.group("mem-open").open(docs[1]!.id))).toEqual(["one", "two"]);
  });

  it("after openAll(), a document the relay lost comes back with no new write, and synced() stays settled", { timeout: 60_000 }, async () => {
    const first = await relayAt({});
    const port = portOf(first);
    const writer = await client(first.url);
    const group = writer.group("mem-quiet");
    await group.openAll();
    const doc = group.create({ meta: { title: "kept" } });
    doc.append("one");
    await syncedWithin(doc);

    await first.stop();
    await until(() => group.status !== "live");
    const second = await relayAt({ port });
    await until(() => group.status === "live", 15_000);
    // Nothing is written after the restart: the open's answer alone has the creator give the document back.
    const reader = await client(second.url);
    const readerGroup = reader.group("mem-quiet");
    const deadline = Date.now() + 10_000;
    while ((await readerGroup.directory()).docs.length === 0 && Date.now() < deadline) await sleep(50);
    expect(dataOf(await readerGroup.open(doc.id))).toEqual(["one"]);
    expect(doc.relayKnown).toEqual({ header: true, sessions: { [writer.session]: 1 } });
    expect(await framesOver(group)).toBeLessThan(10);
  });

  it("a document this device holds from a snapshot of its own writes cannot be given back: synced() rejects, onError hears why once, nothing loops", { timeout: 60_000 }, async () => {
    const folder = mkdtempSync(join(tmpdir(), "weft-e2e-rewound-store-"));
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
    const identity = createIdentity();
    const first = await relayAt({});
    const port = portOf(first);
    const before = await createClient({ url: first.url, identity, store: new FileLocalStore(folder), backoff: FAST_RETRY });
    const created = before.group("mem-snapshot").create({});
    created.append("a");
    created.append("b");
    await syncedWithin(created);
    await created.snapshot("state: a, b");
    created.append("c");
    await syncedWithin(created);
    await before.close();
    await first.stop();

    await relayAt({ port });
    const after = await createClient({ url: first.url, identity, store: new FileLocalStore(folder), backoff: FAST_RETRY });
    cleanups.push(() => after.close());
    const group = after.group("mem-snapshot");
    const errors: RelayError[] = [];
    group.onError((error) => void (error instanceof RelayError && errors.push(error)));
    const doc = await group.open(created.id);
    expect(doc.heldSnapshot?.data).toBe("state: a, b");
    await doc.loaded(); // the relay's answer: it holds nothing of it
    await expect(syncedWithin(doc)).rejects.toMatchObject({ code: "internal", message: expect.stringMatching(/fewer than the 2 of the snapshot this device holds the document from .*: the 1 write made after the snapshot cannot go up/) });
    expect(await framesOver(group)).toBeLessThan(10);
    expect(errors.map((error) => error.code)).toEqual(["internal"]);
    expect(dataOf(doc)).toEqual(["c"]); // nothing it holds is lost
  });

  it("a writer on another agent's document hears unknown_doc and does not loop", { timeout: 60_000 }, async () => {
    const first = await relayAt({});
    const port = portOf(first);
    const creator = await client(first.url);
    const created = creator.group("mem-foreign").create({});
    created.append("created");
    await syncedWithin(created);
    await creator.close(); // it is not there to give the document back

    const writer = await client(first.url);
    const group = writer.group("mem-foreign");
    const errors: string[] = [];
    group.onError((error) => void (error instanceof RelayError && errors.push(error.code)));
    const doc = await group.open(created.id);
    doc.append("theirs");
    await syncedWithin(doc);

    await first.stop();
    await until(() => group.status !== "live");
    await relayAt({ port });
    await until(() => group.status === "live", 15_000);
    doc.append("more");
    await until(() => errors.includes("unknown_doc"), 10_000);
    expect(await framesOver(group)).toBeLessThan(10);
    expect(dataOf(doc)).toEqual(["created", "theirs", "more"]); // nothing it holds is lost
  });

  it("a writer on another agent's document, refused with unknown_doc, sends its writes once the creator gives the relay the document again", { timeout: 60_000 }, async () => {
    const first = await relayAt({});
    const port = portOf(first);
    const creatorIdentity = createIdentity();
    const creatorStore = new MemoryLocalStore();
    const creator = await createClient({ url: first.url, identity: creatorIdentity, store: creatorStore, backoff: FAST_RETRY });
    const created = creator.group("mem-returns").create({});
    created.append("created");
    await syncedWithin(created);
    await creator.close();

    const writer = await client(first.url);
    const group = writer.group("mem-returns");
    const refused: unknown[] = [];
    group.onRefused((writes) => refused.push(...writes.transactions.map((transaction) => transaction.data)));
    const doc = await group.open(created.id);
    doc.append("theirs");
    await syncedWithin(doc);

    await first.stop();
    await until(() => group.status !== "live");
    const second = await relayAt({ port });
    doc.append("while it lacks the document");
    await until(() => refused.length > 0, 15_000);
    expect(group.refused().length).toBe(1);

    const back = await createClient({ url: second.url, identity: creatorIdentity, store: creatorStore, backoff: FAST_RETRY });
    cleanups.push(() => back.close());
    await syncedWithin(await back.group("mem-returns").open(created.id));
    // The refusal ends as the relay's copy of the document reaches the writer, and the writes go up.
    await until(() => group.refused().length === 0, 10_000);
    await syncedWithin(doc);
    const reader = await client(second.url);
    expect(dataOf(await reader.group("mem-returns").open(created.id))).toEqual(["created", "theirs", "while it lacks the document"]);
  });
});
