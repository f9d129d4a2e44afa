// Issue 9, item 9: a connection that fails says why, to status listeners and onError, with Node's real
// WebSocket against real sockets on 127.0.0.1: nothing listening, a server answering 404, and one that
// takes the connection and never answers.
import { createServer } from "node:http";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ClosedError, ConnectionError, createClient, createIdentity, type Client, type ClientOptions, type Status } from "../../../client/index.ts";
import { freePort } from "../../support/relay-process.ts";
import { until } from "../../support/wait.ts";

const clients: Client[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** The first offline status (with its reason) and the first error a fresh client hears at `url`. */
async function firstFailure(url: string, options: Partial<ClientOptions> = {}): Promise<{ reason: string | undefined; error: unknown }> {
  const client = await createClient({ url, identity: createIdentity(), backoff: { baseMs: 60_000, capMs: 60_000, minUptimeMs: 0 }, ...options });
  clients.push(client);
  const group = client.group("g1");
  const errors: unknown[] = [];
  group.onError((error) => errors.push(error));
  const reason = await new Promise<string | undefined>((resolve) => group.onStatus((status: Status, why) => status === "offline" && resolve(why)));
  return { reason, error: errors[0] };
}

describe("connection failures carry a reason", () => {
  it("nothing listening: connection refused", async () => {
    const port = await freePort();
    const { reason, error } = await firstFailure(`http://127.0.0.1:${port}`);
    expect(reason).toBe(`connection refused: nothing listens at 127.0.0.1:${port}`);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).failure).toEqual({ kind: "refused", detail: `nothing listens at 127.0.0.1:${port}` });
  });

  it("a page server at the relay's address (a wrong port): told it is not a relay, with the start of its page", async () => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end(`<!doctype html><html><head><title>my app</title></head><body>${"<p>page</p>".repeat(100)}</body></html>`);
    });
    servers.push(server);
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const { reason, error } = await firstFailure(`http://127.0.0.1:${port}`);
    expect(reason).toMatch(/^HTTP 200: not a Weft relay \(a page server's port\?\): <!doctype html><html><head><title>my app/);
    expect((error as ConnectionError).failure).toMatchObject({ kind: "http", status: 200 });
    expect(((error as ConnectionError).failure as { body: string }).body.length).toBe(300);
  });

  it("a server that answers 404: the status and the body", async () => {
    const server = createServer((_request, response) => {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("no such route");
    });
    servers.push(server);
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const { reason, error } = await firstFailure(`http://127.0.0.1:${port}/wrong/path`);
    expect(reason).toBe("HTTP 404: no such route");
    expect((error as ConnectionError).failure).toEqual({ kind: "http", status: 404, body: "no such route" });
  });

  it("an app's fetch that answers no Response: the option named, and what it gave", async () => {
    const port = await freePort();
    const { reason, error } = await firstFailure(`http://127.0.0.1:${port}`, { fetch: (async () => undefined) as unknown as typeof fetch });
    expect(reason).toBe("unreachable: createClient's fetch gave undefined, not a Response");
    expect((error as ConnectionError).failure).toEqual({ kind: "unreachable", detail: "createClient's fetch gave undefined, not a Response" });
  });

  it("a server that takes the connection and never answers: given up after connectTimeoutMs, told, tried again, and synced() settles when the client closes", async () => {
    const accepted: Socket[] = [];
    const silent = createTcpServer((socket) => accepted.push(socket.on("error", () => {})));
    servers.push(silent);
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
    try {
      const client = await createClient({ url: `http://127.0.0.1:${port}`, identity: createIdentity(), connectTimeoutMs: 200, backoff: { baseMs: 50, capMs: 100, minUptimeMs: 0 } });
      const group = client.group("g1");
      const reasons: (string | undefined)[] = [];
      const errors: unknown[] = [];
      group.onStatus((status, reason) => status === "offline" && reasons.push(reason));
      group.onError((error) => errors.push(error));
      const settled = group.create().synced().then(() => "synced", (error: unknown) => error);
      await until(() => accepted.length >= 3 && errors.length >= 2, 10_000);
      expect(reasons[0]).toBe("unreachable: the WebSocket did not open within 200 ms");
      expect(errors[0]).toBeInstanceOf(ConnectionError);
      expect((errors[0] as ConnectionError).failure).toEqual({ kind: "unreachable", detail: "the WebSocket did not open within 200 ms" });
      await client.close();
      expect(await settled).toBeInstanceOf(ClosedError);
    } finally {
      for (const socket of accepted) socket.destroy();
    }
  });

  it("a WebSocket class whose constructor gives back something else: each attempt fails and is told, nothing is thrown", async () => {
    // Shaped like a WebSocket class, so createClient takes it; what it makes is a plain object.
    class Impostor extends EventTarget {
      constructor() {
        super();
        return {} as Impostor;
      }
      send(): void {}
      close(): void {}
    }
    const { reason, error } = await firstFailure("http://127.0.0.1:9", { WebSocket: Impostor as unknown as typeof WebSocket });
    expect(reason).toBe("unreachable: the WebSocket option made an object without addEventListener");
    expect(error).toBeInstanceOf(ConnectionError);
  });

  it("a url without a scheme throws at once, where the app can catch it", () => {
    expect(() => createClient({ url: "127.0.0.1:8787", identity: createIdentity() })).toThrow(/not a URL|scheme/);
  });
});
