// The relay as a library: an app's own Worker (test/worker/fixtures/app-worker.ts) mounts Weft under /sync
// and configures it in code. Run in workerd through Miniflare, driven by the SDK.
import { build } from "esbuild";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client } from "../../client/index.ts";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS } from "../../dev/start-relay.ts";
import { COMPRESS_MIN_BYTES } from "../../protocol/index.ts";
import { mintToken } from "../../tokens/index.ts";
import { until } from "../support/wait.ts";

const SECRET = "the app's own secret, long enough for HS256";

/**
 * An app's Worker (a file of test/worker/fixtures), bundled as an app would and run in workerd with the given
 * compatibility flags, its object class bound as `binding`.
 */
async function startAppWorker(compatibilityFlags: readonly string[], fixture = "app-worker.ts", binding = "SYNC", bindings: Record<string, string> = { MY_APP_SECRET: SECRET }, useSQLite = true): Promise<Miniflare> {
  const bundled = await build({
    entryPoints: [fileURLToPath(new URL(`../worker/fixtures/${fixture}`, import.meta.url))],
    bundle: true, format: "esm", platform: "neutral", target: "es2022", external: ["cloudflare:*", "node:*"], write: false, logLevel: "warning",
  });
  return new Miniflare(
    convertV4MiniflareOptions({
      name: "app",
      modules: true,
      script: bundled.outputFiles[0]!.text,
      compatibilityDate: RELAY_COMPATIBILITY_DATE,
      compatibilityFlags: [...compatibilityFlags],
      durableObjects: { [binding]: { className: "SyncGroups", useSQLite } },
      bindings,
      host: "127.0.0.1",
      port: 0,
    }),
  );
}

/** The relay at `url` answers its health check 500 `misconfigured` with `problem`, and lets a client without a token no further than `unauthorized`. */
async function expectLockedOut(url: string, problem: RegExp): Promise<void> {
  const health = await fetch(`${url}/v1/health`);
  expect(health.status).toBe(500);
  expect(await health.json()).toEqual({ error: "misconfigured", message: expect.stringMatching(problem) });
  const client = await createClient({ url, identity: createIdentity(), getToken: () => undefined });
  try {
    const group = client.group("team");
    await until(() => group.status === "closed", 10_000);
    expect(group.connection.closeReason).toMatch(/^unauthorized/);
  } finally {
    client.close();
  }
}

describe("an app's Worker that mounts Weft", () => {
  let miniflare: Miniflare;
  let origin: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    miniflare = await startAppWorker(RELAY_COMPATIBILITY_FLAGS);
    origin = (await miniflare.ready).origin;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await miniflare?.dispose();
  });

  it("serves its own routes beside the relay's", async () => {
    expect(await (await fetch(`${origin}/`)).text()).toBe("the app's own page");
    expect(await (await fetch(`${origin}/sync/v1/health`)).json()).toMatchObject({ ok: true });
  });

  it("admits clients with tokens signed with the secret the app passed in, and refuses those without", async () => {
    const url = `${origin}/sync`;
    const alice = createIdentity();
    const writer = await createClient({ url, identity: alice, getToken: (group) => mintToken({ agent: alice.agent, group, role: "writer", expiresIn: 600 }, SECRET) });
    clients.push(writer);
    const doc = writer.group("team").create({});
    doc.append("through the app's Worker");
    await doc.synced();
    expect(writer.group("team").role).toBe("writer");

    // The secret is not in WEFT_TOKEN_SECRET, where the relay would look by default: had the app's config
    // not been used, the relay would be open and this client would get in.
    const stranger = await createClient({ url, identity: createIdentity() });
    clients.push(stranger);
    const group = stranger.group("team");
    await until(() => group.connection.closeReason !== undefined, 10_000);
    expect(group.connection.closeReason).toMatch(/^unauthorized/);
  });
});

