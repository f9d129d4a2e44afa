// The floor (worker.ts) on Miniflare's Node API, as `npm run bench -- --relay miniflare` serves the relay:
// no dev proxy, no trace collector. `--port N` (required), `--persist-to dir`. SIGINT or SIGTERM stop it.
import { floorOnMiniflare } from "./miniflare-floor.ts";

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

const miniflare = await floorOnMiniflare({ port, ...(persistTo ? { persistTo } : {}) });
console.log(`weft floor on ${(await miniflare.ready).origin} (Miniflare)`);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => void miniflare.dispose().finally(() => process.exit(0)));
}
