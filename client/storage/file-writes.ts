// Writes to files that several stores (processes, threads, clients) share: a new file appears whole, an
// append is one write to the end, and either is flushed to the disk (fsync) before it counts as saved.
import { randomUUID } from "node:crypto";
import { constants } from "node:fs";
import { link, open, rm, stat, writeFile, type FileHandle } from "node:fs/promises";

/**
 * Makes the file at `path` holding `bytes`, written aside first and linked into place whole (a link never
 * replaces a file). False, nothing changed, when a file is there already (another store made it meanwhile)
 * or the file system has no hard links (FAT): the caller appends instead.
 */
export async function createWhole(path: string, bytes: Buffer, fsync: boolean): Promise<boolean> {
  const aside = `${path}.${randomUUID()}.new`;
  try {
    await writeFile(aside, bytes);
    if (fsync) await fsyncPath(aside);
    return await link(aside, path).then(
      () => true,
      () => false,
    );
  } finally {
    await rm(aside, { force: true });
  }
}

/**
 * One write of the whole buffer to the end of the file (O_APPEND), looping over short writes, then fsync.
 * Another store may be writing the file whole meanwhile (compaction: a new file renamed over the one this
 * wrote to). With `rewritten` (file-session-locks.ts), a write that lands while one says so waits for it to
 * end: the compaction read it, or copies it into the new file before it ends (file-compaction.ts). A file
 * that then, or at once, has another file by its name is written again, until one that keeps the name holds
 * it: a compaction that died after its rename, or one that said nothing (a store of an earlier version),
 * may not have copied it. An append replayed twice changes nothing (applyChanges). Waiting is bounded
 * (FILE_COMPACTION_WAIT_MS): a compaction stuck that long holds the save up no longer.
 * Only with `create` is a missing file made: otherwise a file removed before the write, or while it was
 * written, holds nothing of it, and it resolves `"missing"`.
 */
export async function appendWhole(path: string, bytes: Buffer, fsync: boolean, rewritten?: (path: string) => Promise<boolean>, { create = false } = {}): Promise<"written" | "missing"> {
  for (;;) {
    const file = await open(path, create ? "a" : constants.O_WRONLY | constants.O_APPEND).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (!file) return "missing";
    try {
      let written = 0;
      while (written < bytes.length) written += (await file.write(bytes, written, bytes.length - written)).bytesWritten;
      if (fsync) await file.sync();
      await rewritten?.(path);
      const named = await fileByName(path, file);
      if (named === "this") return "written";
      if (named === "none") return "missing"; // removed: what was written went with it
    } finally {
      await file.close();
    }
  }
}

/** Which file has the name `path` now: the open `file`, another (one written whole, renamed over it), or none (removed). */
export async function fileByName(path: string, file: FileHandle): Promise<"this" | "another" | "none"> {
  const [opened, named] = await Promise.all([file.stat(), stat(path).catch(() => undefined)]);
  if (!named) return "none";
  return named.ino === opened.ino && named.dev === opened.dev ? "this" : "another";
}

export async function fsyncPath(path: string): Promise<void> {
  const file = await open(path, "r");
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}
