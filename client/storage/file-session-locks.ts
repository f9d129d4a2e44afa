// Session leases for FileLocalStore: lock files in `<store>/sessions/`, safe when several processes (or
// worker threads) share one store directory.
//
// A session's pool entry is `<session>.session`; a lease is a lock file `<session>.lock.<pid>.<start>.<realm>.<n>`
// created with O_EXCL. A client creates its own lock file first, then looks at every other lock file of
// the session: if any belongs to a live holder it removes its own and gives up, otherwise it deletes the
// stale ones and holds the session. Of two clients racing, the one that looks second always sees the
// other's file, so at most one ever holds; at worst both give up and each takes a fresh session.
// A lock is stale when its process is gone: `kill(pid, 0)` says so, and on Linux the process's start time
// (from /proc) tells a reused pid from the holder (in containers every run may be pid 1).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentId, SessionId } from "../../protocol/index.ts";
import type { SessionLocks } from "./session-pool.ts";

/** This realm's mark in its lock files, so a worker thread of the same process is told apart from us. */
const REALM = Math.random().toString(36).slice(2, 10);
const OWN_START = startTimeOf(process.pid);
/** Lock files this realm holds right now, by path. */
const heldFiles = new Set<string>();
let lockCounter = 0;
let cleanupAtExit = false;

/** A process that exits without closing its clients leaves no lock files behind (a crash still may: see isHeld). */
function removeAtExit(): void {
  if (cleanupAtExit) return;
  cleanupAtExit = true;
  process.once("exit", () => {
    for (const path of heldFiles) rmSync(path, { force: true });
  });
}

export function fileSessionLocks(directory: string): SessionLocks {
  const folder = join(directory, "sessions");
  const list = (): string[] => (existsSync(folder) ? readdirSync(folder) : []);
  return {
    async pool(agent: AgentId): Promise<SessionId[]> {
      const pooled = list()
        .filter((name) => name.startsWith(`${agent}~`) && name.endsWith(".session"))
        .map((name) => ({ session: name.slice(0, -".session".length) as SessionId, created: Number(readOr(join(folder, name), "0")) }))
        .sort((a, b) => a.created - b.created || (a.session < b.session ? -1 : 1))
        .map((entry) => entry.session);
      // Stores written before leases kept one session per agent in sessions.json: it is the oldest.
      const legacy = legacySession(directory, agent);
      return legacy && !pooled.includes(legacy) ? [legacy, ...pooled] : pooled;
    },

    async addToPool(_agent: AgentId, session: SessionId): Promise<void> {
      mkdirSync(folder, { recursive: true });
      try {
        writeFileSync(join(folder, `${session}.session`), String(Date.now()), { flag: "wx" });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    },

    async tryLock(session: SessionId): Promise<(() => Promise<void>) | undefined> {
      mkdirSync(folder, { recursive: true });
      const prefix = `${session}.lock.`;
      const mine = join(folder, `${prefix}${process.pid}.${OWN_START}.${REALM}.${++lockCounter}`);
      writeFileSync(mine, "", { flag: "wx" });
      heldFiles.add(mine);
      removeAtExit();
      for (const name of list()) {
        const path = join(folder, name);
        if (!name.startsWith(prefix) || path === mine) continue;
        if (isHeld(path, name.slice(prefix.length))) {
          rmSync(mine, { force: true });
          heldFiles.delete(mine);
          return undefined;
        }
        rmSync(path, { force: true }); // stale: its holder is gone
      }
      return async () => {
        heldFiles.delete(mine);
        rmSync(mine, { force: true });
      };
    },
  };
}

/** Whether the lock file at `path` (named `<pid>.<start>.<realm>.<n>` after its prefix) has a live holder. */
function isHeld(path: string, owner: string): boolean {
  const [pidText, start, realm] = owner.split(".");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false; // not a lock file this code wrote
  if (pid === process.pid && start === OWN_START) return realm === REALM ? heldFiles.has(path) : true;
  if (pid === process.pid) return false; // an earlier process that had our pid
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const started = startTimeOf(pid);
  return start === "0" || started === "0" || started === start;
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or "0" where unknown. */
function startTimeOf(pid: number): string {
  const stat = readOr(`/proc/${pid}/stat`, "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return /^\d+$/.test(fields[19] ?? "") ? fields[19]! : "0";
}

function legacySession(directory: string, agent: AgentId): SessionId | undefined {
  try {
    const sessions = JSON.parse(readFileSync(join(directory, "sessions.json"), "utf8")) as Record<string, unknown>;
    const session = sessions[agent];
    return typeof session === "string" && session.startsWith(`${agent}~`) ? (session as SessionId) : undefined;
  } catch {
    return undefined;
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}
