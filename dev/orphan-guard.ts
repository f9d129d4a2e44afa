// A relay's workerd must not outlive the Node process that started it. Miniflare spawns workerd as a child
// and stops it in dispose(), but a process killed with SIGKILL (a test runner's timeout, an IDE's stop
// button) or one that exits without stop() leaves workerd running, holding its port and its folder.
//
// So each process that starts a relay also starts one small watchdog: a Node child that reads workerd PIDs
// on its stdin and, once that pipe closes (its parent is gone, however it went), kills those still running.
// A relay stopped normally is taken off its list first, and the watchdog ends with the last relay's stop.
// It is unref'd: it never keeps the app's process alive. Linux and macOS; elsewhere nothing is guarded.
// `npm run dev` guards wrangler the same way, by its process group (wrangler and the workerd it starts).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";

/**
 * Kills each listed PID still running the guarded program once stdin closes; the check of the program's
 * name guards against a reused PID. The name comes in the environment, so `ps | grep workerd` does not
 * find the watchdog. A negative PID is a process group, killed whole as kill(2) does: a group's number is
 * not reused while any of its processes runs, and its guard takes it off the list once it has ended.
 */
const WATCHDOG = `
const { readFileSync } = require("node:fs");
const { execFileSync } = require("node:child_process");
const program = process.env.WEFT_GUARDED_PROGRAM;
const pids = new Map(); // PID -> how many relays listed it (relays started at once may each list the other's)
const runsProgram = (pid) => {
  try { return readFileSync("/proc/" + pid + "/comm", "utf8").includes(program); } catch {}
  try { return execFileSync("ps", ["-o", "comm=", "-p", String(pid)], { encoding: "utf8" }).includes(program); } catch { return false; }
};
let pending = "";
process.stdin.on("data", (chunk) => {
  pending += chunk;
  const lines = pending.split("\\n");
  pending = lines.pop();
  for (const line of lines) {
    const pid = line.slice(1);
    const count = (pids.get(pid) ?? 0) + (line[0] === "+" ? 1 : -1);
    if (count > 0) pids.set(pid, count);
    else pids.delete(pid);
  }
});
process.stdin.on("close", () => {
  for (const pid of pids.keys()) if (Number(pid) < 0 || runsProgram(pid)) try { process.kill(Number(pid), "SIGKILL"); } catch {}
  process.exit(0);
});
`;

let watchdog: ChildProcess | undefined;
/** Relays guarded now: the watchdog ends with the last one's release, so a process whose relays all stopped has none. */
let guarded = 0;

/** The workerd processes this process started (direct children), by PID. */
export function workerdChildren(): Set<number> {
  const found = new Set<number>();
  if (existsSync("/proc/self/stat")) {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        // The command sits in parentheses and may hold spaces; the parent's PID is the second field after it.
        const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (parent === process.pid && stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).includes("workerd")) found.add(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }
  if (process.platform !== "darwin") return found;
  try {
    for (const line of execFileSync("ps", ["-A", "-o", "pid=,ppid=,comm="], { encoding: "utf8" }).split("\n")) {
      const [pid, parent, ...command] = line.trim().split(/\s+/);
      if (Number(parent) === process.pid && command.join(" ").includes("workerd")) found.add(Number(pid));
    }
  } catch {
    // no ps: nothing to guard
  }
  return found;
}

/**
 * The workerd child of this process serving `port` (workerd listens on it itself), found by its socket: a
 * relay another thread of this process started meanwhile (vitest's threads pool) is not taken for this one,
 * as a list of the children before and after the start would take it. Where that cannot be read (no /proc:
 * macOS), the workerd children not among `before`.
 */
export function workerdServing(port: number, before: ReadonlySet<number>): number[] {
  const children = workerdChildren();
  const inodes = listeningSockets(port);
  if (inodes.size > 0) {
    const serving = [...children].filter((pid) => ownsSocket(pid, inodes));
    if (serving.length > 0) return serving;
  }
  return [...children].filter((pid) => !before.has(pid));
}

/** The inodes of the TCP sockets listening on `port`, from /proc/net (none where it is not there). */
function listeningSockets(port: number): Set<string> {
  const found = new Set<string>();
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st ... inode: the state 0A is LISTEN.
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[1]!.endsWith(local) && fields[3] === "0A") found.add(fields[9]!);
    }
  }
  return found;
}

function ownsSocket(pid: number, inodes: Set<string>): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        return target.startsWith("socket:[") && inodes.has(target.slice(8, -1));
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Whether `pid` is a workerd process that runs (a PID reused by another program is not, nor one that ended unreaped). */
export function runsWorkerd(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).includes("workerd") && state !== "Z" && state !== "X";
  } catch {
    if (existsSync("/proc/self/stat")) return false;
    try {
      return execFileSync("ps", ["-o", "comm=", "-p", String(pid)], { encoding: "utf8" }).includes("workerd");
    } catch {
      return false;
    }
  }
}

/**
 * Has the watchdog kill `pids` if this process goes without stopping them. Returns what takes them off its
 * list once they are stopped; after the last relay's, it resolves when the watchdog has ended too.
 */
export function guard(pids: Iterable<number>): () => Promise<void> {
  return watch([...pids]);
}

/**
 * Has the watchdog kill the process group `groupId` whole (a child spawned `detached`, with all it started)
 * if this process goes without stopping it. Returns what takes it off the list, as `guard` does; call it
 * once the group has ended.
 */
export function guardGroup(groupId: number): () => Promise<void> {
  return watch([-groupId]);
}

/** PIDs for the watchdog to kill, or (negative) process groups. */
function watch(list: number[]): () => Promise<void> {
  if (list.length === 0) return async () => {};
  const dog = (watchdog ??= startWatchdog());
  guarded++;
  tell(dog, list.map((pid) => `+${pid}\n`).join(""));
  let released: Promise<void> | undefined;
  return () =>
    (released ??= (async () => {
      tell(dog, list.map((pid) => `-${pid}\n`).join(""));
      if (--guarded > 0) return;
      if (watchdog === dog) watchdog = undefined;
      if (dog.exitCode !== null || dog.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => dog.once("close", () => resolve()));
      dog.ref(); // awaited now: the process stays up until it has ended
      dog.stdin?.end();
      await exited;
      // Its handle is let go in the turn after: a check for open handles right after finds none.
      await new Promise((resolve) => setTimeout(resolve, 0));
    })());
}

function startWatchdog(): ChildProcess {
  const env = { ...process.env, WEFT_GUARDED_PROGRAM: "workerd" };
  // In a process group of its own (detached): a kill of this process's whole group (`timeout -s KILL`, a
  // terminal's) must not take the watchdog with it, or a guarded group outside it (wrangler's) would live on.
  const dog = spawn(process.execPath, ["-e", WATCHDOG], { stdio: ["pipe", "ignore", "ignore"], env, detached: true, windowsHide: true });
  dog.on("error", () => {}); // without it, no guard; the relay still runs
  dog.stdin!.on("error", () => {});
  dog.unref();
  (dog.stdin as unknown as { unref?: () => void }).unref?.();
  return dog;
}

function tell(dog: ChildProcess, lines: string): void {
  if (dog.stdin?.writable) dog.stdin.write(lines);
}
