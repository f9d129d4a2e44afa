// The Worker: the relay's routes (routes.ts) at the root, each group's socket handed to its object.
import { GroupObject, SQL_STATS_PATH } from "./group-object.ts";
import { relayRoutes } from "./routes.ts";

export { GroupObject };

const app = relayRoutes<Env>({ groups: (env) => env.GROUPS });

// The bench's view of a group's SQLite work; the object answers 404 unless WEFT_SQL_STATS is "true".
app.get(`/v1/groups/:group${SQL_STATS_PATH}`, (c) =>
  c.env.WEFT_SQL_STATS === "true" ? c.env.GROUPS.getByName(c.req.param("group")).fetch(c.req.raw) : c.json({ error: "not_found" }, 404),
);

// Every path is the relay's here, so a wrong one is readable from any origin too (routes.ts covers /v1/).
app.notFound((c) => {
  c.header("Access-Control-Allow-Origin", "*");
  return c.json({ error: "not_found" }, 404);
});

export default app;
