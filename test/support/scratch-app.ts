// A scratch app outside the repo that installs the packed `weft` tarball the way an app would, offline from
// the npm cache. The cache holds the tarballs `npm ci` fetched for the repo but not always the registry's
// package lists, so the app gets a lockfile whose entries (version and integrity) come from the repo's own.
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
// npm and the scripts it runs (`prepack`) on this Node 22, whatever the shell's PATH says.
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` };

type LockEntry = { version: string; integrity?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; [key: string]: unknown };

export function npm(args: string[], cwd: string) {
  return run("npm", [...args, "--no-audit", "--no-fund"], { cwd, env: ENV, timeout: 90_000, maxBuffer: 16 << 20 });
}

export type Packed = { tarball: string; files: string[] };

/** `npm pack` of the repo (its `prepack` builds dist/) into `destination`. */
export async function packWeft(destination: string): Promise<Packed> {
  const { stdout } = await npm(["pack", "--json", "--pack-destination", destination], REPO_ROOT);
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as [{ filename: string; files: { path: string }[] }];
  return { tarball: join(destination, packed.filename), files: packed.files.map((file) => file.path).sort() };
}

/**
 * Creates an app in `dir` depending on the packed tarball and on `extra` packages the repo also uses (e.g.
 * `@types/node`), and installs them with `npm ci --offline`.
 */
export async function installScratchApp(dir: string, tarball: string, extra: string[] = []): Promise<void> {
  const repoLock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> };
  const weftManifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string; dependencies: Record<string, string> };
  const integrity = await tarballIntegrity(tarball);
  const packages: Record<string, LockEntry> = {
    "node_modules/weft": { version: weftManifest.version, resolved: `file:${tarball}`, integrity, license: "MIT", dependencies: weftManifest.dependencies },
  };
  const pending = [...Object.keys(weftManifest.dependencies), ...extra];
  while (pending.length > 0) {
    const name = pending.pop()!;
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    const entry = repoLock.packages[key];
    if (!entry) throw new Error(`${name} is not in the repo's lockfile, so it cannot be installed offline`);
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
    packages[key] = kept;
    pending.push(...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}).filter((dep) => repoLock.packages[`node_modules/${dep}`]));
  }
  const dependencies = Object.fromEntries([["weft", `file:${tarball}`], ...extra.map((name) => [name, packages[`node_modules/${name}`]!.version])]);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "scratch-app", private: true, type: "module", dependencies }, null, 2));
  writeFileSync(
    join(dir, "package-lock.json"),
    JSON.stringify({ name: "scratch-app", lockfileVersion: 3, requires: true, packages: { "": { name: "scratch-app", dependencies }, ...packages } }, null, 2),
  );
  await npm(["ci", "--offline"], dir);
}

async function tarballIntegrity(tarball: string): Promise<string> {
  const { createHash } = await import("node:crypto");
  return `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
}
