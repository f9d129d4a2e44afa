// `npm run dev` (wrangler dev) and `npm run dev:local` (Miniflare) as a developer uses them: each serves the
// relay, and SIGTERM or SIGINT to npm's PID stops it cleanly, leaving no workerd behind and the port free.
// SIGKILL to npm's process group (`timeout -s KILL`, an IDE's stop button, a terminal's group kill) leaves
// none either, though wrangler runs in a group of its own that such a kill does not reach.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { freePort } from "../support/relay-process.ts";
import { childProcesses, isAlive as alive, somethingListensOn, type ProcessInfo } from "../support/processes.ts";
import { until } from "../support/wait.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` };

describe("npm run dev and dev:local", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-dev-"));
  // The relays' temporary folder: Miniflare's own folder in it outlives a relay killed with SIGKILL.
  const relayTmp = mkdtempSync(join(tmpdir(), "weft-dev-tmp-"));
  const started: ProcessInfo[] = [];
  afterAll(() => {
    for (const info of started) if (alive(info.pid)) process.kill(info.pid, "SIGKILL"); // only after a failure
    rmSync(persistTo, { recursive: true, force: true });
    rmSync(relayTmp, { recursive: true, force: true });
  });

  const cases = [
    ["dev", "SIGTERM", "npm's PID"],
    ["dev", "SIGINT", "npm's PID"],
    ["dev:local", "SIGTERM", "npm's PID"],
    ["dev", "SIGKILL", "npm's process group"],
    ["dev:local", "SIGKILL", "npm's process group"],
  ] as const;
  it.each(cases)("npm run %s stops on %s to %s: no workerd left, the port free", async (script, signal, target) => {
    const port = await freePort();
    // wrangler's inspector would take port 9229 by default, which a second relay on the machine may hold.
    const extra = script === "dev" ? ["--inspector-port", String(await freePort())] : [];
    // `--port=N`, as many tools write it (the .dev.vars case below passes `--port N`).
    const toGroup = target === "npm's process group";
    const npm = spawn("npm", ["run", script, "--", `--port=${port}`, "--persist-to", persistTo, ...extra], {
      cwd: ROOT,
      env: { ...ENV, TMPDIR: relayTmp },
      stdio: ["ignore", "pipe", "pipe"],
      detached: toGroup, // npm leads a group of its own, as under a terminal or `timeout`
    });
    let output = "";
    npm.stdout.on("data", (chunk: Buffer) => (output += chunk));
    npm.stderr.on("data", (chunk: Buffer) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => npm.once("exit", (code) => resolve(code)));

    const healthy = async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/v1/health`, { signal: AbortSignal.timeout(1_000) })).ok;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 60_000;
    while (!(await healthy())) {
      if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm run ${script} did not serve:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const below = childProcesses(npm.pid!);
    started.push(...below);
    expect(below.some((info) => info.command.includes("workerd"))).toBe(true);

    process.kill(toGroup ? -npm.pid! : npm.pid!, signal);
    await exited;
    await until(() => below.every((info) => !alive(info.pid)), 10_000).catch(() => {});
    expect(below.filter((info) => alive(info.pid)).map((info) => info.command)).toEqual([]);
    await until(() => !somethingListensOn(port), 10_000);
  });

  it("dev:local reads .dev.vars as wrangler dev does: with a token secret there, a hello without a token is refused", async () => {
    const app = mkdtempSync(join(tmpdir(), "weft-dev-vars-"));
    writeFileSync(join(app, ".dev.vars"), '# local settings\nWEFT_TOKEN_SECRET="a-long-random-local-secret-of-32-bytes-or-more"\n');
    const port = await freePort();
    const relay = spawn(process.execPath, [join(ROOT, "scripts/local-relay.ts"), "--port", String(port), "--persist-to", join(app, "state")], { cwd: app, env: ENV, stdio: "ignore" });
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${port}/v1/health`, { signal: AbortSignal.timeout(1_000) }).then((response) => response.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline || relay.exitCode !== null) throw new Error("dev:local did not serve");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const client = await createClient({ url: `http://127.0.0.1:${port}`, identity: createIdentity() });
      const group = client.group("g1");
      const closed = new Promise<string | undefined>((resolve) => group.onStatus((status, reason) => status === "closed" && resolve(reason)));
      expect(await closed).toMatch(/unauthorized/);
      await client.close();
    } finally {
      relay.kill("SIGTERM");
      await new Promise((resolve) => relay.once("exit", resolve));
      rmSync(app, { recursive: true, force: true });
    }
  });
});
