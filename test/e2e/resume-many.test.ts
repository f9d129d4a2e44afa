// Resume of a client holding more documents than one `open` frame can list (issue 9, item 5): past about
// 6,800 documents the reconnect `open` no longer fit a frame, the relay closed with 1009 and the client
// looped. The SDK now opens in parts by id range (protocol/open-parts.ts), each answered on its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Doc } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/index.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { until } from "../support/wait.ts";

const FAST_RETRY = { baseMs: 50, capMs: 500, minUptimeMs: 1_000 };
const HELD = 20_000;

describe("resume of many documents", () => {
  let relay: LocalRelay;
  let proxy: Proxy;
  const clients: Client[] = [];

  beforeAll(async () => {
    relay = await startRelay();
    proxy = await startProxy({ port: Number(new URL(relay.url).port) });
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await proxy?.close();
    await relay?.stop();
  });

  it(`a client holding ${HELD.toLocaleString("en")} documents reconnects and resumes, then hears live writes`, async () => {
    const owner = await createClient({ url: proxy.url, identity: createIdentity(), backoff: FAST_RETRY });
    clients.push(owner);
    const group = owner.group("many");
    const docs: Doc[] = [];
    for (let i = 0; i < HELD; i++) {
      const doc = group.create({ kind: "json" });
      doc.append(`first-${i}`);
      docs.push(doc);
    }
    await Promise.all(docs.map((doc) => doc.synced()));
    expect((await group.openAll()).length).toBeGreaterThanOrEqual(HELD);

    const connectionsBefore = proxy.connections;
    proxy.cut();
    await until(() => proxy.connections > connectionsBefore && group.status === "live", 60_000);

    // Resumed for real: a write from another client to one of the held documents reaches the owner live.
    const other = await createClient({ url: relay.url, identity: createIdentity(), backoff: FAST_RETRY });
    clients.push(other);
    const target = docs[HELD - 1]!;
    const theirs = await other.group("many").open(target.id);
    theirs.append("from-the-other-side");
    await theirs.synced();
    await until(() => target.transactions().some((transaction) => transaction.data === "from-the-other-side"), 30_000);

    // And it did not loop: one reconnect, not one per backoff round.
    expect(proxy.connections - connectionsBefore).toBeLessThanOrEqual(2);
    expect(group.status).toBe("live");
  }, 180_000);
});
