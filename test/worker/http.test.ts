// The Worker's HTTP surface: health, the upgrade check, group id validation and unknown paths.
import { listDurableObjectIds } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PROTOCOL_VERSION } from "../../protocol/index.ts";
import { closeAll, groupStub, openSocket, uniqueGroup, wsUrl } from "./socket.ts";

afterEach(closeAll);

const get = (path: string, headers: Record<string, string> = {}) => exports.default.fetch(`http://relay${path}`, { headers });

/** Whether the namespace holds an object for `group` (objects appear once they are created). */
async function objectExists(group: string): Promise<boolean> {
  const id = groupStub(group).id;
  return (await listDurableObjectIds(env.GROUPS)).some((other) => other.equals(id));
}

describe("HTTP routes", () => {
  it("GET /v1/health answers 200 JSON with the protocol version", async () => {
    const res = await get("/v1/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    // This project's relay has a token key and open groups: hellos without a token get in beside token holders.
    expect(await res.json()).toEqual({ ok: true, protocol: PROTOCOL_VERSION, tokens: "optional" });
  });

  it("the socket endpoint without Upgrade is 426 with Upgrade: websocket, and creates no object", async () => {
    const group = uniqueGroup("http-426");
    const res = await get(`/v1/groups/${group}/ws`);
    expect(res.status).toBe(426);
    expect(res.headers.get("upgrade")).toBe("websocket");
    await res.body?.cancel();
    expect(await objectExists(group)).toBe(false);

    const wrongUpgrade = await get(`/v1/groups/${group}/ws`, { Upgrade: "h2c" });
    expect(wrongUpgrade.status).toBe(426);
    await wrongUpgrade.body?.cancel();
  });

  it("the bench's SQL counts are not served unless WEFT_SQL_STATS is on, and asking creates no object", async () => {
    const group = uniqueGroup("http-sql-stats");
    const res = await get(`/v1/groups/${group}/sql-stats`);
    expect(res.status).toBe(404);
    await res.body?.cancel();
    expect(await objectExists(group)).toBe(false);
  });

  it("a valid group with Upgrade opens a socket (and so creates the object)", async () => {
    const group = uniqueGroup("http-101");
    const peer = await openSocket(group);
    expect((await peer.next("challenge")).v).toBe(PROTOCOL_VERSION);
    expect(await objectExists(group)).toBe(true);
    await peer.close();
  });

  it.each([
    ["200 characters", "g".repeat(200)],
    ["129 characters", "g".repeat(129)],
    ["an encoded space", "bad%20group"],
    ["an encoded slash", "a%2Fb"],
    ["non-ASCII", "gr%C3%BCppe"],
  ])("a group id with %s is 400, even with Upgrade", async (_label, group) => {
    const plain = await get(`/v1/groups/${group}/ws`);
    expect(plain.status).toBe(400);
    await plain.body?.cancel();
    const upgrade = await get(`/v1/groups/${group}/ws`, { Upgrade: "websocket" });
    expect(upgrade.status).toBe(400);
    expect(upgrade.webSocket).toBeNull();
    await upgrade.body?.cancel();
  });

  it("a group id of exactly 128 allowed characters is accepted", async () => {
    const group = `${uniqueGroup("max")}.~_-`.padEnd(128, "x");
    expect(group).toHaveLength(128);
    const res = await get(`/v1/groups/${group}/ws`);
    expect(res.status).toBe(426);
    await res.body?.cancel();
  });

  it.each(["/", "/v1", "/v1/groups/g", "/v1/groups/g/ws/extra", "/v2/health"])("unknown path %s is 404 JSON", async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not_found" });
  });

  it("every plain answer, the ones the SDK's probe of a failed socket reads above all, may be read from any origin (browsers)", async () => {
    const group = uniqueGroup("http-cors");
    const answers = [
      await get(`/v1/groups/${group}/ws`, { Origin: "https://app.example" }), // 426
      await get("/v1/groups/bad%20id/ws", { Origin: "https://app.example" }), // 400
      await get("/v1/nothing-here", { Origin: "https://app.example" }), // 404
      await get("/v1/health", { Origin: "https://app.example" }),
      await get("/sync/v1/groups/g/ws", { Origin: "https://app.example" }), // a URL with a path the relay does not serve: 404
    ];
    expect(answers.map((res) => [res.status, res.headers.get("access-control-allow-origin")])).toEqual([
      [426, "*"],
      [400, "*"],
      [404, "*"],
      [200, "*"],
      [404, "*"],
    ]);
    for (const res of answers) await res.body?.cancel();
    expect(answers[0]!.headers.get("upgrade")).toBe("websocket");
  });

  it("POST to the socket endpoint is not routed", async () => {
    const res = await exports.default.fetch(wsUrl("g"), { method: "POST", body: "x" });
    expect(res.status).toBe(404);
    await res.body?.cancel();
  });
});