// The relay compresses large frames with node:zlib, which workerd has only with the nodejs_compat flag. An
// app's Worker need not set it: the relay then sends every frame plain, and its clients read them.
describe("an app's Worker that mounts Weft without the nodejs_compat flag", () => {
  let miniflare: Miniflare;
  let origin: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    miniflare = await startAppWorker([]);
    origin = (await miniflare.ready).origin;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await miniflare?.dispose();
  });

  it("serves an SDK client a large document whole, in plain frames although the client offered to inflate", { timeout: 30_000 }, async () => {
    expect(await (await fetch(`${origin}/sync/v1/health`)).json()).toMatchObject({ ok: true });
    const url = `${origin}/sync`;
    const client = async () => {
      const identity = createIdentity();
      const made = await createClient({ url, identity, getToken: (group) => mintToken({ agent: identity.agent, group, role: "writer", expiresIn: 600 }, SECRET) });
      clients.push(made);
      return made;
    };
    const writer = await client();
    const doc = writer.group("big").create({ kind: "json" });
    // About 150 KB of JSON ops: the answer to a load is many frames of COMPRESS_MIN_BYTES and up.
    const written = Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ op: "insert", pos: i, text: "k", client: 3918227512 }));
    for (const data of written) doc.append(data);
    await doc.synced();

    const reader = await client();
    const view = await reader.group("big").open(doc.id);
    expect(view.transactions().map((tx) => tx.data)).toEqual(written);
    // The reader's hello offered deflate-raw (the SDK's default), yet every byte of the data came as it is:
    // compressed, these ops would take under a third of the bytes (test/e2e/compressed-frames.test.ts).
    const bytes = written.reduce((sum, data) => sum + data.length, 0);
    expect(bytes).toBeGreaterThan(30 * COMPRESS_MIN_BYTES);
    expect(reader.group("big").connection.bytesReceived).toBeGreaterThan(bytes);
  });
});

describe("an app's Worker that mounts Weft at its root", () => {
  let miniflare: Miniflare;
  let origin: string;
  let client: Client | undefined;

  beforeAll(async () => {
    miniflare = await startAppWorker(RELAY_COMPATIBILITY_FLAGS, "app-worker-at-root.ts");
    origin = (await miniflare.ready).origin;
  });

  afterAll(async () => {
    client?.close();
    await miniflare?.dispose();
  });

  it("keeps the app's own answers to itself: only the relay's are readable from any origin", async () => {
    const headerOf = async (path: string) => {
      const res = await fetch(`${origin}${path}`, { headers: { Origin: "https://elsewhere.example" } });
      await res.body?.cancel();
      return [path, res.status, res.headers.get("access-control-allow-origin")];
    };
    expect(await Promise.all(["/api/private", "/api/fails", "/no-such-page", "/v1/health", "/v1/groups/g/ws"].map(headerOf))).toEqual([
      ["/api/private", 200, null],
      ["/api/fails", 500, null],
      ["/no-such-page", 404, null],
      ["/v1/health", 200, "*"],
      ["/v1/groups/g/ws", 426, "*"],
    ]);
    const identity = createIdentity();
    client = await createClient({ url: origin, identity });
    const doc = client.group("root").create({});
    doc.append("through the root mount");
    await doc.synced();
  });
});

