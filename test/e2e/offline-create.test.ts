// End to end, issue 9 item 4: a document created while offline, after openAll(), reaches the real relay
// when the connection comes back, and the group goes live again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Status } from "../../client/index.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";

const reach = (group: { status: Status; onStatus(listener: (status: Status) => void): () => void }, status: Status) =>
  new Promise<void>((resolve) => {
    if (group.status === status) return resolve();
    const off = group.onStatus((now) => now === status && (off(), resolve()));
  });

describe("offline after openAll()", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-offline-create-"));
  let relay: RelayProcess | undefined;
  let proxy: Proxy | undefined;
  const clients: Client[] = [];

  afterAll(async () => {
    for (const client of clients) await client.close();
    await proxy?.close();
    await relay?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("a document created offline is stored by the relay on reconnect, and the group goes live", async () => {
    relay = await startRelay({ persistTo });
    proxy = await startProxy({ port: relay.port });
    const alice = await createClient({ url: proxy.url, identity: createIdentity(), backoff: { baseMs: 50, capMs: 200 } });
    clients.push(alice);
    const group = alice.group("offline-create");
    const first = group.create();
    first.append("online");
    await group.synced();
    await group.openAll();
    await reach(group, "live");

    proxy.down();
    await reach(group, "offline");
    const created = group.create();
    created.append("created offline");
    proxy.restore();
    await created.synced({ signal: AbortSignal.timeout(30_000) });
    await reach(group, "live");

    const bob = await createClient({ url: relay.url, identity: createIdentity() });
    clients.push(bob);
    const seen = await bob.group("offline-create").open(created.id);
    expect(seen.transactions().map((transaction) => transaction.data)).toEqual(["created offline"]);
  });
});
