// The floor (worker.ts) on Miniflare's Node API, as `npm run bench -- --relay miniflare` serves the relay:
// no dev proxy, no trace collector. `--port N` (required), `--persist-to dir`. SIGINT or SIGTERM stop it.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS } from "../../dev/start-relay.ts";
import { bundleWorker } from "../../scripts/bundle-worker.ts";

const option = (name: string) => {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
};
const port = Number(option("--port"));
const persistTo = option("--persist-to");
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: serve-miniflare --port N [--persist-to dir]");
  process.exit(2);
}

const miniflare = new Miniflare(
  convertV4MiniflareOptions({
    name: "weft-floor",
    modules: true,
    script: await bundleWorker(fileURLToPath(new URL("./worker.ts", import.meta.url))),
    compatibilityDate: RELAY_COMPATIBILITY_DATE,
    compatibilityFlags: [...RELAY_COMPATIBILITY_FLAGS],
    durableObjects: { FLOOR: { className: "FloorObject", useSQLite: true } },
    host: "127.0.0.1",
    port,
    ...(persistTo ? { resourcePersistencePath: join(persistTo, "v3") } : {}),
  }),
);
console.log(`weft floor on ${(await miniflare.ready).origin} (Miniflare)`);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => void miniflare.dispose().finally(() => process.exit(0)));
}
