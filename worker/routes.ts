// The relay's HTTP routes as a Hono app: a health check, and the WebSocket upgrade of each group, handed to
// that group's Durable Object. The relay's own Worker serves them at its root; an app's Worker may mount
// them under a path of its own (`app.route("/sync", relayRoutes(...))`).
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { PROTOCOL_VERSION, RETRY_AFTER_BUSY_SECONDS, RETRY_AFTER_UNAVAILABLE_SECONDS, isGroupId } from "../protocol/index.ts";
import { configFromEnv, logOnce, reportProblems, withKeysChecked, type ConfigEnv, type RelayConfig } from "./config.ts";
import { GROUP_HEADER, STORAGE_CHECK_PATH, type GroupObject } from "./group-object.ts";

export type RelayRoutesOptions<Bindings> = {
  /** The Durable Object namespace bound to `GroupObject` (or a class made by `groupObjectWith`). */
  groups: (env: Bindings) => DurableObjectNamespace<GroupObject>;
  /**
   * The configuration the group objects run with, for the health check: while it has problems (a key that
   * cannot be used, a misspelt `WEFT_*` var), no one gets in, and `/v1/health` answers 500 `misconfigured`
   * naming them. By default `configFromEnv(env)`, what `GroupObject` reads; pass the one given to
   * `groupObjectWith`.
   */
  config?: (env: Bindings) => RelayConfig;
};

/** The object the health check asks: not a group id (isGroupId), so no group's object is woken or made. */
const STORAGE_CHECK_OBJECT = "weft:storage-check";

/** The relay cannot serve any request as configured: said in the answer, so the SDK's client hears it. */
class Misconfigured extends Error {}

/**
 * The platform could not hand a socket to its group's object: the object is overloaded (requests queued
 * past its limit; retrying at once makes it worse), or unreachable after the runtime's own retries (it was
 * restarting or moving, a deploy). Not the relay's failure: a 503 with Retry-After, not a 500.
 */
