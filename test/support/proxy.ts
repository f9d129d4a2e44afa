// A TCP proxy on 127.0.0.1 that a test controls, to cut, stall and restore the network between
// clients and the relay. It counts the bytes it forwards from the relay to the clients, and may hold every
// chunk a while each way (`delayMs`), as a relay far away would.
import { createServer, connect, type Server, type Socket } from "node:net";

export type Proxy = {
  url: string;
  /** Destroys every open connection, both ways (clients see the socket drop). */
  cut(): void;
  /** Refuses new connections and cuts the open ones until `restore()`. */
  down(): void;
  /** Holds traffic in both directions (a stalled network: nothing arrives, nothing closes). */
  stall(): void;
  /** Holds what the relay sends while what clients send goes through (answers lost on the way, once cut). */
  holdReplies(): void;
  /**
   * Takes new connections and never answers nor closes them, even after `restore()` (a stalled load
   * balancer, a handshake lost on the way): a client gives up on them itself, or they last until `close()`.
   */
  blackhole(): void;
  /** Back to normal: accepts connections and releases held traffic (not what went into the black hole). */
  restore(): void;
  /** Bytes forwarded from the relay to clients since the proxy started. */
  readonly bytesToClients: number;
  readonly connections: number;
  close(): Promise<void>;
};

/** Passes `chunk` on to `to`, after `delayMs` if any (chunks keep their order: timers of one delay fire in turn). */
function forward(to: Socket, chunk: Buffer, delayMs: number): void {
  if (delayMs <= 0) to.write(chunk);
  else setTimeout(() => to.writable && to.write(chunk), delayMs);
}

export async function startProxy(target: { host?: string; port: number }, { delayMs = 0 }: { delayMs?: number } = {}): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  let stalled = false;
  let holdingReplies = false;
  let blackholing = false;
  const swallowed = new Set<Socket>();
  let bytesToClients = 0;
  let connections = 0;

  const server: Server = createServer((client) => {
    if (refusing) return client.destroy();
    connections++;
    if (blackholing) {
      swallowed.add(client.on("error", () => {}).on("close", () => swallowed.delete(client)));
      return;
    }
    const upstream = connect(target.port, target.host ?? "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    if (stalled) {
      client.pause();
      upstream.pause();
    }
    if (holdingReplies) upstream.pause();
    client.on("data", (chunk: Buffer) => forward(upstream, chunk, delayMs));
    upstream.on("data", (chunk: Buffer) => {
      bytesToClients += chunk.length;
      forward(client, chunk, delayMs);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address !== "object") throw new Error("proxy has no address");

  const cut = () => {
    for (const [client, upstream] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    url: `http://127.0.0.1:${address.port}`,
    cut,
    down() {
      refusing = true;
      cut();
    },
    stall() {
      stalled = true;
      for (const [client, upstream] of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    holdReplies() {
      holdingReplies = true;
      for (const [, upstream] of pairs) upstream.pause();
    },
    blackhole() {
      blackholing = true;
    },
    restore() {
      refusing = false;
      blackholing = false;
      stalled = false;
      holdingReplies = false;
      for (const [client, upstream] of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    get bytesToClients() {
      return bytesToClients;
    },
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        for (const client of swallowed) client.destroy();
        server.close(() => resolve());
      }),
  };
}
