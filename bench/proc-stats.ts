// Resident memory and CPU time of the relay's processes, read from /proc (Linux). `startRelay` runs
// wrangler in its own process group (detached) and hands back no pid, so the group is found through the
// wrangler process whose command line names the persist directory; workerd shares that group.
import { readFileSync, readdirSync, statSync, type Dirent } from "node:fs";

/** Linux reports utime/stime in clock ticks; 100 per second on every Linux build we care about. */
const CLOCK_TICKS_PER_SECOND = 100;

type ProcStat = { pid: number; name: string; parent: number; processGroup: number; cpuMs: number };

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name sits in parentheses and may itself contain spaces or parentheses: split after the last one.
    const close = text.lastIndexOf(")");
    const name = text.slice(text.indexOf("(") + 1, close);
    const fields = text.slice(close + 2).split(" "); // fields[0] is field 3 (state)
    const parent = Number(fields[1]);
    const processGroup = Number(fields[2]);
    const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime: fields 14 and 15
    return { pid, name, parent, processGroup, cpuMs: (cpuTicks * 1000) / CLOCK_TICKS_PER_SECOND };
  } catch {
    return undefined; // gone meanwhile
  }
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

function rssKiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** A relay's process group: wrangler, scripts/local-relay.ts or the floor's serve-miniflare.ts (found by its --persist-to argument) and everything it started. */
export function relayProcessGroup(persistTo: string): number | undefined {
  for (const pid of allPids()) {
    const line = commandLine(pid);
    if ((line.includes("wrangler") || line.includes("local-relay") || line.includes("serve-miniflare")) && line.includes(persistTo)) return readStat(pid)?.processGroup;
  }
  return undefined;
}

export type TreeSample = { rssKiB: number; cpuMs: number; processes: { pid: number; name: string; rssKiB: number; cpuMs: number }[] };

/** Sum of resident memory and CPU time over every live process of one process group. */
export function sampleProcessGroup(processGroup: number): TreeSample {
  const processes: TreeSample["processes"] = [];
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (!stat || stat.processGroup !== processGroup) continue;
    processes.push({ pid, name: stat.name, rssKiB: rssKiB(pid), cpuMs: stat.cpuMs });
  }
  return {
    rssKiB: processes.reduce((sum, p) => sum + p.rssKiB, 0),
    cpuMs: processes.reduce((sum, p) => sum + p.cpuMs, 0),
    processes,
  };
}

/** CPU time (user + system) of one process, in ms; 0 once it is gone. */
export const processCpuMs = (pid: number): number => readStat(pid)?.cpuMs ?? 0;

/**
 * A reader of the CPU time (ms) of this process's children named `name` (the workerd a Miniflare of this
 * process started, say). They are found at the first read, so later reads cost one stat file each.
 */
export function childrenCpu(name: string): () => number {
  let pids: number[] | undefined;
  return () => {
    pids ??= allPids().filter((pid) => {
      const stat = readStat(pid);
      return stat?.name === name && stat.parent === process.pid;
    });
    return pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  };
}

/** Busy and total CPU time of the whole machine so far (all cores), from the first line of /proc/stat. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    const busy = user + nice + system + irq + softirq + steal;
    const toMs = (ticks: number) => (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
    return { busyMs: toMs(busy), totalMs: toMs(busy + idle + iowait) };
  } catch {
    return { busyMs: 0, totalMs: 0 };
  }
}

/**
 * CPU used between two samples of a process group. Per process, so that a process that exited or was
 * replaced in between (wrangler dev rebuilds the Worker when its sources change) does not count as
 * negative time; a process that appeared counts in full.
 */
export function cpuBetween(before: TreeSample, after: TreeSample): number {
  const earlier = new Map(before.processes.map((process) => [process.pid, process.cpuMs]));
  return after.processes.reduce((sum, process) => sum + process.cpuMs - (earlier.get(process.pid) ?? 0), 0);
}

/** Whether the relay's processes changed between two samples (a rebuild or a restart). */
export function processesChanged(before: TreeSample, after: TreeSample): boolean {
  const pids = (sample: TreeSample) => sample.processes.filter((process) => process.name === "workerd").map((process) => process.pid).sort().join(",");
  return pids(before) !== pids(after);
}

/** Bytes on disk under a folder, by its first-level subfolder under `v3/` (do, observability, cache, …). */
export function storageBytes(persistTo: string): Record<string, number> {
  const totals: Record<string, number> = {};
  const walk = (dir: string, kind: string | undefined) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path, kind ?? (dir.endsWith("/v3") ? entry.name : undefined));
      else if (kind) totals[kind] = (totals[kind] ?? 0) + (statSizeOf(path) ?? 0);
    }
  };
  walk(persistTo, undefined);
  return totals;
}

function statSizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
