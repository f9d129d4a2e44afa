// End to end: presence between the SDK in this process and the SDK in a separate Node process, through
// the real relay under `wrangler dev`; the other process is killed, and its state goes away; or frozen, its
// socket left open, and its state goes away all the same once it has been silent too long.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type PresenceMap } from "../../client/index.ts";
import { PRESENCE_SILENT_MS } from "../../protocol/index.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";
import { until } from "../support/wait.ts";

const PEER = fileURLToPath(new URL("./presence-peer.ts", import.meta.url));

const names = (peers: PresenceMap): string[] => [...peers.values()].map((peer) => (peer.state as { name: string }).name).sort();

describe("presence between two SDK processes through wrangler dev", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-e2e-presence-"));
  let relay: RelayProcess;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    relay = await startRelay({ persistTo });
  });

  afterAll(async () => {
    if (child?.exitCode === null) child.kill("SIGKILL");
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("each sees the other's state; a killed process's state is cleared for the one that stays", async () => {
    const group = "e2e-presence";
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = client.group(group).create();
    await doc.synced();
    let seen: PresenceMap = new Map();
    doc.presence.subscribe((peers) => (seen = peers));
    doc.presence.set({ name: "here" });

    child = spawn(process.execPath, [PEER, relay.url, group, doc.id, "there"], { stdio: ["ignore", "pipe", "inherit"] });
    const lines: { names: string[] }[] = [];
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split("\n");
      buffered = complete.pop()!;
      for (const line of complete) lines.push(JSON.parse(line) as { names: string[] });
    });

    await until(() => names(seen).includes("there") && lines.some((line) => line.names.includes("here")), 30_000);
    expect(names(seen)).toEqual(["there"]);

    // The process dies without a goodbye: the relay learns the socket closed and tells us.
    child.kill("SIGKILL");
    await until(() => seen.size === 0, 30_000);
    expect(names(seen)).toEqual([]);
    client.close();
  });

  it("a frozen process (SIGSTOP: its socket stays open, nothing is sent) stops being shown after PRESENCE_SILENT_MS, and is shown again once it runs on", async () => {
    const group = "e2e-presence-frozen";
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = client.group(group).create();
    await doc.synced();
    let seen: PresenceMap = new Map();
    doc.presence.subscribe((peers) => (seen = peers));

    child = spawn(process.execPath, [PEER, relay.url, group, doc.id, "frozen"], { stdio: ["ignore", "ignore", "inherit"] });
    await until(() => names(seen).includes("frozen"), 30_000);

    // A laptop closed mid-edit: no close ever reaches the relay, and no TCP error either (the kernel still
    // answers for the process). The relay's alarm finds it silent and closes its socket.
    child.kill("SIGSTOP");
    await until(() => !names(seen).includes("frozen"), PRESENCE_SILENT_MS + 30_000);

    // Awake again: it hears the close, connects again and shows its presence anew.
    child.kill("SIGCONT");
    await until(() => names(seen).includes("frozen"), 30_000);
    child.kill("SIGKILL");
    client.close();
  }, 180_000);
});
