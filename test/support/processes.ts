// What a test checks after stopping a relay: which processes a process still has below it, and whether
// anything still listens on a port. Linux only (reads /proc).
import { readdirSync, readFileSync } from "node:fs";

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

/**
 * Whether any socket listens on `port` (any address), read from the kernel's socket tables. Binding the port to
 * find out would also fail while some unrelated outgoing connection happens to use it as its local port, which
 * a busy test run sees now and then.
 */
export function somethingListensOn(port: number): boolean {
  const LISTEN = "0A";
  return ["/proc/net/tcp", "/proc/net/tcp6"].some((table) => {
    let lines: string[];
    try {
      lines = readFileSync(table, "utf8").trim().split("\n").slice(1);
    } catch {
      return false; // no such table (IPv6 off)
    }
    return lines.some((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      return state === LISTEN && parseInt(local!.slice(local!.lastIndexOf(":") + 1), 16) === port;
    });
  });
}
