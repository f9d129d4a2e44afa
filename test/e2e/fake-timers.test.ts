// An app's test that fakes timers (vitest's vi.useFakeTimers(), which also fakes Date and performance) while
// it drives the SDK against startRelay: with pushIntervalMs: 0, as the README says, writes leave as they are
// made instead of waiting on a faked timer, so synced() settles and another client reads them. The SDK's own
// waits for a turn of the event loop (close(), a FileLocalStore's load) run on the runtime's timers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createClient, createIdentity, type Client } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";

let relay: LocalRelay | undefined;
const clients: Client[] = [];
/** Store folders, removed once the clients on them are closed: an open client may be saving into one. */
const folders: string[] = [];
afterEach(async () => {
  vi.useRealTimers(); // before stop(): Miniflare's dispose() waits on timers of its own
  for (const client of clients.splice(0)) await client.close();
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  await relay?.stop();
});

describe("the SDK under vitest's fake timers", () => {
  it("with pushIntervalMs: 0, writes made in a row sync, and another client reads them", { timeout: 30_000 }, async () => {
    relay = await startRelay();
    vi.useFakeTimers();
    const writer = await createClient({ url: relay.url, identity: createIdentity(), pushIntervalMs: 0 });
    clients.push(writer);
    const doc = writer.group("g").create({ kind: "note" });
    doc.append("first");
    await doc.synced({ signal: AbortSignal.timeout(5_000) }); // AbortSignal.timeout runs on the real clock
    doc.append("second");
    doc.append("third");
    await doc.synced({ signal: AbortSignal.timeout(5_000) });
    const reader = await createClient({ url: relay.url, identity: createIdentity(), pushIntervalMs: 0 });
    clients.push(reader);
    const read = await reader.group("g").open(doc.id, { signal: AbortSignal.timeout(5_000) });
    expect(read.transactions().map((transaction) => transaction.data)).toEqual(["first", "second", "third"]);
  });

  it("with a FileLocalStore: a client saves and closes, and one made again on the folder opens what it saved", { timeout: 30_000 }, async () => {
    relay = await startRelay();
    const folder = mkdtempSync(join(tmpdir(), "weft-fake-timers-"));
    folders.push(folder);
    vi.useFakeTimers();
    const identity = createIdentity();
    const writer = await createClient({ url: relay.url, identity, store: new FileLocalStore(folder), pushIntervalMs: 0 });
    clients.push(writer);
    const doc = writer.group("g").create({ kind: "note" });
    doc.append("saved");
    await doc.synced({ signal: AbortSignal.timeout(5_000) });
    await writer.close();
    const again = await createClient({ url: relay.url, identity, store: new FileLocalStore(folder), pushIntervalMs: 0 });
    clients.push(again);
    const reopened = await again.group("g").open(doc.id, { signal: AbortSignal.timeout(5_000) });
    expect(reopened.transactions().map((transaction) => transaction.data)).toEqual(["saved"]);
  });
});
