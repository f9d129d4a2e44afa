// Issue 9, item 9: a connection that fails says why, to status listeners and onError, with Node's real
// WebSocket against real sockets on 127.0.0.1: nothing listening, and a server answering 404.
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { ConnectionError, createClient, createIdentity, type Client, type Status } from "../../../client/index.ts";
import { freePort } from "../../support/relay-process.ts";

const clients: Client[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** The first offline status (with its reason) and the first error a fresh client hears at `url`. */
async function firstFailure(url: string, fetch?: typeof globalThis.fetch): Promise<{ reason: string | undefined; error: unknown }> {
  const client = await createClient({ url, identity: createIdentity(), backoff: { baseMs: 60_000, capMs: 60_000, minUptimeMs: 0 }, ...(fetch && { fetch }) });
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
    const { reason, error } = await firstFailure(`http://127.0.0.1:${port}`, (async () => undefined) as unknown as typeof fetch);
    expect(reason).toBe("unreachable: createClient's fetch gave undefined, not a Response");
    expect((error as ConnectionError).failure).toEqual({ kind: "unreachable", detail: "createClient's fetch gave undefined, not a Response" });
  });

  it("a url without a scheme throws at once, where the app can catch it", () => {
    expect(() => createClient({ url: "127.0.0.1:8787", identity: createIdentity() })).toThrow(/not a URL|scheme/);
  });
});
