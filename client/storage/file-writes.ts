// Writes to files that several stores (processes, threads, clients) share: a new file appears whole, an
// append is one write to the end, and either is flushed to the disk (fsync) before it counts as saved.
import { randomUUID } from "node:crypto";
import { link, open, rm, stat, writeFile } from "node:fs/promises";

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
 * A file written whole meanwhile (compacted: a new file renamed over the one this wrote to) may not hold
 * it. A store compacts only while no other store holds a lease on the folder, but a save made without one
 * (the store called by hand) can meet it: once written, it is written again to the file that now has the
 * name, until one that keeps the name holds it. An append replayed twice changes nothing (applyChanges),
 * and the compaction copies the whole lines the old file got after it was read (file-compaction.ts).
 */
export async function appendWhole(path: string, bytes: Buffer, fsync: boolean): Promise<void> {
  for (;;) {
    const file = await open(path, "a");
    let replaced: boolean;
    try {
      let written = 0;
      while (written < bytes.length) written += (await file.write(bytes, written, bytes.length - written)).bytesWritten;
      if (fsync) await file.sync();
      const [writtenTo, named] = await Promise.all([file.stat(), stat(path).catch(() => undefined)]);
      // No file by the name: the document was removed, and what was written goes with it.
      replaced = named !== undefined && (named.ino !== writtenTo.ino || named.dev !== writtenTo.dev);
    } finally {
      await file.close();
    }
    if (!replaced) return;
  }
}

export async function fsyncPath(path: string): Promise<void> {
  const file = await open(path, "r");
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}
