// One relay per storage folder: a second startRelay on a folder a running relay uses is refused, naming the
// folder (two on one folder failed each other's writes with SQLITE_BUSY, and their clients parted ways
// unsaid); the folder is free again once the relay stops, and a lock left by a process that is gone
// (killed, crashed) does not keep it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";

const relays: LocalRelay[] = [];
const folders: string[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});
const newFolder = () => {
  const folder = mkdtempSync(join(tmpdir(), "weft-relay-folder-"));
  folders.push(folder);
  return folder;
};
const started = async (persistTo: string) => {
  const relay = await startRelay({ persistTo });
  relays.push(relay);
  return relay;
};

describe("a relay's storage folder", () => {
  it("is refused to a second relay while the first runs, and is free once it stops, with what it stored", async () => {
    const persistTo = newFolder();
    const first = await started(persistTo);
    await expect(startRelay({ persistTo })).rejects.toThrow(`startRelay: the folder ${persistTo} is in use by another relay (process ${process.pid}); stop it first, or pass another persistTo`);
    const identity = createIdentity();
    const writer = await createClient({ url: first.url, identity });
    const doc = writer.group("folder").create();
    doc.append("kept");
    await doc.synced();
    await writer.close();
    await first.stop();

    const second = await started(persistTo);
    const reader = await createClient({ url: second.url, identity: createIdentity() });
    try {
      const held = await reader.group("folder").open(doc.id);
      expect(held.transactions().map((transaction) => transaction.data)).toEqual(["kept"]);
    } finally {
      await reader.close();
    }
  });

  it("is taken over from a relay whose process is gone", async () => {
    const persistTo = newFolder();
    writeFileSync(join(persistTo, "weft-relay.lock"), "2147483646 12345"); // no such process
    const relay = await started(persistTo);
    expect(relay.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
