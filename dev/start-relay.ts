// weft/dev: a local relay from Node, without the wrangler CLI, for app tests and examples. The real Worker
// and Durable Object run in workerd through Miniflare's Node API, bound to 127.0.0.1 on a free port, with the
// objects' SQLite either in a folder (kept across restarts) or in memory. Each call starts its own workerd,
// so several relays run side by side; `stop()` ends it.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lockFolder } from "./folder-lock.ts";
import { guard, workerdChildren, workerdServing } from "./orphan-guard.ts";
import { shortSecretProblem } from "../protocol/token-secret.ts";
import { configFromEnv, RELAY_VARS, type ConfigEnv } from "../worker/config.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

/** The Worker's compatibility settings, the same as wrangler.toml's (a unit test holds them equal). */
export const RELAY_COMPATIBILITY_DATE = "2026-08-01";
export const RELAY_COMPATIBILITY_FLAGS: readonly string[] = ["nodejs_compat"];

export type StartRelayOptions = {
  /** Folder for the groups' SQLite files, kept after `stop()`; without it, storage is in memory and gone at `stop()`. */
  persistTo?: string;
  /** Port on 127.0.0.1; a free one by default. */
  port?: number;
  /** The relay's settings as Worker vars: `WEFT_TOKEN_SECRET`, `WEFT_TOKEN_PUBLIC_KEY`, `WEFT_OPEN_GROUPS`, ... */
  vars?: Record<string, string>;
};

export type LocalRelay = {
  /** `http://127.0.0.1:<port>`, the `url` to give `createClient`. */
  url: string;
  /** Closes every socket and ends the relay's workerd process; idempotent. */
  stop(): Promise<void>;
};

/** Starts a relay; resolves once it accepts connections. Needs the `miniflare` package (a dev dependency of the app). */
export async function startRelay(options: StartRelayOptions = {}): Promise<LocalRelay> {
  checkOptions(options);
  const { Miniflare, convertV4MiniflareOptions } = await loadMiniflare();
  // Miniflare 5 takes a new options shape and converts the classic one; Miniflare 4 (npm's `latest`) takes the
  // classic one as it is and has no converter.
  const options4: ClassicOptions = {
    // With this name and the v3 folder, storage lands where `wrangler dev --persist-to <persistTo>` keeps it
    // (<persistTo>/v3/do/weft-GroupObject), so `npm run dev` and startRelay share a folder's groups.
    name: "weft",
    modules: true,
    script: await workerScript(),
    compatibilityDate: RELAY_COMPATIBILITY_DATE,
    compatibilityFlags: [...RELAY_COMPATIBILITY_FLAGS],
    durableObjects: { GROUPS: { className: "GroupObject", useSQLite: true } },
    bindings: { ...options.vars },
    host: "127.0.0.1",
    port: options.port ?? 0,
    ...(options.persistTo === undefined ? {} : { resourcePersistencePath: join(options.persistTo, "v3") }),
  };
  // One relay per folder (folder-lock.ts): a second one on it would fail the first one's writes.
  const lock = options.persistTo === undefined ? undefined : lockFolder(options.persistTo);
  const before = workerdChildren();
  let miniflare: InstanceType<typeof Miniflare> | undefined;
  let url: URL;
  try {
    miniflare = new Miniflare(typeof convertV4MiniflareOptions === "function" ? convertV4MiniflareOptions(options4) : miniflare4Options(options4));
    url = await miniflare.ready;
  } catch (error) {
    await miniflare?.dispose().catch(() => {});
    lock?.release();
    // Miniflare's own words are for wrangler's command line ("specify a different port with --port").
    const message = error instanceof Error ? error.message : String(error);
    if (options.port && /address already in use|EADDRINUSE|--port/i.test(message)) {
      throw new Error(`startRelay: port ${options.port} is in use; pass another port, or leave it out for a free one`, { cause: error });
    }
    throw error;
  }
  // Its workerd goes with this process, however this process ends (orphan-guard.ts).
  const workerd = workerdServing(Number(url.port), before);
  const release = guard(workerd);
  lock?.servedBy(workerd.length === 1 ? workerd[0] : undefined);
  let stopped: Promise<void> | undefined;
  return {
    url: url.origin,
    stop: () =>
      // Resolves once the watchdog, if this was the last relay, has ended too: a test runner's check for
      // handles left open finds none.
      (stopped ??= miniflare.dispose().finally(async () => {
        lock?.release();
        await release();
      })),
  };
}

type ClassicOptions = Parameters<typeof import("miniflare").convertV4MiniflareOptions>[0];

