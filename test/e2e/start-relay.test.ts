// weft/dev's startRelay from a plain Node test: the real relay in workerd through Miniflare, no wrangler.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { startRelay } from "../../dev/start-relay.ts";
import { workerdServing } from "../../dev/orphan-guard.ts";
import { childProcesses, isAlive, somethingListensOn } from "../support/processes.ts";
import { startRelay as startRelayProcess } from "../support/relay-process.ts";
import { until } from "../support/wait.ts";
import { spawnLineProcess } from "../support/line-process.ts";

const HOLDER = fileURLToPath(new URL("./relay-holder.ts", import.meta.url));

const workerdChildren = () => childProcesses(process.pid).filter((child) => child.command.includes("workerd"));

describe("startRelay", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-start-relay-"));
  afterAll(() => rmSync(persistTo, { recursive: true, force: true }));

  it("two clients sync through it; what it stored survives stop() and a new relay on the same folder; no process is left", async () => {
    const before = workerdChildren().map((child) => child.pid);
    const relay = await startRelay({ persistTo });
    expect(relay.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(relay.url).port);
    expect(workerdChildren().length).toBeGreaterThan(before.length);

    const alice = await createClient({ url: relay.url, identity: createIdentity() });
    const bob = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = alice.group("team").create({ meta: { title: "list" } });
    doc.append("milk");
    await doc.synced();
    const bobs = await bob.group("team").open(doc.id);
    expect(bobs.transactions().map((tx) => tx.data)).toEqual(["milk"]);
    doc.append("eggs"); // live, while Bob is subscribed
    await doc.synced();
    await until(() => bobs.transactions().length === 2, 10_000);
    expect(bobs.transactions().map((tx) => tx.data)).toEqual(["milk", "eggs"]);
    alice.close();
    bob.close();

    await relay.stop();
    expect(workerdChildren().map((child) => child.pid)).toEqual(before);
    await until(() => !somethingListensOn(port), 10_000);

    const again = await startRelay({ persistTo });
    try {
      const carol = await createClient({ url: again.url, identity: createIdentity() });
      const carols = await carol.group("team").open(doc.id);
      expect(carols.transactions().map((tx) => tx.data)).toEqual(["milk", "eggs"]);
      carol.close();
    } finally {
      await again.stop();
    }
    expect(workerdChildren().map((child) => child.pid)).toEqual(before);
  });

  describe("in a process that ends without stop()", () => {
    const children: ChildProcess[] = [];
    // The holders' temporary folder: Miniflare's own folder in it outlives a process that never called stop().
    const holderTmp = mkdtempSync(join(tmpdir(), "weft-relay-holders-"));
    afterAll(() => {
      children.forEach((child) => child.kill("SIGKILL"));
      rmSync(holderTmp, { recursive: true, force: true });
    });

    it.each(["killed with SIGKILL", "exiting"])("%s, its workerd goes with it and frees the port", async (how) => {
      const holder = spawnLineProcess(HOLDER, [], children, { TMPDIR: holderTmp });
      const port = Number(new URL(await holder.line(0)).port);
      const workerd = childProcesses(holder.child.pid!).filter((child) => child.command.includes("workerd"));
      expect(workerd.length).toBeGreaterThan(0);
      expect(somethingListensOn(port)).toBe(true);
      if (how === "exiting") holder.child.stdin!.write("exit\n");
      else holder.child.kill("SIGKILL");
      await until(() => workerd.every((child) => !isAlive(child.pid)), 15_000);
      await until(() => childProcesses(holder.child.pid!).length === 0, 15_000);
      await until(() => !somethingListensOn(port), 10_000);
    });
  });

  it("leaves no process of its own once every relay it started is stopped, by the time the last stop() resolves", async () => {
    const before = childProcesses(process.pid).map((child) => child.pid);
    const [first, second] = await Promise.all([startRelay(), startRelay()]);
    await first.stop();
    expect(childProcesses(process.pid).length).toBeGreaterThan(before.length);
    await second.stop();
    // A test runner's check for open handles right after it finds none (the watchdog ended with it).
    // (esbuild's service stays: it bundled the Worker from this repo's sources, which the package ships built.)
    expect(childProcesses(process.pid).filter((child) => !before.includes(child.pid) && !child.command.includes("esbuild"))).toEqual([]);
    // Nor a handle of one, as the hanging-process reporters read them.
    const handles = (process as unknown as { _getActiveHandles(): { constructor: { name: string }; spawnargs?: string[] }[] })._getActiveHandles();
    expect(handles.filter((handle) => handle.constructor.name === "ChildProcess" && !handle.spawnargs?.join(" ").includes("esbuild"))).toEqual([]);
  });

  it("on a port in use, says so in startRelay's terms", async () => {
    const first = await startRelay();
    try {
      const port = Number(new URL(first.url).port);
      await expect(startRelay({ port })).rejects.toThrow(`startRelay: port ${port} is in use; pass another port, or leave it out for a free one`);
    } finally {
      await first.stop();
    }
  });

  it("with settings it can use, answers its health check ok (one it cannot use is refused by startRelay: test/unit/dev-settings.test.ts)", async () => {
    const fine = await startRelay({ vars: { WEFT_TOKEN_SECRET: "a secret long enough for HS256 tokens", WEFT_OPEN_GROUPS: "true" } });
    try {
      expect(await (await fetch(`${fine.url}/v1/health`)).json()).toMatchObject({ ok: true });
    } finally {
      await fine.stop();
    }
  });

  it("guards only the workerd serving its own port, not another relay's started at the same moment (another thread's, in vitest's threads pool)", async () => {
    const [first, second] = await Promise.all([startRelay(), startRelay()]);
    try {
      // Asked as a start from before both would ask it: the workerd children then were none.
      const none = new Set<number>();
      const servingFirst = workerdServing(Number(new URL(first.url).port), none);
      const servingSecond = workerdServing(Number(new URL(second.url).port), none);
      expect(servingFirst).toHaveLength(1);
      expect(servingSecond).toHaveLength(1);
      expect(servingFirst[0]).not.toBe(servingSecond[0]);
      expect(workerdChildren().map((child) => child.pid).sort()).toEqual([...servingFirst, ...servingSecond].sort());
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  it("runs several relays at once, each on its own port, in memory unless given a folder", async () => {
    const [first, second] = await Promise.all([startRelay(), startRelay()]);
    try {
      expect(first.url).not.toBe(second.url);
      const writer = await createClient({ url: first.url, identity: createIdentity() });
      const doc = writer.group("solo").create({});
      doc.append("only on the first");
      await doc.synced();
      writer.close();
      // The second relay has its own storage: it has never heard of the document.
      const reader = await createClient({ url: second.url, identity: createIdentity() });
      const { docs } = await reader.group("solo").directory({ since: 0 });
      expect(docs).toEqual([]);
      reader.close();
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
    // In memory: a new relay starts empty.
    const fresh = await startRelay();
    try {
      const reader = await createClient({ url: fresh.url, identity: createIdentity() });
      expect((await reader.group("solo").directory({ since: 0 })).docs).toEqual([]);
      reader.close();
    } finally {
      await fresh.stop();
    }
  });

  it("keeps a folder in wrangler dev's layout: the Miniflare relay process (dev:local, the bench's --relay miniflare) and wrangler dev read what it stored", async () => {
    const shared = mkdtempSync(join(tmpdir(), "weft-shared-folder-"));
    try {
      const relay = await startRelay({ persistTo: shared });
      const writer = await createClient({ url: relay.url, identity: createIdentity() });
      const doc = writer.group("shared").create({});
      doc.append("written through startRelay");
      await doc.synced();
      writer.close();
      await relay.stop();

      const readBack = async (url: string) => {
        const reader = await createClient({ url, identity: createIdentity() });
        try {
          return (await reader.group("shared").open(doc.id)).transactions().map((tx) => tx.data);
        } finally {
          reader.close();
        }
      };
      const local = await startRelayProcess({ persistTo: shared, runner: "miniflare" });
      const localProcesses = childProcesses(process.pid).filter((child) => child.command.includes("local-relay") || child.command.includes("workerd"));
      expect(await readBack(local.url)).toEqual(["written through startRelay"]);
      await local.kill(); // SIGKILL to its process group, as the bench's durability scenario does
      await until(() => localProcesses.every((child) => !isAlive(child.pid)), 10_000);

      const wrangler = await startRelayProcess({ persistTo: shared });
      try {
        expect(await readBack(wrangler.url)).toEqual(["written through startRelay"]);
      } finally {
        await wrangler.stop();
      }
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });
});
