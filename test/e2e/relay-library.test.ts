// The relay as a library: an app's own Worker (test/worker/fixtures/app-worker.ts) mounts Weft under /sync
// and configures it in code. Run in workerd through Miniflare, driven by the SDK.
import { build } from "esbuild";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client } from "../../client/index.ts";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS } from "../../dev/start-relay.ts";
import { mintToken } from "../../tokens/index.ts";
import { until } from "../support/wait.ts";

const SECRET = "the app's own secret";

describe("an app's Worker that mounts Weft", () => {
  let miniflare: Miniflare;
  let origin: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    const bundled = await build({
      entryPoints: [fileURLToPath(new URL("../worker/fixtures/app-worker.ts", import.meta.url))],
      bundle: true, format: "esm", platform: "neutral", target: "es2022", external: ["cloudflare:*", "node:*"], write: false, logLevel: "warning",
    });
    miniflare = new Miniflare(
      convertV4MiniflareOptions({
        name: "app",
        modules: true,
        script: bundled.outputFiles[0]!.text,
        compatibilityDate: RELAY_COMPATIBILITY_DATE,
        compatibilityFlags: [...RELAY_COMPATIBILITY_FLAGS],
        durableObjects: { SYNC: { className: "SyncGroups", useSQLite: true } },
        bindings: { MY_APP_SECRET: SECRET },
        host: "127.0.0.1",
        port: 0,
      }),
    );
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
