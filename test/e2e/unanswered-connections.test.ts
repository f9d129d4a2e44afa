// A relay's address that stops answering, through a proxy the test controls in front of a real relay: a
// socket whose opening nothing answers (a stalled load balancer, a handshake lost on the way) and an open
// one gone silent. Each is a failed attempt the app hears of, and the group comes back once the relay
// answers again; none stays connecting for good.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConnectionError, createClient, createIdentity, type Client, type ClientOptions, type Group, type Status } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { sleep, until } from "../support/wait.ts";

const FAST_RETRY = { baseMs: 50, capMs: 200, minUptimeMs: 0 };

describe("a relay's address that stops answering", () => {
  let relay: LocalRelay;
  let proxy: Proxy;
  const clients: Client[] = [];

  beforeAll(async () => {
    relay = await startRelay();
    proxy = await startProxy({ port: Number(new URL(relay.url).port) });
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.close();
    proxy.restore();
  });
  afterAll(async () => {
    await proxy?.close();
    await relay?.stop();
  });

  /** A group through the proxy, with what its status listeners and onError hear. */
  async function watchedGroup(options: Partial<ClientOptions>): Promise<{ group: Group; statuses: [Status, string | undefined][]; errors: Error[] }> {
    const client = await createClient({ url: proxy.url, identity: createIdentity(), backoff: FAST_RETRY, ...options });
    clients.push(client);
    const group = client.group(`unanswered-${clients.length}-${Date.now()}`);
    const statuses: [Status, string | undefined][] = [];
    const errors: Error[] = [];
    group.onStatus((status, reason) => statuses.push([status, reason]));
    group.onError((error) => errors.push(error));
    return { group, statuses, errors };
  }

  it("gives up on a socket whose opening nothing answers after connectTimeoutMs, tells onError, and syncs once the relay answers", async () => {
    proxy.blackhole();
    const connectionsBefore = proxy.connections;
    const { group, statuses, errors } = await watchedGroup({ connectTimeoutMs: 300 });
    let synced = false;
    void group.create().synced().then(() => (synced = true), () => {});
    const expected = "unreachable: the WebSocket did not open within 300 ms";
    await until(() => statuses.some(([status, reason]) => status === "offline" && reason === expected), 10_000);
    expect(errors[0]).toBeInstanceOf(ConnectionError);
    expect(errors[0]!.message).toBe(expected);
    // Tried again after the backoff, and given up on again: each attempt is one more connection taken.
    await until(() => proxy.connections >= connectionsBefore + 3, 10_000);
    expect(synced).toBe(false);

    proxy.restore();
    await until(() => synced, 20_000);
    expect(group.status).toBe("live");
  });

  it("a status listener calling reconnectNow() at every status but live: the group syncs, and the process goes on", async () => {
    const { group } = await watchedGroup({});
    group.onStatus((status) => status !== "live" && group.reconnectNow());
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      await group.create().synced();
      await until(() => ticks > 2, 10_000); // timers still fire: nothing spins within one task
    } finally {
      clearInterval(timer);
    }
    expect(group.status).toBe("live");
  });

  it("drops an open connection that answers no ping, with a reason, and tells onError as any dropped connection", async () => {
    const { group, statuses, errors } = await watchedGroup({ pingIntervalMs: 200, pingTimeoutMs: 400 });
    await group.create().synced();
    await until(() => group.status === "live", 10_000);

    proxy.stall();
    const expected = "unreachable: no answer to a ping within 400 ms";
    await until(() => statuses.some(([status]) => status === "offline"), 10_000);
    expect(statuses.find(([status]) => status === "offline")).toEqual(["offline", expected]);
    expect(errors.map((error) => error.message)).toEqual([expected]);

    proxy.restore();
    await until(() => group.status === "live", 20_000);
  });

  it("a socket still opening gets its deadline again when a sibling group is welcomed: the relay answers, and a browser opens one socket to a host at a time", async () => {
    // The "waiting" group's socket goes to a second proxy that never answers, as a socket queued behind
    // others in a browser would wait; the other group's goes to the relay.
    const queue = await startProxy({ port: Number(new URL(relay.url).port) });
    queue.blackhole();
    const waitingUrl = queue.url.replace(/^http/, "ws");
    class Routed extends WebSocket {
      constructor(url: string | URL) {
        const href = String(url);
        super(href.includes("/groups/waiting/") ? href.replace(/^ws:\/\/[^/]+/, waitingUrl) : href);
      }
    }
    const timeoutMs = 4_000;
    const client = await createClient({ url: relay.url, identity: createIdentity(), backoff: FAST_RETRY, connectTimeoutMs: timeoutMs, WebSocket: Routed });
    clients.push(client);
    try {
      const waiting = client.group("waiting");
      let gaveUpAt = 0;
      waiting.onStatus((status) => void (status === "offline" && (gaveUpAt ||= performance.now())));
      await until(() => queue.connections > 0, 10_000);
      await sleep(1_000); // a quarter of its deadline spent waiting
      const other = client.group("answered");
      await other.create().synced();
      const welcomedAt = performance.now();
      expect(waiting.status).toBe("connecting");
      await until(() => gaveUpAt > 0, 3 * timeoutMs);
      // Given up a whole deadline after the sibling's welcome (without it, at the first deadline: a second
      // sooner). welcomedAt is taken once the sibling's write is acked, a round trip after the welcome that
      // restarted the deadline: a loaded machine made that 5 ms, so the margin is well inside the second.
      expect(gaveUpAt - welcomedAt).toBeGreaterThanOrEqual(timeoutMs - 250);
    } finally {
      await client.close();
      await queue.close();
    }
  });
});
