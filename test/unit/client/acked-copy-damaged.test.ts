// A store line changed on the disk (one byte of a write's data or time) where the relay had acknowledged the
// writes: the restarted client takes the relay's copy of its session back and reports the damage once; it
// pushes nothing of the damaged copy, so every reader keeps what the relay held. Real relay (startRelay), real
// SDK, runs of a client on one FileLocalStore folder, the store's file edited by hand between them; the
// network is cut by a proxy in front of the relay for the runs that are offline.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createClient, createIdentity, type ConnectionError, type RelayError, type RefusedWrites } from "../../../client/index.ts";
import { FileLocalStore } from "../../../client/node.ts";
import type { DocId } from "../../../protocol/index.ts";
import { relayBehindProxy } from "../../support/relay-behind-proxy.ts";
import { until } from "../../support/wait.ts";


const scene = relayBehindProxy("weft-damaged-");

const dataOf = (transactions: readonly { data: unknown }[]) => transactions.map((transaction) => transaction.data);

/** The document's file in the store: one per document, in its group's folder. */
function storeFile(folder: string, group: string): string {
  const name = readdirSync(join(folder, group)).find((entry) => entry.endsWith(".jsonl"));
  return join(folder, group, name!);
}

/** One byte of a write's data changed: the line still parses. */
const dataChanged = (text: string) => text.replace('"milk"', '"milx"');

/** A write's time one millisecond earlier: the line still parses. */
const timeChanged = (text: string) => text.replace(/"at":(\d+),"data":"eggs"/, (_, at: string) => `"at":${Number(at) - 1},"data":"eggs"`);

/**
 * A first run writes milk, eggs and bread and waits for the relay to acknowledge them, then (`offline`)
 * writes more with the network cut; the store's file is changed by `damage`; a second run starts online on
 * the folder, opens the document and waits for the relay's answer, then for synced().
 */
async function restartedOnDamagedStore(group: string, damage: (text: string) => string, offline: string[] = [], written: string[] = ["milk", "eggs", "bread"]) {
  const identity = createIdentity();
  const folder = scene.newFolder();
  const first = await createClient({ url: scene.proxy.url, identity, store: new FileLocalStore(folder) });
  const doc = first.group(group).create();
  for (const item of written) doc.append(item);
  await doc.synced();
  if (offline.length > 0) {
    scene.proxy.down();
    try {
      for (const item of offline) doc.append(item);
      await first.close(); // once its writes are saved
    } finally {
      scene.proxy.restore();
    }
  } else await first.close();
  const file = storeFile(folder, group);
  const before = readFileSync(file, "utf8");
  writeFileSync(file, damage(before));
  expect(readFileSync(file, "utf8")).not.toBe(before);

  const client = await createClient({ url: scene.proxy.url, identity, store: new FileLocalStore(folder) });
  const opened = client.group(group);
  const errors: (RelayError | ConnectionError)[] = [];
  const refusals: RefusedWrites[] = [];
  opened.onError((error) => errors.push(error));
  opened.onRefused((refused) => refusals.push(refused));
  const again = await opened.open(doc.id); // from the store
  await again.loaded(); // the relay answered: its copy differs from the store's, and is asked for
  await again.synced();
  return { identity, folder, client, doc: again, errors, refusals };
}

/** What a fresh reader of the group gets of the document. */
async function readerSees(group: string, id: DocId): Promise<unknown[]> {
  const reader = await createClient({ url: scene.relay.url, identity: createIdentity() });
  try {
    const doc = await reader.group(group).open(id);
    return dataOf(doc.transactions());
  } finally {
    await reader.close();
  }
}

describe("a store whose copy of acknowledged writes was changed on the disk", () => {
  it.each([
    ["one byte of a write's data", "damaged-data", dataChanged],
    ["a write's time", "damaged-time", timeChanged],
  ])("%s: the relay's copy comes back, the damage is reported once, and readers see nothing twice", async (_kind, group, damage) => {
    const { identity, folder, client, doc, errors, refusals } = await restartedOnDamagedStore(group, damage);
    try {
      expect(dataOf(doc.transactions())).toEqual(["milk", "eggs", "bread"]);
      await until(() => errors.length > 0, 10_000);
      doc.append("after the restart");
      await doc.synced();
      expect(dataOf(doc.transactions())).toEqual(["milk", "eggs", "bread", "after the restart"]);
      expect(errors.map((error) => [error.name, "code" in error ? error.code : undefined])).toEqual([["LocalStoreError", "internal"]]);
      expect(errors[0]!.message).toMatch(/damaged on the disk/);
      expect(refusals).toEqual([]);
    } finally {
      await client.close();
    }
    expect(await readerSees(group, doc.id)).toEqual(["milk", "eggs", "bread", "after the restart"]);

    // The store holds the relay's copy now: a third run, offline, reads it back.
    scene.proxy.down();
    try {
      const offline = await createClient({ url: scene.proxy.url, identity, store: new FileLocalStore(folder) });
      try {
        const again = await offline.group(group).open(doc.id);
        expect(dataOf(again.transactions())).toEqual(["milk", "eggs", "bread", "after the restart"]);
      } finally {
        await offline.close();
      }
    } finally {
      scene.proxy.restore();
    }
  });

  it("with a write made offline after them: that write goes up once, after the relay's copy", async () => {
    const group = "damaged-then-offline";
    const { client, doc, errors, refusals } = await restartedOnDamagedStore(group, dataChanged, ["butter"]);
    try {
      expect(dataOf(doc.transactions())).toEqual(["milk", "eggs", "bread", "butter"]);
      await until(() => errors.length > 0, 10_000);
      expect(errors).toHaveLength(1);
      expect(refusals).toEqual([]);
    } finally {
      await client.close();
    }
    expect(await readerSees(group, doc.id)).toEqual(["milk", "eggs", "bread", "butter"]);
  });

  it("damaged in two places the relay sends in separate frames: each is the relay's again, and nothing goes up twice", async () => {
    const group = "damaged-across-frames";
    // About 100 KB each: a frame of content carries two or three of them (CHUNK_TARGET_BYTES).
    const written = Array.from({ length: 6 }, (_, i) => `${"w".repeat(100_000)}-${i}`);
    const damage = (text: string) => text.replace('-0"', '-x"').replace('-4"', '-y"');
    const { client, doc, errors, refusals } = await restartedOnDamagedStore(group, damage, [], written);
    try {
      expect(dataOf(doc.transactions())).toEqual(written);
      // Each frame that shows a damaged place reports it: from write 0 on, and from write 4 on (the order
      // the reports reach onError in is not what this checks).
      const damagedFrom = () => errors.map((error) => /from write (\d+) on/.exec(error.message)?.[1]).sort();
      await until(() => errors.length >= 2, 10_000).catch(() => undefined); // what came is compared below
      expect(damagedFrom()).toEqual(["0", "4"]);
      for (const error of errors) expect(error.message).toMatch(/damaged on the disk/);
      expect(refusals).toEqual([]);
    } finally {
      await client.close();
    }
    expect(await readerSees(group, doc.id)).toEqual(written);
  });
});
