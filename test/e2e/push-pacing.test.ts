// Push pacing through the real relay (workerd via weft/dev's startRelay), as a subscriber sees it: the first
// write after a pause leaves at once; what is appended while a paced frame waits travels in the next frame,
// all together; a paced write is saved on the device at once, so closing before it leaves loses nothing.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClosedError, createClient, createIdentity, type Client, type ClientOptions, type Doc } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { transactionCount, type DocId } from "../../protocol/index.ts";
import { until } from "../support/wait.ts";

/** Long enough that every step below happens inside one interval, even on a loaded machine. */
const INTERVAL_MS = 2_000;

/** What a subscriber's listener hears, one entry per call: the data of the transactions each call added. */
function arrivals(doc: Doc): string[][] {
  const heard: string[][] = [];
  doc.subscribe((change) => {
    if (change.added.length > 0) heard.push(change.added.map((transaction) => String(transaction.data)));
  });
  return heard;
}

const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("push pacing through the relay", () => {
  let relay: LocalRelay;
  const clients: Client[] = [];
  const client = async (options: Partial<ClientOptions> = {}) => {
    const made = await createClient({ url: relay.url, identity: createIdentity(), ...options });
    clients.push(made);
    return made;
  };
  const dirs: string[] = [];
  /** A writer's new document in `group`, stored, and a reader that has it open and records what it hears. */
  const writerAndReader = async (group: string, pushIntervalMs: number) => {
    const doc = (await client({ pushIntervalMs })).group(group).create({ kind: "json" });
    await doc.synced();
    const seen = await (await client()).group(group).open(doc.id);
    return { doc, seen, heard: arrivals(seen) };
  };

  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(async () => {
    for (const made of clients) made.close();
    await relay?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("the first write leaves at once; writes made while the next frame waits for the pace arrive together", { timeout: 30_000 }, async () => {
    const { doc, seen, heard } = await writerAndReader("paced", INTERVAL_MS);
    doc.append("a");
    await doc.synced();
    for (const data of ["b", "c", "d"]) {
      doc.append(data);
      await macrotask(); // each its own tick: without the pace, "b" would leave alone at once
    }
    await doc.synced();
    await until(() => transactionCount(seen.known) === 4);
    expect(heard).toEqual([["a"], ["b", "c", "d"]]);
  });

  it("with pushIntervalMs 0 a write leaves as soon as nothing is in flight", { timeout: 30_000 }, async () => {
    const { doc, seen, heard } = await writerAndReader("unpaced", 0);
    doc.append("a");
    await doc.synced();
    doc.append("b");
    await doc.synced();
    await until(() => transactionCount(seen.known) === 2);
    expect(heard).toEqual([["a"], ["b"]]);
  });

  it("a write waiting for the pace is saved at once: closed before it leaves, synced() rejects and the next client pushes it", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weft-e2e-paced-"));
    dirs.push(dir);
    const identity = createIdentity();
    const first = await createClient({ url: relay.url, identity, store: new FileLocalStore(dir), pushIntervalMs: 60_000 });
    const doc = first.group("paced-close").create({ kind: "json" });
    doc.append("sent");
    await doc.synced(); // the first write is not held back: a minute's pace would outlast the test
    doc.append("waiting");
    const refused = expect(doc.synced()).rejects.toBeInstanceOf(ClosedError);
    await macrotask();
    await first.close(); // resolves once the write reached the store
    await refused;

    const second = await createClient({ url: relay.url, identity, store: new FileLocalStore(dir) });
    clients.push(second);
    const reopened = await second.group("paced-close").open(doc.id as DocId);
    await reopened.synced();
    const reader = await client();
    const read = await reader.group("paced-close").open(doc.id as DocId);
    expect(read.transactions().map((transaction) => transaction.data)).toEqual(["sent", "waiting"]);
  });

  it("refuses a pushIntervalMs that is not a number of milliseconds, synchronously", () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 60_001, "10", null]) {
      expect(() => createClient({ url: relay.url, identity: createIdentity(), pushIntervalMs: bad as number })).toThrow(/pushIntervalMs/);
    }
  });
});
