// weft/yjs through a relay of another protocol version (`unsupported_version`): the provider keeps its
// binding, so what is typed meanwhile is saved locally and goes up once a relay of this version answers,
// and it emits the RelayError once, for the app to ask for a reload. The refusing relay, then the real one
// (weft/dev's startRelay) on its port.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createClient, createIdentity, type Client } from "../../../client/index.ts";
import { FileLocalStore } from "../../../client/node.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { WeftProvider } from "../../../yjs/index.ts";
import { until } from "../../support/wait.ts";
import { startVersionRefusingRelay, type VersionRefusingRelay } from "../../support/version-refusing-relay.ts";

describe("a provider whose relay speaks another protocol version", () => {
  const folder = mkdtempSync(join(tmpdir(), "weft-yjs-version-refused-"));
  const clients: Client[] = [];
  let refusing: VersionRefusingRelay | undefined;
  let relay: LocalRelay | undefined;
  afterAll(async () => {
    for (const client of clients) await client.close();
    await refusing?.stop();
    await relay?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it("keeps its binding: edits are saved and pushed later, and the error is emitted once", { timeout: 90_000 }, async () => {
    refusing = await startVersionRefusingRelay();
    const identity = createIdentity();
    const client = await createClient({ url: refusing.url, identity, store: new FileLocalStore(folder, { fsync: false }) });
    clients.push(client);
    const group = client.group("notes");
    const docId = group.create({ kind: "yjs" }).id;
    const ydoc = new Y.Doc();
    const provider = new WeftProvider(group, docId, ydoc);
    const errors: Error[] = [];
    provider.on("error", (error) => errors.push(error));
    await provider.loaded;
    ydoc.getText("body").insert(0, "typed before; ");
    await until(() => group.connection.versionRefusal !== undefined, 10_000);
    group.reconnectNow();
    await until(() => refusing!.refusals === 2 && group.status === "offline", 10_000);

    ydoc.getText("body").insert(14, "typed after the refusal");
    await until(() => provider.doc!.transactions().length === 2 && group.allSaved(), 10_000);
    expect(errors.map(String)).toEqual([`RelayError: unsupported_version: ${refusing.message}`]);
    expect(provider.status).toBe("disconnected");

    // Saved: another client on the same folder binds a fresh Y.Doc offline and reads it all.
    const again = await createClient({ url: refusing.url, identity, store: new FileLocalStore(folder, { fsync: false }) });
    const saved = new Y.Doc();
    const savedProvider = new WeftProvider(again.group("notes"), docId, saved);
    await savedProvider.loaded;
    expect(saved.getText("body").toString()).toBe("typed before; typed after the refusal");
    savedProvider.destroy();
    await again.close();

    // A relay of this version serves the URL again: the edits go up, and the provider syncs.
    await refusing.stop();
    relay = await startRelay({ port: refusing.port });
    refusing = undefined;
    group.reconnectNow();
    await group.synced({ signal: AbortSignal.timeout(30_000) });
    await until(() => provider.synced, 10_000);
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    clients.push(reader);
    const read = new Y.Doc();
    const readProvider = new WeftProvider(reader.group("notes"), docId, read);
    await readProvider.loaded;
    expect(read.getText("body").toString()).toBe("typed before; typed after the refusal");
    readProvider.destroy();
    provider.destroy();
    expect(errors).toHaveLength(1);
  });
});
