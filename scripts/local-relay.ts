// `npm run dev:local`: the relay on Miniflare's Node API (weft/dev's startRelay) instead of `wrangler dev`,
// with no dev proxy in front: `--port N` (8787 by default), `--persist-to dir` (.wrangler/state by default),
// `--var NAME=value` for the relay's settings, over those of `.dev.vars` (read as `wrangler dev` reads it, so
// both serve a folder's groups under the same rules). SIGINT or SIGTERM stop it and its workerd. The bench
// runs it with `--relay miniflare` to show what wrangler dev's proxy costs.
import { existsSync, readFileSync } from "node:fs";
import { startRelay } from "../dev/start-relay.ts";

let port = 8787;
let persistTo = ".wrangler/state";
const vars: Record<string, string> = existsSync(".dev.vars") ? devVars(readFileSync(".dev.vars", "utf8")) : {};
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

/** `NAME=value` lines (values optionally quoted), as wrangler reads `.dev.vars`; `#` starts a comment line. */
function devVars(text: string): Record<string, string> {
  const read: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith("#")) continue;
    const value = match[2]!;
    read[match[1]!] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return read;
}
