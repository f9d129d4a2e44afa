// Snapshots with a store two processes share (issue 13): two processes of one app, one identity and one
// FileLocalStore directory, add items to one document through the real relay (weft/dev's startRelay); one
// of them snapshots the list halfway and keeps adding while the snapshot is on its way. Then the app
// restarts from the store with no relay at all: the store holds every item once and starts from the
// snapshot; and a fresh client converges through the relay.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity } from "../../client/index.ts";
import { FileLocalStore } from "../../client/node.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import type { SessionId } from "../../protocol/index.ts";
import { spawnLineProcess } from "../support/line-process.ts";
import { until } from "../support/wait.ts";
import { addItem, itemsOf } from "./list-items.ts";

const SHARER = fileURLToPath(new URL("./snapshot-sharer.ts", import.meta.url));
const PER_PROCESS = 200;
const GROUP = "e2e-shared-store-snapshots";

type SharerResult = { session: SessionId; snapshotCovers?: Record<SessionId, number> };

const items = (name: string) => Array.from({ length: PER_PROCESS }, (_, i) => `${name}-${i}`);
const everyItem = [...items("a"), ...items("b")].sort();

describe("two Node processes on one FileLocalStore directory, one snapshotting while both write", () => {
  const storeDir = mkdtempSync(join(tmpdir(), "weft-e2e-shared-snapshots-"));
  let relay: LocalRelay;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    relay = await startRelay();
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await relay?.stop();
    rmSync(storeDir, { recursive: true, force: true });
  });

  it(`each adds ${PER_PROCESS} items, one snapshots halfway; a restart from the store holds every item once and starts from the snapshot; a fresh client converges`, { timeout: 90_000 }, async () => {
    const identity = createIdentity();
    const secret = exportIdentity(identity);
    const creator = await createClient({ url: relay.url, identity, store: new FileLocalStore(storeDir) });
    const created = creator.group(GROUP).create({ meta: { title: "a list" } });
    await created.synced();
    await creator.close();

    const sharers = (["a", "b"] as const).map((name) =>
      spawnLineProcess(SHARER, [relay.url, storeDir, secret, GROUP, created.id, name, String(PER_PROCESS), name === "a" ? "snapshot" : "write"], children),
    );
    for (const sharer of sharers) expect(await sharer.line(0)).toBe("ready");
    for (const sharer of sharers) sharer.child.stdin!.end("go\n");
    const [a, b] = (await Promise.all(sharers.map((sharer) => sharer.line(1)))).map((line) => JSON.parse(line) as SharerResult) as [SharerResult, SharerResult];
    await until(() => sharers.every((sharer) => sharer.child.exitCode !== null), 30_000);

    // The snapshot covers half of a's items at least, and some of b's, which b was writing meanwhile.
    expect(a.session).not.toBe(b.session);
    const covers = a.snapshotCovers!;
    expect(covers[a.session]).toBeGreaterThanOrEqual(PER_PROCESS / 2);
    expect(covers[b.session]).toBeGreaterThan(0);
    const covered = Object.values(covers).reduce((sum, count) => sum + count, 0);

    // The app starts again from its store, with no relay: every item is there once, from the snapshot on.
    const offline = await createClient({ url: "http://127.0.0.1:9", identity, store: new FileLocalStore(storeDir) });
    const local = await offline.group(GROUP).open(created.id);
    expect(local.heldSnapshot?.covers).toEqual(covers);
    expect(local.transactions()).toHaveLength(2 * PER_PROCESS - covered);
    expect(itemsOf(local).sort()).toEqual(everyItem);
    await offline.close();

    // Started again online, twice at once (so each of the two sessions is leased again, the one the snapshot
    // cut included): nothing is refused, and each goes on adding from where its session stopped.
    const errors: string[] = [];
    const restarted = await Promise.all([0, 1].map(() => createClient({ url: relay.url, identity, store: new FileLocalStore(storeDir) })));
    expect(restarted.map((client) => client.session).sort()).toEqual([a.session, b.session].sort());
    const reopened = await Promise.all(restarted.map((client) => {
      client.group(GROUP).onError((error) => errors.push(error.message));
      return client.group(GROUP).open(created.id);
    }));
    for (const again of reopened) expect(itemsOf(again).sort()).toEqual(everyItem);
    for (const [i, again] of reopened.entries()) again.append(addItem(`restarted-${i}`));
    await Promise.all(reopened.map((again) => again.synced()));
    expect(reopened.map((again) => again.refused)).toEqual([false, false]);
    await Promise.all(restarted.map((client) => client.close()));
    expect(errors).toEqual([]);
    const afterRestart = [...everyItem, "restarted-0", "restarted-1"].sort();

    // A client with an empty store gets the snapshot (smaller than the log it covers) and the rest.
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const seen = await reader.group(GROUP).open(created.id);
    expect(seen.heldSnapshot?.covers).toEqual(covers);
    expect(itemsOf(seen).sort()).toEqual(afterRestart);
    await reader.close();
  });
});
