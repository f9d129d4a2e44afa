// The interleavings fuzzer (test/fuzz) on a few fixed seeds, short: the real SDK against the real relay with
// connections cut, relay restarts, clients restarted on their stores, a second tab, role changes, refused
// writes, presence and Yjs, every client compared with a fresh reader at the end. A problem it reports (a
// write lost or changed, a promise that never settled, a group not live) fails the suite. The seeds fix the
// choices, not the timing; `npm run fuzz` runs as many seeds and steps as wanted.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { childProcesses, isAlive } from "../support/processes.ts";

const FUZZER = fileURLToPath(new URL("../fuzz/interleavings.ts", import.meta.url));
const SEEDS = [1, 2, 3];
const STEPS = 200;
/** A seed that runs longer than this hangs: its process and everything below it is stopped. */
const SEED_BOUND_MS = 90_000;

function runSeed(seed: number): Promise<{ code: number | null; output: string }> {
  const args = [FUZZER, "--seed", String(seed), "--steps", String(STEPS), "--roles", "--prune", "--presence", "--yjs", "--tabs"];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk));
  const bound = setTimeout(() => {
    output += `\n(stopped after ${SEED_BOUND_MS} ms)`;
    for (const below of childProcesses(child.pid!)) if (isAlive(below.pid)) process.kill(below.pid, "SIGKILL");
    child.kill("SIGKILL");
  }, SEED_BOUND_MS);
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(bound);
      resolve({ code, output });
    }),
  );
}

describe("interleavings", () => {
  it.each(SEEDS)("seed %i: every write reaches every reader unchanged, every promise settles", async (seed) => {
    const { code, output } = await runSeed(seed);
    expect(code, output).toBe(0);
    expect(output).toContain(`seed ${seed}: ${STEPS} steps`);
  }, SEED_BOUND_MS + 10_000);
});
