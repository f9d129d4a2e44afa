// A relay started again on its storage (a deploy, an eviction that is not a hibernation) loses its sockets
// without a close. The subscriptions of those dead peers must not pile up in its storage: readers of
// documents nobody writes any more would leave theirs for good at every restart.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Group } from "../../client/index.ts";
import { transactionCount } from "../../protocol/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { until } from "../support/wait.ts";

/** The distinct peers with a subscription stored in the group objects' SQLite under `folder` (the relay stopped). */
function subscribedPeers(folder: string): number {
  let peers = 0;
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".sqlite")) continue;
    const db = new DatabaseSync(join(entry.parentPath, entry.name), { readOnly: true });
    try {
      const table = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'subscriptions'").get();
      if (table) peers += (db.prepare("SELECT count(DISTINCT peer) AS n FROM subscriptions").get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  return peers;
}

const live = (group: Group) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`group ${group.id} not live in time`)), 10_000);
    const check = () => group.status === "live" && (clearTimeout(timer), off(), resolve());
    const off = group.onStatus(check);
    check();
  });

describe("a relay started again on its storage", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-restarts-"));
  let relay: LocalRelay | undefined;
  afterAll(async () => {
    await relay?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("keeps the subscriptions of the peers connected now, not of those its earlier runs had", async () => {
    relay = await startRelay({ persistTo });
    const port = Number(new URL(relay.url).port);
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = writer.group("restarts").create();
    doc.append("written once, never again");
    await doc.synced();
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const readerGroup = reader.group("restarts");
    const read = await readerGroup.open(doc.id);
    await live(readerGroup);
    for (let restart = 0; restart < 3; restart++) {
      await relay.stop();
      relay = await startRelay({ persistTo, port });
      for (const group of [writer.group("restarts"), readerGroup]) group.reconnectNow();
      await Promise.all([live(writer.group("restarts")), live(readerGroup)]);
    }
    // A load is answered before its subscription is written (no frame waits on a write that is not data):
    // a write acked after both reaches the reader live, and its commit follows the subscriptions'.
    doc.append("written after the last restart");
    await doc.synced();
    await until(() => transactionCount(read.known) >= 2, 10_000);
    await relay.stop();
    relay = undefined;
    // The two clients' peers of the last run: the earlier runs' six are gone.
    expect(subscribedPeers(persistTo)).toBe(2);
    await Promise.all([writer.close(), reader.close()]);
  });
});