describe("an app's Worker whose config names the group objects' binding otherwise than its code reads it", () => {
  let miniflare: Miniflare;
  let origin: string;
  let client: Client | undefined;

  beforeAll(async () => {
    miniflare = await startAppWorker(RELAY_COMPATIBILITY_FLAGS, "app-worker-at-root.ts", "GROUPS");
    origin = (await miniflare.ready).origin;
  });

  afterAll(async () => {
    client?.close();
    await miniflare?.dispose();
  });

  it("answers its health check and every socket with a 500 that names the binding, which the SDK's client hears", async () => {
    const health = await fetch(`${origin}/v1/health`);
    expect(health.status).toBe(500);
    expect(await health.json()).toEqual({ error: "misconfigured", message: expect.stringMatching(/groups\(env\) gave undefined, not a Durable Object namespace/) });

    client = await createClient({ url: origin, identity: createIdentity() });
    const group = client.group("team");
    const heard: string[] = [];
    group.onError((error) => heard.push(error.message));
    await until(() => heard.length > 0, 10_000);
    expect(heard[0]).toMatch(/HTTP 500: .*misconfigured.*name the binding in the Worker's wrangler config/);
  });
});

describe("an app's Worker whose secret was never put (its binding missing)", () => {
  let miniflare: Miniflare;
  let origin: string;

  beforeAll(async () => {
    miniflare = await startAppWorker(RELAY_COMPATIBILITY_FLAGS, "app-worker.ts", "SYNC", {});
    origin = (await miniflare.ready).origin;
  });

  afterAll(async () => {
    await miniflare?.dispose();
  });

  it("answers the health check of the config passed to relayRoutes with a 500 that names the key, and lets no one in", async () => {
    await expectLockedOut(`${origin}/sync`, /^the relay's configuration has a problem, and no one gets in: WEFT_TOKEN_SECRET is given as undefined: the binding passed for it/);
  });
});

describe("an app's Worker that builds its config in code with an HS256 secret too short", () => {
  let miniflare: Miniflare;
  let origin: string;

  beforeAll(async () => {
    miniflare = await startAppWorker(RELAY_COMPATIBILITY_FLAGS, "app-worker-code-config.ts", "SYNC", { MY_APP_SECRET: "hunter2" });
    origin = (await miniflare.ready).origin;
  });

  afterAll(async () => {
    await miniflare?.dispose();
  });

  it("answers its health check with a 500 that names the secret, as the group objects, which let no one in", async () => {
    // Its open groups would have let a hello without a token in.
    await expectLockedOut(`${origin}/sync`, /^the relay's configuration has a problem, and no one gets in: the HS256 secret of RelayConfig\.tokens .*tokens cannot be checked/);
  });
});

describe("an app's Worker whose object class was bound without SQLite storage (new_classes)", () => {
  let miniflare: Miniflare;
  let origin: string;

  beforeAll(async () => {
    miniflare = await startAppWorker(RELAY_COMPATIBILITY_FLAGS, "app-worker.ts", "SYNC", { MY_APP_SECRET: SECRET }, false);
    origin = (await miniflare.ready).origin;
  });

  afterAll(async () => {
    await miniflare?.dispose();
  });

  it("says so in its health check before any socket came: the check asks an object", async () => {
    const health = await fetch(`${origin}/sync/v1/health`);
    expect(health.status).toBe(500);
    expect(await health.json()).toEqual({ error: "misconfigured", message: expect.stringMatching(/^the relay's Durable Object class has no SQLite storage: bind it under new_sqlite_classes/) });
  });

  it("answers a socket with a 500 that says how to bind the class, which the SDK's client hears, and so does its health check", async () => {
    const identity = createIdentity();
    const client = await createClient({ url: `${origin}/sync`, identity, getToken: (group) => mintToken({ agent: identity.agent, group, role: "writer", expiresIn: 600 }, SECRET) });
    try {
      const group = client.group("team");
      const heard: string[] = [];
      const statuses: string[] = [group.status];
      group.onError((error) => heard.push(error.message));
      group.onStatus((status) => statuses.push(status));
      await until(() => heard.length > 0 && statuses.includes("offline"), 10_000);
      expect(heard[0]).toMatch(/HTTP 500: .*misconfigured.*no SQLite storage: bind it under new_sqlite_classes/);
      // Offline after the refusal, and never online (it tries again after its backoff, and is refused again).
      expect(statuses).not.toContain("online");
    } finally {
      client.close();
    }
    const health = await fetch(`${origin}/sync/v1/health`);
    expect(health.status).toBe(500);
    expect(await health.json()).toEqual({ error: "misconfigured", message: expect.stringMatching(/^the relay's Durable Object class has no SQLite storage/) });
  });
});
