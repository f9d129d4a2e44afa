// `npm run dev`: the relay under `wrangler dev` on 127.0.0.1:8787, SQLite under .wrangler/state, with no
// outside traffic. `npm run dev -- --port 8790 --persist-to dir` changes either; other flags go to wrangler.
// SIGINT, SIGTERM or SIGHUP stop wrangler and everything it started (workerd) before this process exits:
// wrangler runs in a process group of its own, which is signalled whole. The npm script `exec`s this file,
// because npm passes a signal to the shell it runs scripts in, and the shell would not pass it on.
// Killed with SIGKILL (`timeout -s KILL`, an IDE's stop button, a terminal killing its group, none of which
// reach wrangler's group), this process cannot stop it: weft/dev's watchdog kills that group instead.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { guardGroup } from "../dev/orphan-guard.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const wrangler = fileURLToPath(new URL("../node_modules/wrangler/bin/wrangler.js", import.meta.url));
// Wrangler otherwise checks for updates, sends metrics and fetches Request.cf data.
const QUIET = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
/** How long wrangler gets to stop workerd itself before the group is killed. */
const GRACE_MS = 5_000;

const settings = { port: "8787", persistTo: ".wrangler/state" };
const passThrough: string[] = [];
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i]!;
  // `--port 8790` and `--port=8790` alike.
  const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
  if (flag === "--port") settings.port = inline ?? process.argv[++i] ?? settings.port;
  else if (flag === "--persist-to") settings.persistTo = inline ?? process.argv[++i] ?? settings.persistTo;
  else passThrough.push(arg);
}

const child = spawn(
  process.execPath,
  [wrangler, "dev", "--ip", "127.0.0.1", "--port", settings.port, "--persist-to", settings.persistTo, ...passThrough],
  // Its own group (detached); no stdin, since a background group reading the terminal would be stopped.
  { cwd: root, env: { ...process.env, ...QUIET }, detached: true, stdio: ["ignore", "inherit", "inherit"] },
);
const unguard = child.pid === undefined ? async () => {} : guardGroup(child.pid);

const signalGroup = (signal: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone
  }
};

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    signalGroup("SIGTERM");
    setTimeout(() => signalGroup("SIGKILL"), GRACE_MS).unref();
  });
}

child.on("exit", (code) => {
  signalGroup("SIGKILL"); // whatever wrangler left running in its group
  void unguard().finally(() => process.exit(stopping ? 0 : (code ?? 1)));
});
