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
const usage = "usage: local-relay [--port N] [--persist-to dir] [--var NAME=value]";
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i]!;
  // `--port 8790` and `--port=8790` alike; a flag without its value is refused.
  const inline = arg.startsWith("--") && arg.includes("=") && !arg.startsWith("--var=") ? arg.indexOf("=") : -1;
  const flag = inline < 0 ? arg : arg.slice(0, inline);
  const value = inline < 0 ? process.argv[++i] : arg.slice(inline + 1);
  if (value === undefined || value === "") {
    console.error(`${flag} needs a value; ${usage}`);
    process.exit(2);
  }
  if (flag === "--port" && /^\d+$/.test(value)) port = Number(value);
  else if (flag === "--persist-to") persistTo = value;
  else if (flag === "--var" && value.includes("=")) vars[value.slice(0, value.indexOf("="))] = value.slice(value.indexOf("=") + 1);
  else {
    console.error(`${flag === "--port" ? `--port ${value} is not a port` : `unknown option ${arg}`}; ${usage}`);
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
