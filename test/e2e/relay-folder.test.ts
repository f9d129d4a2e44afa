// One relay per storage folder: a second startRelay on a folder a running relay uses is refused, naming the
// folder (two on one folder failed each other's writes with SQLITE_BUSY, and their clients parted ways
// unsaid); the folder is free again once the relay stops, and a lock left by a process that is gone
// (killed, crashed) does not keep it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { sleep } from "../support/wait.ts";

const relays: LocalRelay[] = [];
const folders: string[] = [];
const threads: Worker[] = [];
afterEach(async () => {
  await Promise.all(threads.splice(0).map((thread) => thread.terminate()));
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

/** A relay on `persistTo` in a worker thread of this process (vitest's threads pool), and its url. */
async function relayInThread(persistTo: string): Promise<{ thread: Worker; url: string }> {
  const thread = new Worker(new URL("../support/relay-thread.ts", import.meta.url), { workerData: { persistTo } });
  threads.push(thread);
  const [url] = (await once(thread, "message")) as [string];
  return { thread, url };
}

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

  it("is refused to a relay of another thread of the process while the first runs, and is free once it stops", { timeout: 60_000 }, async () => {
    const persistTo = newFolder();
    const { thread } = await relayInThread(persistTo);
    await expect(startRelay({ persistTo })).rejects.toThrow(new RegExp(`^startRelay: the folder ${persistTo} is in use by another relay \\(process ${process.pid}, thread \\d+\\)`));
    thread.postMessage("stop");
    await once(thread, "message");
    await started(persistTo);
  });

  it("is taken over from a thread of the process that ended without stop(), once its relay is gone", { timeout: 60_000 }, async () => {
    const persistTo = newFolder();
    const { thread, url } = await relayInThread(persistTo);
    thread.postMessage("leave");
    await once(thread, "exit");
    // Its watchdog ends its workerd once the thread's end closes the pipe to it (orphan-guard.ts).
    const deadline = Date.now() + 15_000;
    while (await fetch(`${url}/v1/health`).then(() => true, () => false)) {
      if (Date.now() > deadline) throw new Error("the relay of the thread that ended still serves");
      await sleep(100);
    }
    await started(persistTo);
  });
});
