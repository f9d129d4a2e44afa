// The set-up of the tests that restart a client on a FileLocalStore between runs: a real relay (weft/dev's
// startRelay) with a proxy in front of it whose network a test cuts, started before the file's tests and
// stopped after them, and store folders that are removed with them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { startProxy, type Proxy } from "./proxy.ts";

export type RelayBehindProxy = {
  /** The relay, once the file's tests begin. */
  relay: LocalRelay;
  /** The proxy in front of it: clients that go through `proxy.url` are cut off by `proxy.down()`. */
  proxy: Proxy;
  /** A new empty folder for a store, removed after the file's tests. */
  newFolder(): string;
};

/** Registers the file's beforeAll and afterAll; `prefix` names its folders (under the system's temp folder). */
export function relayBehindProxy(prefix: string): RelayBehindProxy {
  const folders: string[] = [];
  const scene = {
    newFolder() {
      const folder = mkdtempSync(join(tmpdir(), prefix));
      folders.push(folder);
      return folder;
    },
  } as RelayBehindProxy;
  beforeAll(async () => {
    scene.relay = await startRelay();
    scene.proxy = await startProxy({ port: Number(new URL(scene.relay.url).port) });
  });
  afterAll(async () => {
    await scene.proxy?.close();
    await scene.relay?.stop();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });
  return scene;
}
