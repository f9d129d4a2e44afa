// Snapshots across a relay restart (issue 13): the relay (weft/dev's startRelay, persisting to a folder,
// pruning at once) stores a snapshot, then stops while a client with a FileLocalStore goes on writing
// offline; a new relay on the same folder and port takes over. The writer's offline items go up after the
// snapshot, a fresh client gets the snapshot and every item after it, and the writer, started again from
// its store, goes on from the snapshot.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { until } from "../support/wait.ts";
import { addItem, itemsOf } from "./list-items.ts";

const FAST_RETRY = { baseMs: 50, capMs: 500, minUptimeMs: 1_000 };
const GROUP = "lists";

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

describe("snapshots across a relay restart", () => {
  it("a stored snapshot survives the restart; offline items go up after it; a fresh client and the writer's restart hold every item once", { timeout: 60_000 }, async () => {
    const persistTo = mkdtempSync(join(tmpdir(), "weft-e2e-snapshot-restart-"));
    const storeDir = mkdtempSync(join(tmpdir(), "weft-e2e-snapshot-restart-store-"));
    cleanups.push(() => rmSync(persistTo, { recursive: true, force: true }), () => rmSync(storeDir, { recursive: true, force: true }));
    const vars = { WEFT_SNAPSHOT_RETENTION_SECONDS: "0" };
    const first: LocalRelay = await startRelay({ persistTo, vars });
    cleanups.push(() => first.stop());
    const port = Number(new URL(first.url).port);

    const identity = createIdentity();
    const writer = await createClient({ url: first.url, identity, store: new FileLocalStore(storeDir), backoff: FAST_RETRY });
    cleanups.push(() => writer.close());
    const doc = writer.group(GROUP).create({});
    for (let i = 0; i < 300; i++) doc.append(addItem(`before-${i}`));
    await doc.synced();
    await doc.snapshot(JSON.stringify(itemsOf(doc)));
    for (let i = 0; i < 5; i++) doc.append(addItem(`after-${i}`));
    await doc.synced();

    // The relay stops; the writer goes on offline, its items kept in its store.
    await first.stop();
    await until(() => writer.group(GROUP).status !== "live");
    for (let i = 0; i < 5; i++) doc.append(addItem(`offline-${i}`));

    const second = await startRelay({ persistTo, vars, port });
    cleanups.push(() => second.stop());
    await doc.synced();
    const expected = [...Array.from({ length: 300 }, (_, i) => `before-${i}`), ...Array.from({ length: 5 }, (_, i) => `after-${i}`), ...Array.from({ length: 5 }, (_, i) => `offline-${i}`)];

    const reader = await createClient({ url: second.url, identity: createIdentity() });
    cleanups.push(() => reader.close());
    const seen = await reader.group(GROUP).open(doc.id);
    expect(seen.heldSnapshot?.covers).toEqual({ [writer.session]: 300 });
    expect(seen.transactions()).toHaveLength(10);
    expect(itemsOf(seen)).toEqual(expected);

    // The writer starts again from its store: from the snapshot on, and its next item reaches the reader.
    await writer.close();
    const again = await createClient({ url: second.url, identity, store: new FileLocalStore(storeDir) });
    cleanups.push(() => again.close());
    expect(again.session).toBe(writer.session);
    const reopened = await again.group(GROUP).open(doc.id);
    expect(reopened.heldSnapshot?.covers).toEqual({ [writer.session]: 300 });
    expect(itemsOf(reopened)).toEqual(expected);
    reopened.append(addItem("restarted"));
    await reopened.synced();
    await until(() => itemsOf(seen).includes("restarted"));
    expect(reopened.refused).toBe(false);
  });
});
