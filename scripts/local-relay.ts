// `npm run dev:local`: the relay on Miniflare's Node API (weft/dev's startRelay) instead of `wrangler dev`,
// with no dev proxy in front: `--port N` (8787 by default), `--persist-to dir` (.wrangler/state by default),
// `--var NAME=value` for the relay's settings. SIGINT or SIGTERM stop it and its workerd. The bench runs
// it with `--relay miniflare` to show what wrangler dev's proxy costs.
import { startRelay } from "../dev/start-relay.ts";

let port = 8787;
let persistTo = ".wrangler/state";
const vars: Record<string, string> = {};
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i]!;
  const value = process.argv[++i] ?? "";
  if (arg === "--port") port = Number(value);
  else if (arg === "--persist-to") persistTo = value;
  else if (arg === "--var" && value.includes("=")) vars[value.slice(0, value.indexOf("="))] = value.slice(value.indexOf("=") + 1);
  else {
    console.error(`unknown option ${arg}; usage: local-relay [--port N] [--persist-to dir] [--var NAME=value]`);
    process.exit(2);
  }
}

const relay = await startRelay({ port, persistTo, vars });
console.log(`weft relay on ${relay.url} (Miniflare), storage in ${persistTo}`);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => void relay.stop().finally(() => process.exit(0)));
}
