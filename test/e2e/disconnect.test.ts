// An app's "work offline" switch: group.disconnect() keeps the group off the relay until group.connect(),
// as y-websocket's provider.disconnect() and connect() do. The real relay (weft/dev's startRelay) behind a
// proxy that counts the connections made to it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Status } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { sleep } from "../support/wait.ts";

/** Retries come fast: a group that tried again would show it within the waits below. */
const BACKOFF = { baseMs: 20, capMs: 50 };

let relay: LocalRelay;
let proxy: Proxy;
let clients: Client[] = [];

beforeAll(async () => {
  relay = await startRelay();
  proxy = await startProxy({ port: Number(new URL(relay.url).port) });
});

afterAll(async () => {
  await proxy?.close();
  await relay?.stop();
});

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

async function client(): Promise<Client> {
  const made = await createClient({ url: proxy.url, identity: createIdentity(), backoff: BACKOFF });
  clients.push(made);
  return made;
}

/** Resolves once `group` reaches `status`. */
function until(group: { status: Status; onStatus(listener: (status: Status) => void): () => void }, status: Status): Promise<void> {
  if (group.status === status) return Promise.resolve();
  return new Promise((resolve) => {
    const off = group.onStatus((now) => {
      if (now !== status) return;
      off();
      resolve();
    });
  });
}

describe("group.disconnect() and connect()", () => {
  it("keeps the group offline, saying why, with no attempt to connect; writes meanwhile wait, and go up at connect()", { timeout: 30_000 }, async () => {
    const writer = (await client()).group("notes");
    const doc = writer.create();
    await doc.synced();
    const reader = (await client()).group("notes");
    const read = await reader.open(doc.id);

    const heard: [Status, string | undefined][] = [];
    writer.onStatus((status, reason) => heard.push([status, reason]));
    writer.disconnect();
    expect(writer.status).toBe("offline");
    expect(heard).toEqual([["offline", "disconnected by the app"]]);
    const connections = proxy.connections;
    doc.append("written offline");
    let synced = false;
    const syncing = doc.synced().then(() => (synced = true));
    writer.reconnectNow(); // does not override the app's disconnect
    await sleep(500);
    expect(proxy.connections).toBe(connections);
    expect(writer.status).toBe("offline");
    expect(synced).toBe(false);
    expect(read.transactions().map((transaction) => transaction.data)).toEqual([]);

    writer.connect();
    await syncing;
    await until(writer, "live");
    expect(proxy.connections).toBe(connections + 1);
    await new Promise<void>((resolve) => {
      const off = read.subscribe(() => {
        if (read.transactions().length === 0) return;
        off();
        resolve();
      });
      if (read.transactions().length > 0) resolve();
    });
    expect(read.transactions().map((transaction) => transaction.data)).toEqual(["written offline"]);
  });

  it("takes the group's presence from the others' view, and shows it again at connect()", { timeout: 30_000 }, async () => {
    const alice = (await client()).group("presence");
    const doc = alice.create();
    await doc.synced();
    const bob = (await client()).group("presence");
    const seen = await bob.open(doc.id);
    let peers = 0;
    seen.presence.subscribe((now) => (peers = now.size));
    const shows = (count: number) => new Promise<void>((resolve) => {
      if (peers === count) return resolve();
      const off = seen.presence.subscribe((now) => {
        if (now.size !== count) return;
        queueMicrotask(off);
        resolve();
      });
    });
    doc.presence.set({ name: "Alice" });
    await shows(1);
    alice.disconnect();
    await shows(0);
    alice.connect();
    await shows(1);
  });

  it("keeps a group disconnected before its first attempt idle, never connecting until connect()", { timeout: 30_000 }, async () => {
    const app = await client();
    const connections = proxy.connections;
    const group = app.group("drafts");
    group.disconnect();
    const doc = group.create();
    doc.append("a draft");
    await sleep(300);
    expect(group.status).toBe("idle");
    expect(proxy.connections).toBe(connections);
    group.connect();
    await doc.synced();
    expect(group.status).toBe("live");
  });

  it("client.disconnect() takes every group offline, and those made meanwhile, until client.connect()", { timeout: 30_000 }, async () => {
    const app = await client();
    const before = app.group("before");
    const doc = before.create();
    await doc.synced();
    app.disconnect();
    const after = app.group("after");
    const draft = after.create();
    draft.append("a draft");
    doc.append("an edit");
    const connections = proxy.connections;
    await sleep(300);
    expect([before.status, after.status]).toEqual(["offline", "idle"]);
    expect(proxy.connections).toBe(connections);
    app.connect();
    await Promise.all([doc.synced(), draft.synced()]);
    expect([before.status, after.status]).toEqual(["live", "live"]);
  });

  it("stays down through a network that comes back, and does nothing once the group is closed", { timeout: 30_000 }, async () => {
    const group = (await client()).group("cut");
    await until(group, "live");
    proxy.cut(); // the connection drops by itself: the group is trying again
    group.disconnect();
    const connections = proxy.connections;
    await sleep(300);
    expect(proxy.connections).toBe(connections);
    expect(group.status).toBe("offline");
    group.close();
    group.connect();
    group.disconnect();
    expect(group.status).toBe("closed");
  });
});
