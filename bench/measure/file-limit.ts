// Raises this process's open-file limit (soft and hard) so that it, and every process it starts afterwards
// (workerd, wrangler's proxy), can hold tens of thousands of sockets. Raising a hard limit needs
// CAP_SYS_RESOURCE (root usually has it; a container may drop it even for root); otherwise the limit stays.
// Only the measurement scripts call this; npm test and npm run bench never depend on it.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

export type FileLimit = { soft: number; hard: number; raised: boolean; why?: string };

/** The current limit, as `prlimit` reports it for this process. */
export function fileLimit(): { soft: number; hard: number } {
  const limits = readFileSync(`/proc/${process.pid}/limits`, "utf8");
  const line = limits.split("\n").find((row) => row.startsWith("Max open files"));
  const [soft, hard] = (line?.match(/\d+/g) ?? []).map(Number);
  return { soft: soft ?? Number.NaN, hard: hard ?? Number.NaN };
}

/** Asks for `wanted` open files (capped by the kernel's fs.nr_open); says whether it got them and why not. */
export function raiseFileLimit(wanted: number): FileLimit {
  const before = fileLimit();
  if (before.soft >= wanted) return { ...before, raised: false };
  const nrOpen = Number(readFileSync("/proc/sys/fs/nr_open", "utf8").trim());
  const target = Math.min(wanted, nrOpen);
  try {
    execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${target}:${target}`], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const why = `prlimit --nofile=${target}:${target} failed (raising the hard limit of ${before.hard} needs CAP_SYS_RESOURCE): ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? (error as Error).message}`;
    return { ...fileLimit(), raised: false, why };
  }
  return { ...fileLimit(), raised: true };
}

/** Open descriptors of this process and of every process it started (workerd, wrangler), by command. */
export function descriptorsByProcess(): { pid: number; command: string; fds: number; limit: number }[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [process.pid];
  for (let i = 0; i < tree.length; i++) for (const [pid, parent] of parents) if (parent === tree[i]) tree.push(pid);
  return tree.flatMap((pid) => {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).map((part) => part.split("/").pop()).slice(0, 2).join(" ");
      const limits = readFileSync(`/proc/${pid}/limits`, "utf8").split("\n").find((row) => row.startsWith("Max open files"));
      return [{ pid, command, fds: readdirSync(`/proc/${pid}/fd`).length, limit: Number(limits?.match(/\d+/)?.[0]) }];
    } catch {
      return [];
    }
  });
}