class ObjectUnavailable extends Error {
  readonly code: "busy" | "unavailable";
  constructor(code: "busy" | "unavailable", message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The platform's error for a group object it could not reach, from the properties Durable Object errors
 * carry: `overloaded`, or `retryable` and not thrown by the object's own code (`remote`). Anything else is
 * left to be a 500, as the relay's own failure.
 */
function unreachableObject(error: unknown): ObjectUnavailable | undefined {
  if (!(error instanceof Error)) return undefined;
  const { overloaded, retryable, remote } = error as Error & { overloaded?: unknown; retryable?: unknown; remote?: unknown };
  if (overloaded === true) return new ObjectUnavailable("busy", `the group's object is overloaded: ${error.message}`);
  if (retryable === true && remote !== true) return new ObjectUnavailable("unavailable", `the group's object could not be reached: ${error.message}`);
  return undefined;
}

/** The object's answer to `request`; an ObjectUnavailable where the platform could not reach it. */
function fetchObject(groups: DurableObjectNamespace<GroupObject>, name: string, request: Request | string): Promise<Response> {
  return groups
    .getByName(name)
    .fetch(request)
    .catch((error: unknown) => {
      throw unreachableObject(error) ?? error;
    });
}

/** At most one log line a minute per isolate for objects it could not reach: an overload would flood the log. */
const UNAVAILABLE_LOG_INTERVAL_MS = 60_000;

export function relayRoutes<Bindings extends object>(options: RelayRoutesOptions<Bindings>): Hono<{ Bindings: Bindings }> {
  const app = new Hono<{ Bindings: Bindings }>();
  /**
   * What a group object answered it cannot serve with (its class has no SQLite storage), once one did in this
   * isolate: the health check and the SDK's plain GET after a failed socket say it too, rather than "ok" and 426.
   */
  let objectProblem: string | undefined;
  /** An object answered the health check's question that it can keep a group: not asked again in this isolate. */
  let objectsChecked = false;

  // The SDK reads why a socket failed to open from a plain GET of its URL (426, 400, 404 and their bodies).
  // In a browser that GET is cross-origin: without this header it fails as "Failed to fetch", whatever the
  // relay said. Nothing here is private to an origin; the upgrade's 101 is left as it is. Only the relay's
  // own paths: an app that mounts these routes at its root keeps its other routes to itself.
  app.use("/v1/*", async (c, next) => {
    await next();
    if (c.res.status === 101) return;
    // A response from an object's fetch has immutable headers: copied into one of ours first.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set("Access-Control-Allow-Origin", "*");
  });

  // A health check that says so when the relay cannot serve a group at all.
  app.get("/v1/health", async (c) => {
    const groups = groupsOf(c.env);
    // Checked as the group objects check it: a config built in code with a short secret lets no one in either.
    const config = withKeysChecked((options.config ?? configFromEnv)(c.env as ConfigEnv & Bindings));
    const { problems } = config;
    if (problems.length > 0) {
      // Logged once, as the group objects log them: an uptime probe asking every minute floods no log.
      reportProblems(config);
      return c.json({ error: "misconfigured", message: `the relay's configuration has ${problems.length === 1 ? "a problem" : `${problems.length} problems`}, and no one gets in: ${problems.join("; ")}` }, 500);
    }
    if (!objectsChecked) await checkObjects(groups);
    // Whether a hello needs a token, so an operator sees a relay left open (a secret never put) from outside.
    const tokens = !config.tokens ? "off" : config.access.openGroups ? "optional" : "required";
    return c.json({ ok: true, protocol: PROTOCOL_VERSION, tokens });
  });

  app.get("/v1/groups/:group/ws", async (c) => {
    const group = c.req.param("group");
    if (!isGroupId(group)) throw new HTTPException(400, { message: "group ids are 1-128 characters of A-Z a-z 0-9 . _ ~ -" });
    // Before the upgrade check: the SDK's GET after a failed socket hears what is wrong, not "426".
    const groups = groupsOf(c.env);
    if (objectProblem) throw new Misconfigured(objectProblem);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HTTPException(426, {
        res: new Response("this endpoint speaks WebSocket only", { status: 426, headers: { Upgrade: "websocket" } }),
      });
    }
    const headers = new Headers(c.req.raw.headers);
    headers.set(GROUP_HEADER, group);
    const answer = await fetchObject(groups, group, new Request(c.req.raw, { headers }));
    await throwIfMisconfigured(answer);
    return answer;
  });

  /**
   * The health check asks one object (of a name no group has) whether it can keep a group, once per isolate
   * while it can: a class bound without SQLite storage is said at once, not only after a socket found it.
   */
  async function checkObjects(groups: DurableObjectNamespace<GroupObject>): Promise<void> {
    if (objectProblem) throw new Misconfigured(objectProblem);
    const answer = await fetchObject(groups, STORAGE_CHECK_OBJECT, `https://weft.invalid${STORAGE_CHECK_PATH}`);
    await throwIfMisconfigured(answer);
    objectsChecked = answer.status === 204;
  }

  /** An object's 500 `misconfigured` (its class has no SQLite storage), kept for this isolate and thrown. */
  async function throwIfMisconfigured(answer: Response): Promise<void> {
    if (answer.status !== 500) return;
    const said = (await answer.clone().json().catch(() => undefined)) as { error?: unknown; message?: unknown } | undefined;
    if (said?.error === "misconfigured" && typeof said.message === "string") throw new Misconfigured((objectProblem = said.message));
  }

  /** The namespace `options.groups` gives; a Misconfigured error if it gives none (a binding named otherwise). */
  function groupsOf(env: Bindings): DurableObjectNamespace<GroupObject> {
    let groups: DurableObjectNamespace<GroupObject> | undefined;
    try {
      groups = options.groups(env);
    } catch (error) {
      throw new Misconfigured(`relayRoutes: groups(env) threw: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof groups?.getByName !== "function") {
      throw new Misconfigured(
        `relayRoutes: groups(env) gave ${groups === undefined ? "undefined" : "something else"}, not a Durable Object namespace: name the binding in the Worker's wrangler config as groups reads it`,
      );
    }
    return groups;
  }

  /** When this isolate last logged an object it could not reach, and how many it did not log since. */
  let unavailableLoggedAt = -Infinity;
  let unavailableUnlogged = 0;

  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    if (error instanceof ObjectUnavailable) {
      const now = Date.now();
      if (now - unavailableLoggedAt >= UNAVAILABLE_LOG_INTERVAL_MS) {
        console.warn(`weft: ${error.message}${unavailableUnlogged > 0 ? ` (and ${unavailableUnlogged} more since the last line)` : ""}`);
        unavailableLoggedAt = now;
        unavailableUnlogged = 0;
      } else unavailableUnlogged++;
      const retryAfter = error.code === "busy" ? RETRY_AFTER_BUSY_SECONDS : RETRY_AFTER_UNAVAILABLE_SECONDS;
      return c.json({ error: error.code, message: error.message, retryAfter }, 503, { "Retry-After": String(retryAfter) });
    }
    if (error instanceof Misconfigured) {
      // Said to whoever asks: it names no secret, and the app's developer is the one who reads it first.
      // Logged once per isolate, as a configuration problem is.
      logOnce(`weft: ${error.message}`);
      return c.json({ error: "misconfigured", message: error.message }, 500);
    }
    console.error("weft: request failed", error);
    return c.json({ error: "internal" }, 500);
  });

  return app;
}