/** The options as Miniflare 4 takes them: it keeps storage under `defaultPersistRoot` (<root>/do/...), the folder Miniflare 5 calls `resourcePersistencePath`. */
function miniflare4Options({ resourcePersistencePath, ...options }: ClassicOptions & { resourcePersistencePath?: string }): ConstructorParameters<typeof import("miniflare").Miniflare>[0] {
  return { ...options, ...(resourcePersistencePath === undefined ? {} : { defaultPersistRoot: resourcePersistencePath }) } as unknown as ConstructorParameters<typeof import("miniflare").Miniflare>[0];
}

/**
 * Options as plain JavaScript may pass them, refused at once: a relay started without the settings it
 * was meant to have (a token key in a misspelt var, say) would be an open relay, and look like a working one.
 */
function checkOptions(options: unknown): asserts options is StartRelayOptions {
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw new ArgumentError("startRelay: options must be an object ({ port, persistTo, vars })");
  const { port, persistTo, vars, ...unknown } = options as Record<string, unknown>;
  const extra = Object.keys(unknown);
  if (extra.length > 0) throw new ArgumentError(`startRelay: unknown option ${extra.join(", ")} (it takes port, persistTo, vars)`);
  if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535)) throw new ArgumentError("startRelay: port must be a whole number from 0 to 65535");
  if (persistTo !== undefined && (typeof persistTo !== "string" || persistTo === "")) throw new ArgumentError("startRelay: persistTo must be a folder's path");
  if (vars === undefined) return;
  if (typeof vars !== "object" || vars === null || Array.isArray(vars)) throw new ArgumentError("startRelay: vars must be an object of strings, like { WEFT_TOKEN_SECRET: \"...\" }");
  for (const [name, value] of Object.entries(vars)) {
    if (typeof value !== "string") throw new ArgumentError(`startRelay: vars.${name} must be a string (a Worker var is text: JSON.stringify a key, "true" for true)`);
    if (name.toUpperCase().startsWith("WEFT_") && !KNOWN_VARS.has(name)) throw new ArgumentError(`startRelay: vars.${name} is not a setting the relay reads (${[...KNOWN_VARS].join(", ")})`);
    if (name.startsWith("WEFT_TOKEN_") && value === "") throw new ArgumentError(`startRelay: vars.${name} is empty (leave it out for a relay without tokens)`);
    // The relay would start and check no token (worker/config.ts): said here, before anything starts.
    const short = name.startsWith("WEFT_TOKEN_SECRET") ? shortSecretProblem(`startRelay: vars.${name}`, value) : undefined;
    if (short) throw new ArgumentError(short);
  }
  // Any other value the relay could not use (a public key that is not a JWK, WEFT_OPEN_GROUPS "yes") would
  // start a relay that lets no one in: refused here too, in the relay's own words.
  const { problems } = configFromEnv(vars as ConfigEnv);
  if (problems.length > 0) throw new ArgumentError(`startRelay: vars the relay cannot use: ${problems.join("; ")}`);
}

/** Every WEFT_* var the relay reads (worker/config.ts), the bench's included. */
const KNOWN_VARS = new Set<string>(RELAY_VARS);

async function loadMiniflare(): Promise<typeof import("miniflare")> {
  try {
    return await import("miniflare");
  } catch (error) {
    // Missing is one thing; installed but failing to load (a test runner's VM pool, a broken install) another.
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new Error("weft/dev runs the relay with Miniflare: add it to the app's dev dependencies (npm install --save-dev miniflare)", { cause: error });
    }
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new Error(`weft/dev runs the relay with Miniflare, which is installed but failed to load (${why}); under vitest, run the relay's tests in the forks or threads pool, not a vm pool`, { cause: error });
  }
}

let script: Promise<string> | undefined;

/**
 * The Worker as one ES module. The package ships it prebuilt (dist/relay/worker.js, next to this file's
 * folder); from the repo's TypeScript sources it is bundled here with esbuild, once per process.
 */
function workerScript(): Promise<string> {
  return (script ??= (async () => {
    const prebuilt = fileURLToPath(new URL("../relay/worker.js", import.meta.url));
    if (existsSync(prebuilt)) return readFileSync(prebuilt, "utf8");
    // Not a literal specifier, so the package's build leaves the bundler (and esbuild) out of dist/.
    const bundler = "../scripts/bundle-worker.ts";
    const { bundleWorker } = (await import(bundler)) as { bundleWorker(): Promise<string> };
    return bundleWorker();
  })());
}
