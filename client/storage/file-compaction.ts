// Compaction of a FileLocalStore document file: the file written whole again, holding what replaying its
// lines gives and nothing else (the transactions a snapshot replaced, what the relay held as each ack told
// it, the lines of older saves), in a new file renamed over the old one. Readers meanwhile read one file or
// the other, each whole.
//
// Nothing saved may be lost to it, while other stores (processes, threads, clients) append to the file. It
// runs under a marker naming the file (file-session-locks.ts, whileRewriting): no other store writes the
// same file whole meanwhile, and an append that lands while the marker is there waits for it to go
// (appendWhole). Lines the old file got after it was read are copied into the new one before the marker
// goes, and an append that finds its file replaced is written again. So a save resolves only once the file
// by its name holds it, and a load never misses one that has resolved. This store's own saves of the file
// wait for it (FileLocalStore runs a file's work in order). A file removed meanwhile stays removed.
// A file with anything unreadable is left as it is, so what it lost is told at every load.
import { isDeepStrictEqual } from "node:util";
import { randomUUID } from "node:crypto";
import { open, readdir, rename, rm, writeFile, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { DocId } from "../../protocol/index.ts";
import { replayLines, wholeLines } from "./file-lines.ts";
import { appendWhole, fileByName, fsyncPath } from "./file-writes.ts";

/**
 * Writes the document file at `path` whole; call it under a marker naming the file (whileRewriting).
 * Resolves with its size then, or undefined where it was left as it was (gone, anything in it unreadable,
 * or written whole it would not replay into the same document).
 */
export async function compactFile(path: string, id: DocId, fsync: boolean): Promise<number | undefined> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch {
    return undefined; // removed meanwhile
  }
  try {
    const read = await readFrom(file, 0);
    const replayed = replayLines(read.toString("utf8"), id);
    if (!replayed.doc || replayed.problems.length > 0) return undefined;
    const whole = wholeLines(replayed.doc);
    // A fault of this code must never cost a save: what is written must replay into what was read.
    const again = replayLines(whole, id);
    if (again.problems.length > 0 || !isDeepStrictEqual(again.doc, replayed.doc)) return undefined;
    // What a compaction cut short by a crash left aside: no other store writes this file whole now.
    for (const name of await readdir(dirname(path))) {
      if (name.startsWith(`${basename(path)}.`) && name.endsWith(".compact")) await rm(join(dirname(path), name), { force: true });
    }
    const aside = `${path}.${randomUUID()}.compact`;
    try {
      await writeFile(aside, whole);
      if (fsync) await fsyncPath(aside);
      // Removed (or replaced) since it was opened: written whole it would come back. A removal after this
      // look waits for the marker, and removes it again (FileLocalStore.remove).
      if ((await fileByName(path, file)) !== "this") return undefined;
      await rename(aside, path);
    } finally {
      await rm(aside, { force: true });
    }
    if (fsync) await fsyncPath(dirname(path));
    // Whole lines the old file got after it was read follow it; a line still being written is not whole,
    // and its writer writes it again (appendWhole).
    const later = await readFrom(file, read.length);
    const end = later.lastIndexOf(0x0a);
    if (end >= 0) await appendWhole(path, later.subarray(0, end + 1), fsync);
    return Buffer.byteLength(whole) + end + 1;
  } finally {
    await file.close();
  }
}

/** What an open file holds from byte `from` on. */
async function readFrom(file: FileHandle, from: number): Promise<Buffer> {
  const length = (await file.stat()).size - from;
  if (length <= 0) return Buffer.alloc(0);
  const bytes = Buffer.alloc(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await file.read(bytes, read, length - read, from + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return bytes.subarray(0, read);
}
