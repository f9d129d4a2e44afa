// A Node child process that reports on its stdout, one line per step, as the e2e sharers do ("ready", then
// a JSON result): the test reads its lines by index and kills it by PID at the end.
import { spawn, type ChildProcess } from "node:child_process";
import { until } from "./wait.ts";

/** `line(index)` waits for a line; `lines()` is every whole line so far. */
export type LineProcess = { child: ChildProcess; line(index: number): Promise<string>; lines(): string[] };

/**
 * Runs `script` with `args` under this Node, stdin piped, with `env` added to this process's environment;
 * added to `children`, which the test kills in afterAll.
 */
export function spawnLineProcess(script: string, args: readonly string[], children: ChildProcess[], env: Record<string, string> = {}): LineProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const line = (index: number) => until(() => output.split("\n").length > index + 1, 60_000).then(() => output.split("\n")[index]!);
  return { child, line, lines: () => output.split("\n").slice(0, -1) };
}
