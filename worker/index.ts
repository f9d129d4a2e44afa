// The Worker: the relay's routes (routes.ts) at the root, each group's socket handed to its object.
import { GroupObject } from "./group-object.ts";
import { relayRoutes } from "./routes.ts";

export { GroupObject };

const app = relayRoutes<Env>({ groups: (env) => env.GROUPS });

app.notFound((c) => c.json({ error: "not_found" }, 404));

export default app;
