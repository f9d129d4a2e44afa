// The Worker: a Hono app that routes, checks the upgrade and hands each group's socket to its object.
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { PROTOCOL_VERSION, isGroupId } from "../protocol/index.ts";
import { GROUP_HEADER, GroupObject } from "./group-object.ts";

export { GroupObject };

const app = new Hono<{ Bindings: Env }>();

app.get("/v1/health", (c) => c.json({ ok: true, protocol: PROTOCOL_VERSION }));

app.get("/v1/groups/:group/ws", (c) => {
  const group = c.req.param("group");
  if (!isGroupId(group)) throw new HTTPException(400, { message: "group ids are 1-128 characters of A-Z a-z 0-9 . _ ~ -" });
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new HTTPException(426, {
      res: new Response("this endpoint speaks WebSocket only", { status: 426, headers: { Upgrade: "websocket" } }),
    });
  }
  const headers = new Headers(c.req.raw.headers);
  headers.set(GROUP_HEADER, group);
  return c.env.GROUPS.getByName(group).fetch(new Request(c.req.raw, { headers }));
});

app.notFound((c) => c.json({ error: "not_found" }, 404));

app.onError((error, c) => {
  if (error instanceof HTTPException) return error.getResponse();
  console.error("weft: request failed", error);
  return c.json({ error: "internal" }, 500);
});

export default app;
