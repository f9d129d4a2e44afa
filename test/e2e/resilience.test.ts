// End to end through a TCP proxy the test controls: the network is cut, stalled and restored, the relay is
// killed, an app restarts offline. Clients must converge, lose nothing and receive only what they lack.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity, type Client, type Doc } from "../../client/index.ts";
import { countOf, type DocId } from "../../protocol/index.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";
import { sleep, until } from "../support/wait.ts";

const run = promisify(execFile);
const OFFLINE_WRITER = fileURLToPath(new URL("./offline-writer.ts", import.meta.url));
const FAST_RETRY = { baseMs: 50, capMs: 500, minUptimeMs: 1_000 };


describe("through a flaky network", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-resilience-"));
  let relay: RelayProcess;
  let proxy: Proxy;
  const clients: Client[] = [];

  const client = async (url: string) => {
    const created = await createClient({ url, identity: createIdentity(), backoff: FAST_RETRY });
    clients.push(created);
    return created;
  };

  /** What the relay holds of a document, read by a fresh client that connects directly. */
  const relayView = async (group: string, doc: DocId) => {
    const reader = await client(relay.url);
    return reader.group(group).open(doc);
  };

  beforeAll(async () => {
    relay = await startRelay({ persistTo });
    proxy = await startProxy({ port: relay.port });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await proxy?.close();
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it("a writer whose connection is cut every 300 ms ends with every transaction stored exactly once, in order", async () => {
    const writer = await client(proxy.url);
    const doc = writer.group("cuts").create();
    const connectionsBefore = proxy.connections;
    const cutter = setInterval(() => proxy.cut(), 300);
    try {
      for (let i = 0; i < 3_000; i++) {
        doc.append(`w-${i}`);
        if (i % 100 === 99) await sleep(40);
      }
      await doc.synced();
    } finally {
      clearInterval(cutter);
    }
    // The connection really was cut and re-established, several times.
    expect(proxy.connections - connectionsBefore).toBeGreaterThanOrEqual(4);
    const stored = await relayView("cuts", doc.id);
    expect(stored.sessionTransactions(writer.session).map((t) => t.data)).toEqual(Array.from({ length: 3_000 }, (_, i) => `w-${i}`));
  });

  it("after a drop, a client in sync receives only the delta", async () => {
    const writer = await client(relay.url);
    const doc = writer.group("delta").create();
    for (let i = 0; i < 2_000; i++) doc.append(`base-${i}`.padEnd(100, "."));
    await doc.synced();

    const reader = await client(proxy.url);
    const view = await reader.group("delta").open(doc.id);
    expect(view.transactions()).toHaveLength(2_000);

    proxy.down();
    await until(() => reader.group("delta").status === "offline");
    const delta = Array.from({ length: 100 }, (_, i) => `delta-${i}`.padEnd(100, "."));
    for (const data of delta) doc.append(data);
    await doc.synced();

    let received = 0;
    view.subscribe(({ added }) => (received += added.length));
    const before = proxy.bytesToClients;
    const payloadBefore = reader.group("delta").connection.bytesReceived;
    proxy.restore();
    await until(() => view.transactions().length === 2_100);
    await until(() => reader.group("delta").status === "live");
    const bytes = proxy.bytesToClients - before;
    const payload = reader.group("delta").connection.bytesReceived - payloadBefore;

    expect(received).toBe(100);
    const deltaBytes = delta.reduce((sum, data) => sum + data.length, 0);
    // The delta's data plus framing and the handshake; a full resend would be over 200 KB.
    expect(bytes).toBeLessThan(deltaBytes + 8 * 1024);
    // Frames as the SDK decodes them (the wire may be compressed): the delta once, plus under 2 KiB.
    expect(payload).toBeLessThan(deltaBytes + 2 * 1024);
    expect(view.sessionTransactions(writer.session).slice(2_000).map((t) => t.data)).toEqual(delta);
  });

  it("writes made offline survive an app restart and reach the relay when it is back", async () => {
    const storeDir = mkdtempSync(join(tmpdir(), "weft-app-"));
    const secret = exportIdentity(createIdentity());
    try {
      proxy.down();
      const first = await run(process.execPath, [OFFLINE_WRITER, proxy.url, storeDir, secret, "offline", "create", "500"], { timeout: 30_000 });
      const created = JSON.parse(first.stdout) as { doc: DocId; session: string; unsynced: boolean };
      expect(created.unsynced).toBe(true);

      proxy.restore();
      const second = await run(process.execPath, [OFFLINE_WRITER, proxy.url, storeDir, secret, "offline", "sync", created.doc], { timeout: 30_000 });
      const synced = JSON.parse(second.stdout) as { session: string; count: number };
      expect(synced).toMatchObject({ session: created.session, count: 500 });

      const stored = await relayView("offline", created.doc);
      expect(stored.header?.meta).toEqual({ offline: true });
      expect(stored.sessionTransactions(created.session as never).map((t) => t.data)).toEqual(Array.from({ length: 500 }, (_, i) => `offline-${i}`));
    } finally {
      proxy.restore();
      rmSync(storeDir, { recursive: true, force: true });
    }
  });

  it("clients reconnect by themselves after the relay is killed and restarted, and converge", async () => {
    const a = await client(relay.url);
    const b = await client(relay.url);
    const docA = a.group("restart").create();
    docA.append("before-a");
    await docA.synced();
    const docB = await b.group("restart").open(docA.id);

    await relay.kill();
    await until(() => a.group("restart").status === "offline" && b.group("restart").status === "offline");
    docA.append("during-a"); // queued offline
    docB.append("during-b");
    relay = await startRelay({ persistTo, port: relay.port });

    await Promise.all([docA.synced(), docB.synced()]);
    docA.append("after-a");
    await until(() => docA.transactions().length === 4 && docB.transactions().length === 4);
    expect(docA.transactions().map((t) => t.data)).toEqual(docB.transactions().map((t) => t.data));
    expect(new Set(docA.transactions().map((t) => t.data))).toEqual(new Set(["before-a", "during-a", "during-b", "after-a"]));
  });

  it("two clients editing concurrently through cuts and stalls converge to the same state", async () => {
    const a = await client(proxy.url);
    const b = await client(proxy.url);
    const docA = a.group("concurrent").create();
    await docA.synced();
    const docB = await b.group("concurrent").open(docA.id);
    const connectionsBefore = proxy.connections;
    let chaos = 0;
    const troublemaker = setInterval(() => {
      chaos++;
      if (chaos % 3 === 0) proxy.stall();
      else proxy.restore();
      if (chaos % 4 === 0) proxy.cut();
    }, 150);
    try {
      for (let i = 0; i < 1_000; i++) {
        docA.append(`a-${i}`);
        docB.append(`b-${i}`);
        if (i % 50 === 49) await sleep(30);
      }
    } finally {
      clearInterval(troublemaker);
      proxy.restore();
    }
    await Promise.all([docA.synced(), docB.synced()]);
    expect(proxy.connections - connectionsBefore).toBeGreaterThanOrEqual(2);
    const complete = (doc: Doc) => countOf(doc.known, a.session) === 1_000 && countOf(doc.known, b.session) === 1_000;
    await until(() => complete(docA) && complete(docB));
    expect(docA.transactions()).toEqual(docB.transactions());
    expect(docA.sessionTransactions(b.session).map((t) => t.data)).toEqual(Array.from({ length: 1_000 }, (_, i) => `b-${i}`));
  });
});
