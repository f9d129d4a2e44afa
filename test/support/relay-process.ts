// Starts the real relay (`wrangler dev`, or Miniflare without wrangler's proxy) on a free 127.0.0.1 port,
// and stops or kills it. Used by the
// end-to-end tests and the benchmarks; every process it starts is killed by `stop()` or `kill()`.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WRANGLER = fileURLToPath(new URL("../../node_modules/wrangler/bin/wrangler.js", import.meta.url));
const LOCAL_RELAY = fileURLToPath(new URL("../../scripts/local-relay.ts", import.meta.url));

// No outside traffic at all: no metrics, no update check, no Request.cf lookup.
const QUIET_ENV = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", NO_COLOR: "1" };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export type RelayProcess = {
  url: string;
  port: number;
  persistTo: string;
  /** Graceful stop. */
  stop(): Promise<void>;
  /** SIGKILL to the relay and everything it started (workerd): a crash, not a shutdown. */
  kill(): Promise<void>;
  /** What the relay printed, for debugging a failed test. */
  output(): string;
};

type RelayOptions = {
  persistTo: string;
  port?: number;
  timeoutMs?: number;
  vars?: Record<string, string>;
  /** Extra environment for the relay's process (e.g. the bench's X_LOCAL_OBSERVABILITY=false). */
  env?: Record<string, string>;
  /** Another Worker's wrangler.toml (the bench's floor); the relay's own by default. */
  config?: string;
  /**
   * `wrangler` (default): `wrangler dev`, with its dev proxy in front. `miniflare`: scripts/local-relay.ts,
   * weft/dev's startRelay in a process of its own, with no proxy (or `miniflareScript`, for another Worker).
   */
  runner?: "wrangler" | "miniflare";
  /** With the miniflare runner, the script that serves another Worker (taking --port and --persist-to): the bench's floor. */
  miniflareScript?: string;
};

/**
 * Starts the relay on `options.port`, or on free ports. A free port is only free when it is picked: another
 * test process may bind it before the relay does, which the relay then reports as an address in use; with
 * ports it picked itself, it is started again on others (three tries).
 */
export async function startRelay(options: RelayOptions): Promise<RelayProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRelayOnce(options);
    } catch (error) {
      const taken = /address already in use|EADDRINUSE/i.test((error as Error).message);
      if (!taken || options.port !== undefined || attempt >= 3) throw error;
    }
  }
}

async function startRelayOnce(options: RelayOptions): Promise<RelayProcess> {
  const port = options.port ?? (await freePort());
  const inspectorPort = await freePort();
  if (options.runner === "miniflare" && options.config) throw new Error("the miniflare runner takes a miniflareScript, not a wrangler config");
  const args =
    options.runner === "miniflare"
      ? [options.miniflareScript ?? LOCAL_RELAY, "--port", String(port), "--persist-to", options.persistTo,
          ...Object.entries(options.vars ?? {}).flatMap(([key, value]) => ["--var", `${key}=${value}`])]
      : [WRANGLER, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", options.persistTo, "--log-level", "warn",
          ...(options.config ? ["--config", options.config] : []),
          ...Object.entries(options.vars ?? {}).flatMap(([key, value]) => ["--var", `${key}:${value}`])];
  // A temporary folder of its own, removed once it exits: Miniflare's folders (miniflare-<hash>) in it would
  // be left behind by a relay killed with SIGKILL, which cannot remove them.
  const scratch = mkdtempSync(join(tmpdir(), "weft-relay-tmp-"));
  const child = spawn(
    process.execPath,
    args,
    { cwd: ROOT, env: { ...process.env, ...QUIET_ENV, ...options.env, TMPDIR: scratch }, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      rmSync(scratch, { recursive: true, force: true });
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;

  const killGroup = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, signal); // the whole process group: wrangler and its workerd
    } catch {
      // already gone
    }
    await exited;
  };

  try {
    await waitForHealth(url, child, options.timeoutMs ?? 60_000);
  } catch (error) {
    await killGroup("SIGKILL");
    throw new Error(`${(error as Error).message}\n--- relay output ---\n${output}`);
  }
  return {
    url,
    port,
    persistTo: options.persistTo,
    stop: () => killGroup("SIGTERM"),
    kill: () => killGroup("SIGKILL"),
    output: () => output,
  };
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the relay process exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the relay did not answer on ${url} within ${timeoutMs} ms`);
}
