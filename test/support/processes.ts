// What a test checks after stopping a relay: which processes a process still has below it, and whether a
// port on 127.0.0.1 is free again. Linux only (reads /proc).
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";

export type ProcessInfo = { pid: number; parent: number; command: string };

function processes(): ProcessInfo[] {
  return readdirSync("/proc").flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command sits in parentheses and may hold spaces; the fields after it are space-separated.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") return []; // exited, waiting to be reaped
      const command = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
      return [{ pid: Number(entry), parent: Number(fields[1]), command }];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** Every live process below `pid` (children, grandchildren, ...). */
export function childProcesses(pid: number): ProcessInfo[] {
  const all = processes();
  const found: ProcessInfo[] = [];
  const parents = [pid];
  while (parents.length > 0) {
    const parent = parents.pop()!;
    for (const info of all) {
      if (info.parent === parent) {
        found.push(info);
        parents.push(info.pid);
      }
    }
  }
  return found;
}

/** Whether `pid` is a running process (not one that exited and awaits reaping). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
