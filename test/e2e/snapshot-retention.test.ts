// WEFT_SNAPSHOT_RETENTION_SECONDS given to weft/dev's startRelay as a Worker var: with 0 the relay prunes
// what a snapshot covers at once, so a fresh loader can only get the snapshot; with "never" it keeps every
// transaction, and a fresh loader gets them rather than a snapshot larger than they are.
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { startRelay } from "../../dev/start-relay.ts";

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** A relay with the retention, a document of 600 short transactions, a snapshot of them of 60 KB (larger than they are), then 2 more. */
async function snapshotted(retention: string) {
  const relay = await startRelay({ vars: { WEFT_SNAPSHOT_RETENTION_SECONDS: retention } });
  cleanups.push(() => relay.stop());
  const writer = await createClient({ url: relay.url, identity: createIdentity() });
  cleanups.push(() => writer.close());
  const doc = writer.group("team").create({});
  for (let i = 0; i < 600; i++) doc.append(`t${i}`);
  await doc.synced();
  await doc.snapshot("s".repeat(60_000));
  doc.append("after-0");
  doc.append("after-1");
  await doc.synced();
  /** What a client that held nothing gets when it opens the document now. */
  const freshLoad = async () => {
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      const held = await reader.group("team").open(doc.id);
      return { snapshot: held.heldSnapshot, transactions: held.transactions().map((transaction) => transaction.data) };
    } finally {
      reader.close();
    }
  };
  return freshLoad;
}

describe("snapshot retention through startRelay({ vars })", () => {
  it('"0": what the snapshot covers is pruned, and a fresh loader gets the snapshot and the transactions stored after it', { timeout: 60_000 }, async () => {
    const freshLoad = await snapshotted("0");
    // Pruning runs from the alarm right after the snapshot is stored: poll until a loader sees it.
    const deadline = Date.now() + 20_000;
    let loaded = await freshLoad();
    while (!loaded.snapshot && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      loaded = await freshLoad();
    }
    expect(Object.values(loaded.snapshot?.covers ?? {})).toEqual([600]);
    expect(typeof loaded.snapshot?.data === "string" && loaded.snapshot.data.length).toBe(60_000);
    expect(loaded.transactions).toEqual(["after-0", "after-1"]);
  });

  it('"never": nothing is pruned, and a fresh loader gets the 602 transactions, smaller than the snapshot', { timeout: 60_000 }, async () => {
    const freshLoad = await snapshotted("never");
    const loaded = await freshLoad();
    expect(loaded.snapshot).toBeUndefined();
    expect(loaded.transactions).toHaveLength(602);
  });
});
