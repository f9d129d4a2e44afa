// Session leases for FileLocalStore: lock files in `<store>/sessions/`, safe when several processes (or
// worker threads) share one store directory.
//
// A session's pool entry is `<session>.session`. A client claims a session with a lock file
// `<session>.lock.<pid>.<start>.<realm>.<n>` created with O_EXCL, then looks at the session's other lock
// files: stale ones (their process is gone) it deletes; if another claim is held (it has a `….held` file
// beside it) or is a live racer's whose name sorts first, it removes its own and gives up. While only
// racers whose names sort after its own are left, it waits for each to give up or to win (one that looked
// before this claim existed may win). Once none is left it holds the session, and says so with its own
// `….held` file. A claim stays until its holder lets go, so of two holders the later claimant would have
// seen the earlier's: at most one ever holds a session; and of clients racing for a free one, one gets it.
// A lock is stale when its process is gone: `kill(pid, 0)` says so, and on Linux the process's start time
// (from /proc) tells a reused pid from the holder (in containers every run may be pid 1).
//
// A store that starts unsent.jsonl again does so only while it is alone on the folder (whileAlone): it
// creates a marker `compacting.<pid>.<start>.<realm>.<n>`, then looks for live claims other than its own
// clients'; a claimant, once it holds a session, waits for live markers to go before its lease resolves. Each
// makes its file before it looks for the other's, so of the two at the same moment, at least one sees the
// other: the work is given up, or the lease waits for it.
//
// A store that writes a document's file whole (compaction) says so with a marker `rewriting/<owner>` holding
// the file's path (whileRewriting), made before it reads the file; another store writing the same file whole
// gives up. An append to the file, once written, waits while a live marker names it (rewritten): the
// compaction either read the append, or copies it into the new file before its marker goes
// (file-compaction.ts, file-writes.ts). So a save resolves only once the file by its name holds it. The
// markers have a folder of their own, since every save looks at them: `sessions/` holds a file per session
// any agent pooled (an app that makes a new identity at each start adds one a run).
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import type { AgentId, SessionId } from "../../protocol/index.ts";
import { FILE_COMPACTION_WAIT_MS } from "../../protocol/limits.ts";
import { makeFolder } from "./make-folder.ts";
import { afterMs, runtimeNow } from "../runtime-timers.ts";
import type { SessionLocks } from "./session-pool.ts";

/** How long a claim waits for racers that sort after it to give up or win, before giving up itself. */
const RACE_WAIT_MS = 1_000;
const HELD = ".held";
const LOCK = ".lock.";
const COMPACTING = "compacting.";

/** Session locks, and a way to do work while no other store holds a lease on the folder. */
export type FileSessionLocks = SessionLocks & {
  /**
   * Runs `work` while no client of another store (process, thread, or FileLocalStore on the same folder)
   * holds or claims a session here, and no lease is granted meanwhile; resolves undefined, without running
   * it, where one does or another store is doing the same.
   */
  whileAlone<T>(work: () => Promise<T>): Promise<T | undefined>;
  /**
   * Runs `work`, which writes the file at `path` whole, with a marker naming the file; resolves undefined,
   * without running it, where another store (or this one) is writing that file whole.
   */
  whileRewriting<T>(path: string, work: () => Promise<T>): Promise<T | undefined>;
  /**
   * Resolves once the stores on the folder (this one included) writing the file at `path` whole now are
   * done, or FILE_COMPACTION_WAIT_MS later: true where one was. Rewrites that begin meanwhile are not
   * waited for, so a stream of them never holds a save up.
   */
  rewritten(path: string): Promise<boolean>;
};

/** This realm's mark in its lock files, so a worker thread of the same process is told apart from us. */
const REALM = Math.random().toString(36).slice(2, 10);
const OWN_START = startTimeOf(process.pid);
/**
 * Lock files this realm holds right now: their paths, by name (unique to the realm, whichever path another
 * store in it reaches the folder by: a link).
 */
const heldFiles = new Map<string, string>();
let lockCounter = 0;
let cleanupAtExit = false;

/** A process that exits without closing its clients leaves no lock files behind (a crash still may: see isHeld). */
function removeAtExit(): void {
  if (cleanupAtExit) return;
  cleanupAtExit = true;
  process.once("exit", () => {
    for (const path of heldFiles.values()) rmSync(path, { force: true });
  });
}

