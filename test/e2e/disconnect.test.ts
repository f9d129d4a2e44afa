// An app's "work offline" switch: group.disconnect() keeps the group off the relay until group.connect(),
// as y-websocket's provider.disconnect() and connect() do. The real relay (weft/dev's startRelay) behind a
// proxy that counts the connections made to it.
import { afterEach, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Status } from "../../client/index.ts";
import { relayBehindProxy } from "../support/relay-behind-proxy.ts";
import { sleep, statusOf } from "../support/wait.ts";

/** Retries come fast: a group that tried again would show it within the waits below. */
const BACKOFF = { baseMs: 20, capMs: 50 };

const scene = relayBehindProxy("weft-disconnect-");
let clients: Client[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

async function client(): Promise<Client> {
  const made = await createClient({ url: scene.proxy.url, identity: createIdentity(), backoff: BACKOFF });
  clients.push(made);
  return made;
}

/** A document the relay holds, written by one client's group and open in another client's. */
async function writerAndReader(group: string) {
  const writer = (await client()).group(group);
  const doc = writer.create();
  await doc.synced();
  const read = await (await client()).group(group).open(doc.id);
  return { writer, doc, read };
}

/** Resolves once `holds()`, checked now and at each call of a listener given to `subscribe`. */
function whenSeen(subscribe: (listener: () => void) => () => void, holds: () => boolean): Promise<void> {
  if (holds()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = subscribe(() => {
      if (!holds()) return;
      queueMicrotask(() => off()); // a listener may be called before subscribe returns
      resolve();
    });
  });
}

describe("group.disconnect() and connect()", () => {
  it("keeps the group offline, saying why, with no attempt to connect; writes meanwhile wait, and go up at connect()", { timeout: 30_000 }, async () => {
    const { writer, doc, read } = await writerAndReader("notes");

    const heard: [Status, string | undefined][] = [];
    writer.onStatus((status, reason) => heard.push([status, reason]));
    writer.disconnect();
    expect(writer.status).toBe("offline");
    expect(heard).toEqual([["offline", "disconnected by the app"]]);
    const connections = scene.proxy.connections;
    doc.append("written offline");
    let synced = false;
    const syncing = doc.synced().then(() => (synced = true));
    writer.reconnectNow(); // does not override the app's disconnect
    await sleep(500);
    expect(scene.proxy.connections).toBe(connections);
    expect(writer.status).toBe("offline");
    expect(synced).toBe(false);
    expect(read.transactions().map((transaction) => transaction.data)).toEqual([]);

    writer.connect();
    await syncing;
    await statusOf(writer, "live");
    expect(scene.proxy.connections).toBe(connections + 1);
    await whenSeen(read.subscribe.bind(read), () => read.transactions().length > 0);
    expect(read.transactions().map((transaction) => transaction.data)).toEqual(["written offline"]);
  });

  it("takes the group's presence from the others' view, and shows it again at connect()", { timeout: 30_000 }, async () => {
    const { writer: alice, doc, read: seen } = await writerAndReader("presence");
    let peers = 0;
    seen.presence.subscribe((now) => (peers = now.size));
    const shows = (count: number) => whenSeen(seen.presence.subscribe.bind(seen.presence), () => peers === count);
    doc.presence.set({ name: "Alice" });
    await shows(1);
    alice.disconnect();
    await shows(0);
    alice.connect();
    await shows(1);
  });

  it("keeps a group disconnected before its first attempt idle, never connecting until connect()", { timeout: 30_000 }, async () => {
    const app = await client();
    const connections = scene.proxy.connections;
    const group = app.group("drafts");
    group.disconnect();
    const doc = group.create();
    doc.append("a draft");
    await sleep(300);
    expect(group.status).toBe("idle");
    expect(scene.proxy.connections).toBe(connections);
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
    const connections = scene.proxy.connections;
    await sleep(300);
    expect([before.status, after.status]).toEqual(["offline", "idle"]);
    expect(scene.proxy.connections).toBe(connections);
    app.connect();
    await Promise.all([doc.synced(), draft.synced()]);
    expect([before.status, after.status]).toEqual(["live", "live"]);
  });

  it("stays down through a network that comes back, and does nothing once the group is closed", { timeout: 30_000 }, async () => {
    const group = (await client()).group("cut");
    await statusOf(group, "live");
    scene.proxy.cut(); // the connection drops by itself: the group is trying again
    group.disconnect();
    const connections = scene.proxy.connections;
    await sleep(300);
    expect(scene.proxy.connections).toBe(connections);
    expect(group.status).toBe("offline");
    group.close();
    group.connect();
    group.disconnect();
    expect(group.status).toBe("closed");
  });
});
