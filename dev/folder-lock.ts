// One relay per storage folder: two workerd processes on one folder's SQLite files fail each other's writes
// (SQLITE_BUSY) and their clients part ways without a word, each relay fanning out only what reached it. A
// relay started on a folder holds `<folder>/weft-relay.lock` (its process's id and start time, the thread that
// started it, and once running its workerd's id) until it stops; one whose process is gone (killed, crashed),
// or whose workerd is, holds nothing, and the next relay takes the folder over. Threads of one process
// (vitest's threads pool) each load this module, so the thread is in the lock, and its workerd tells
// another thread whether it still runs.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import { runsWorkerd } from "./orphan-guard.ts";
import { startTimeOf } from "../client/storage/file-session-locks.ts";

const LOCK_FILE = "weft-relay.lock";
/** Folders this process's relays hold. */
const held = new Set<string>();

export type FolderLock = {
  /** The relay runs as this workerd process: a thread of this process that finds the lock checks it. */
  servedBy(workerd: number | undefined): void;
  /** Lets the folder go. */
  release(): void;
};

/** Takes `folder` for a relay of this thread; throws when a live relay holds it. */
export function lockFolder(folder: string): FolderLock {
  mkdirSync(folder, { recursive: true });
  const path = join(folder, LOCK_FILE);
  const ourProcess = `${process.pid} ${startTimeOf(process.pid)}`;
  const mine = `${ourProcess} ${threadId}`;
  for (;;) {
    try {
      writeFileSync(path, mine, { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = readHolder(path);
    const [pid, start, thread, workerd] = holder.split(" ");
    const lives =
      `${pid} ${start} ${thread}` === mine ? held.has(path)
      : `${pid} ${start}` === ourProcess ? workerd === undefined || runsWorkerd(Number(workerd)) // another thread's: starting, or running
      : holderLives(holder);
    if (lives) {
      throw new Error(`startRelay: the folder ${folder} is in use by another relay (process ${pid}${`${pid} ${start}` === ourProcess && thread !== String(threadId) ? `, thread ${thread}` : ""}); stop it first, or pass another persistTo`);
    }
    rmSync(path, { force: true }); // its relay is gone
  }
  held.add(path);
  let written = mine;
  return {
    servedBy(workerd) {
      if (workerd === undefined || readHolder(path) !== written) return;
      writeFileSync(path, (written = `${mine} ${workerd}`));
    },
    release() {
      held.delete(path);
      if (readHolder(path) === written) rmSync(path, { force: true });
    },
  };
}

function readHolder(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

/** Whether the process a lock names runs still (the same one: a reused id has another start time). */
function holderLives(holder: string): boolean {
  const [pidText, start] = holder.split(" ");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const started = startTimeOf(pid);
  return start === undefined || start === "0" || started === "0" || started === start;
}