describe("the health check of a relay that cannot use its configuration", () => {
  it("answers 500 misconfigured each time, and logs each problem once, not at every request (an uptime probe's)", async () => {
    const { relayRoutes } = await import("../../worker/routes.ts");
    const { configFromEnv } = await import("../../worker/config.ts");
    const app = relayRoutes<typeof env>({ groups: (bindings) => bindings.GROUPS, config: () => configFromEnv({ WEFT_OPEN_GROUPS: "yes-once" }) });
    const logged: string[] = [];
    const spy = vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logged.push(args.join(" ")));
    try {
      for (let request = 0; request < 3; request++) {
        const res = await app.request("/v1/health", {}, env);
        expect(res.status).toBe(500);
        expect(await res.json()).toMatchObject({ error: "misconfigured", message: expect.stringContaining('WEFT_OPEN_GROUPS is "yes-once"') });
      }
    } finally {
      spy.mockRestore();
    }
    expect(logged).toEqual([expect.stringMatching(/^weft: configuration: WEFT_OPEN_GROUPS is "yes-once"/)]);
  });
});

describe("the health check says whether a hello needs a token", () => {
  it("off for a relay without a token key, open to every agent with a key pair (a secret never put)", async () => {
    const { relayRoutes } = await import("../../worker/routes.ts");
    const { configFromEnv } = await import("../../worker/config.ts");
    const res = await relayRoutes<typeof env>({ groups: (bindings) => bindings.GROUPS, config: () => configFromEnv({}) }).request("/v1/health", {}, env);
    expect(await res.json()).toEqual({ ok: true, protocol: PROTOCOL_VERSION, tokens: "off" });
  });
});

describe("a socket whose group's object the platform cannot reach", () => {
  // Overloads and restarts are the platform's errors, which no local object raises: the namespace here hands
  // out stubs whose fetch fails as the platform's stubs do, with the properties Durable Object errors carry.
  const failingWith = (properties: Record<string, boolean>) => {
    const fail = () => Promise.reject(Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), properties));
    return { getByName: () => ({ fetch: fail }) } as unknown as DurableObjectNamespace<import("../../worker/group-object.ts").GroupObject>;
  };
  const upgrade = { headers: { Upgrade: "websocket" } };

  async function answerTo(properties: Record<string, boolean>) {
    const { relayRoutes } = await import("../../worker/routes.ts");
    const res = await relayRoutes<typeof env>({ groups: () => failingWith(properties) }).request(`/v1/groups/${uniqueGroup("unreachable")}/ws`, upgrade, env);
    return { status: res.status, retryAfter: res.headers.get("Retry-After"), cors: res.headers.get("Access-Control-Allow-Origin"), body: (await res.json()) as Record<string, unknown> };
  }

  it("answers 503 busy with Retry-After when the object is overloaded, not 500, and logs it as a warning", async () => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    const failed = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const answer = await answerTo({ overloaded: true, retryable: false });
      expect(answer).toMatchObject({ status: 503, retryAfter: "5", cors: "*" });
      expect(answer.body).toMatchObject({ error: "busy", retryAfter: 5, message: expect.stringContaining("overloaded") });
      expect(warned).toHaveBeenCalledTimes(1);
      expect(failed).not.toHaveBeenCalled();
    } finally {
      warned.mockRestore();
      failed.mockRestore();
    }
  });

  it("answers 503 unavailable with Retry-After 1 when the object could not be reached (restarting), retryable", async () => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const answer = await answerTo({ retryable: true });
      expect(answer).toMatchObject({ status: 503, retryAfter: "1" });
      expect(answer.body).toMatchObject({ error: "unavailable", retryAfter: 1 });
    } finally {
      warned.mockRestore();
    }
  });

  it("answers 500 internal for an error the object's own code threw (remote), and logs it as a failure", async () => {
    const failed = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const answer = await answerTo({ retryable: true, remote: true });
      expect(answer).toMatchObject({ status: 500, retryAfter: null });
      expect(answer.body).toEqual({ error: "internal" });
      expect(failed).toHaveBeenCalledWith("weft: request failed", expect.any(Error));
    } finally {
      failed.mockRestore();
    }
  });

  it("the health check answers 503 too while the object it asks cannot be reached, not 500", async () => {
    const { relayRoutes } = await import("../../worker/routes.ts");
    const { configFromEnv } = await import("../../worker/config.ts");
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const res = await relayRoutes<typeof env>({ groups: () => failingWith({ retryable: true }), config: () => configFromEnv({}) }).request("/v1/health", {}, env);
      expect(res.status).toBe(503);
      expect(res.headers.get("Retry-After")).toBe("1");
      expect(await res.json()).toMatchObject({ error: "unavailable" });
    } finally {
      warned.mockRestore();
    }
  });

  it("logs at most one line a minute, counting the ones it left out", async () => {
    const { relayRoutes } = await import("../../worker/routes.ts");
    const app = relayRoutes<typeof env>({ groups: () => failingWith({ overloaded: true }) });
    const lines: string[] = [];
    const warned = vi.spyOn(console, "warn").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      for (let request = 0; request < 3; request++) expect((await app.request(`/v1/groups/${uniqueGroup("overloaded")}/ws`, upgrade, env)).status).toBe(503);
      vi.setSystemTime(Date.now() + 60_000);
      expect((await app.request(`/v1/groups/${uniqueGroup("overloaded")}/ws`, upgrade, env)).status).toBe(503);
    } finally {
      vi.useRealTimers();
      warned.mockRestore();
    }
    expect(lines).toEqual([expect.stringMatching(/^weft: the group's object is overloaded: /), expect.stringMatching(/\(and 2 more since the last line\)$/)]);
  });
});
