// One relay per storage folder: two workerd processes on one folder's SQLite files fail each other's writes
// (SQLITE_BUSY) and their clients part ways without a word, each relay fanning out only what reached it. A
// relay started on a folder holds `<folder>/weft-relay.lock` (its process's id and start time) until it stops;
// one whose process is gone (killed, crashed) holds nothing, and the next relay takes the folder over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTimeOf } from "../client/storage/file-session-locks.ts";

const LOCK_FILE = "weft-relay.lock";
/** Folders this process's relays hold. */
const held = new Set<string>();

/** Takes `folder` for a relay of this process; returns what lets it go. Throws when a live relay holds it. */
export function lockFolder(folder: string): () => void {
  mkdirSync(folder, { recursive: true });
  const path = join(folder, LOCK_FILE);
  const mine = `${process.pid} ${startTimeOf(process.pid)}`;
  for (;;) {
    try {
      writeFileSync(path, mine, { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = readHolder(path);
    if (holder === mine ? held.has(path) : holderLives(holder)) {
      throw new Error(`startRelay: the folder ${folder} is in use by another relay (process ${holder.split(" ")[0]}); stop it first, or pass another persistTo`);
    }
    rmSync(path, { force: true }); // its relay is gone
  }
  held.add(path);
  return () => {
    held.delete(path);
    if (readHolder(path) === mine) rmSync(path, { force: true });
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