export function fileSessionLocks(directory: string): FileSessionLocks {
  const folder = join(directory, "sessions");
  const rewritingFolder = join(folder, "rewriting");
  const list = (where = folder): string[] => (existsSync(where) ? readdirSync(where) : []);
  /** The lock files and markers this store made and holds: its own clients' are no other store's. */
  const own = new Set<string>();
  const make = (name: string, content = "", where = folder): string => {
    const path = join(where, name);
    writeFileSync(path, content, { flag: "wx" });
    own.add(path);
    heldFiles.set(name, path);
    removeAtExit();
    return path;
  };
  const drop = (path: string): void => {
    rmSync(path, { force: true });
    own.delete(path);
    heldFiles.delete(basename(path));
  };
  /** Whether a live lock file or marker of another store, of one of the kinds asked for, is in the folder. */
  const othersLive = (kinds: { claims: boolean }): boolean =>
    list().some((name) => {
      const owner = ownerIn(name, kinds.claims);
      const path = join(folder, name);
      return owner !== undefined && !own.has(path) && isHeld(path, owner);
    });
  /**
   * What a marker says of the file at `path`: its path in the store folder, the same whichever path a store
   * reached the folder by (relative, or through a link).
   */
  const named = (path: string): string => relative(directory, path);
  /**
   * The live markers of stores writing the file at `path` whole, but for `except`. A marker still empty may
   * name it. One older than FILE_COMPACTION_WAIT_MS is passed over: a compaction takes milliseconds, so its
   * store is stuck or gone (a worker thread terminated mid-way leaves one that its process still seems to hold).
   */
  const rewritingMarkers = (path: string, except?: string): string[] => {
    const file = named(path);
    return list(rewritingFolder).flatMap((name) => {
      const marker = join(rewritingFolder, name);
      if (marker === except) return [];
      if (!isHeld(marker, name)) {
        rmSync(marker, { force: true }); // its process died mid-way
        return [];
      }
      const made = statSync(marker, { throwIfNoEntry: false });
      if (!made || made.mtimeMs < Date.now() - FILE_COMPACTION_WAIT_MS) return [];
      const says = readOr(marker, "");
      return says === file || says === "" ? [marker] : [];
    });
  };
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
      makeFolder(folder);
      try {
        writeFileSync(join(folder, `${session}.session`), String(Date.now()), { flag: "wx" });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    },

    async tryLock(session: SessionId): Promise<(() => Promise<void>) | undefined> {
      makeFolder(folder);
      const prefix = `${session}${LOCK}`;
      const owner = ownerName();
      const claim = make(`${prefix}${owner}`);
      const giveUp = () => {
        drop(claim);
        return undefined;
      };
      for (const deadline = runtimeNow() + RACE_WAIT_MS; ; ) {
        let racers = 0;
        for (const name of list()) {
          if (!name.startsWith(prefix)) continue;
          const other = name.slice(prefix.length);
          const marksHeld = other.endsWith(HELD);
          const otherOwner = marksHeld ? other.slice(0, -HELD.length) : other;
          if (otherOwner === owner) continue;
          const path = join(folder, name);
          if (!isHeld(path, otherOwner)) rmSync(path, { force: true }); // stale: its holder is gone
          else if (marksHeld || otherOwner < owner) return giveUp();
          else racers++;
        }
        if (racers === 0) break;
        if (runtimeNow() > deadline) return giveUp();
        await afterMs(2);
      }
      const held = make(`${prefix}${owner}${HELD}`);
      // Another store writing a file whole began before this claim was made: the lease waits for it.
      for (const deadline = runtimeNow() + FILE_COMPACTION_WAIT_MS; othersLive({ claims: false }) && runtimeNow() < deadline; ) {
        await afterMs(2);
      }
      return async () => {
        drop(held);
        drop(claim);
      };
    },

    async whileAlone(work) {
      makeFolder(folder);
      const marker = make(`${COMPACTING}${ownerName()}`);
      try {
        return othersLive({ claims: true }) ? undefined : await work();
      } finally {
        drop(marker);
      }
    },

    async whileRewriting(path, work) {
      makeFolder(rewritingFolder);
      const marker = make(ownerName(), named(path), rewritingFolder);
      try {
        return rewritingMarkers(path, marker).length > 0 ? undefined : await work();
      } finally {
        drop(marker);
      }
    },

    async rewritten(path) {
      // Only the rewrites under way now: one that begins later reads the file as it is now.
      const underway = rewritingMarkers(path);
      const ongoing = () => {
        const live = new Set(rewritingMarkers(path));
        return underway.some((marker) => live.has(marker));
      };
      for (const deadline = runtimeNow() + FILE_COMPACTION_WAIT_MS; underway.length > 0 && ongoing() && runtimeNow() < deadline; ) {
        await afterMs(2);
      }
      return underway.length > 0;
    },
  };
}

const ownerName = (): string => `${process.pid}.${OWN_START}.${REALM}.${++lockCounter}`;

/**
 * The owner named by a compaction marker, or with `claims` also by a session's lock file (a claim, or one
 * marked held); undefined for any other file.
 */
function ownerIn(name: string, claims: boolean): string | undefined {
  if (name.startsWith(COMPACTING)) return name.slice(COMPACTING.length);
  const at = claims ? name.indexOf(LOCK) : -1;
  if (at < 0) return undefined;
  const owner = name.slice(at + LOCK.length);
  return owner.endsWith(HELD) ? owner.slice(0, -HELD.length) : owner;
}

/** Whether the lock file at `path` (named `<pid>.<start>.<realm>.<n>[.held]` after its prefix) has a live holder. */
function isHeld(path: string, owner: string): boolean {
  const [pidText, start, realm] = owner.split(".");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false; // not a lock file this code wrote
  if (pid === process.pid && start === OWN_START) return realm === REALM ? heldFiles.has(basename(path)) : true;
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
export function startTimeOf(pid: number): string {
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
