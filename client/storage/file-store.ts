// A LocalStore for Node: one JSON-lines file per document, one line appended per save, written and
// fsynced (by default) before the save resolves, so a save has reached the disk before the SDK sends
// anything (a line telling only what the relay holds is written without fsync: see save). The write and
// its fsync run off the main thread (node:fs's promises), so an app's event loop goes on meanwhile; saves
// of one file are written in the order they were made. Plain files keep it dependency-free and easy to
// inspect.
//
// Torn writes: every save starts on a fresh line ("\n" + record + "\n"), so a record torn by a crash, a full
// disk or a power cut can never glue onto the next one, and loading skips any line that does not parse. A
// torn save followed by the next record was never confirmed, and the saves after it follow what was
// readable, so it costs only itself and goes unsaid. Anything else skipped is told to onDamage, once per
// document (replayLines, file-lines.ts): a torn last line still torn once the file has stood still a
// moment (it may be another process's save being written; a whole save cut short on the disk looks the
// same, and may hold unsent writes), an empty file, and a line damaged later on the disk, with what it
// costs beyond itself: the saves of its session after it wait aside until the relay's copy fills the hole
// (a log keeps no holes; the client then joins them, and pushes the unsent writes among them), or, both
// lines holding the header (a new file has it twice: #appendRecord), the whole document until a header
// that is the document's own is saved again (applyChanges). A damaged line that still parses is left out
// by the client's checks of what it reads back (client/stored-checks.ts).
// Several processes may share one directory: appends go to files opened with O_APPEND (each save one
// write), nothing is ever truncated or rewritten in place, and session leases are lock files
// (file-session-locks.ts). A file is written whole again (file-compaction.ts), under a marker that the
// other stores' appends to it wait for, once what was appended since it was last written whole is more than
// it held then (and FILE_COMPACT_MIN_BYTES), at a snapshot saved into a file that big, and at a load that
// finds it holds twice what it would written whole: a file grows with its document, not with every save
// ever made, however many processes share the folder.
import { appendFileSync, closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { randomUUID } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isDocId, type AgentId, type DocId, type Role } from "../../protocol/index.ts";
import { FILE_COMPACT_MIN_BYTES, FILE_TORN_LINE_RECHECK_MS, FILE_TORN_LINE_STILL_MS, FILE_TORN_LINE_WAIT_MS, UNSENT_FILE_MAX_BYTES } from "../../protocol/limits.ts";
import { afterMs, nextTurn } from "../runtime-timers.ts";
import { checkKnownOptions, describe } from "../local-checks.ts";
import { compactFile } from "./file-compaction.ts";
import { isWasteful, recordLine, replayLines, snapshotToLine, toLine } from "./file-lines.ts";
import { fileSessionLocks, type FileSessionLocks } from "./file-session-locks.ts";
import { appendWhole, createWhole, fsyncPath } from "./file-writes.ts";
import { makeFolder } from "./make-folder.ts";
import { carriesWrites, storedRole, type DocChanges, type LocalStore, type SaveResult, type SessionCut, type StoredDoc, type UnsentListener } from "./local-store.ts";
import { UnsentListeners } from "./unsent-listeners.ts";
import { leaseSession, SessionInUseError, type LeaseRequest, type SessionLease } from "./session-pool.ts";
import { ArgumentError } from "../../protocol/argument-error.ts";

/** The file in a group's folder that keeps an agent's role (saveRole): the agent's id, then this. */
const ROLE_SUFFIX = ".role";

/** Announcements of unsent writes (announceUnsent): one line each, appended; every store watching the file hears them. */
const UNSENT_FILE = "unsent.jsonl";

export class FileLocalStore implements LocalStore {
  /** What error messages call it (describe, protocol/messages.ts): a bundler's minifier renames the class, not this. */
  get [Symbol.toStringTag](): string {
    return "FileLocalStore";
  }

  /** The store's folder, absolute: a relative path is resolved once, when the store is made. */
  readonly directory: string;
  /** fsync every save (and each new file's folder): a save then survives a power cut, not only a crash of the app. */
  readonly fsync: boolean;
  readonly #locks: FileSessionLocks;
  /** Each file's latest write or removal under way, settled either way: the next one starts after it. */
  readonly #writing = new Map<string, Promise<void>>();
  /** Per document file: its size when this store last read or wrote it whole, and what it appended since. */
  readonly #grown = new Map<string, { whole: number; appended: number }>();
  /** The last compaction queued (#compact), settled either way, and the files queued that have not begun. */
  #compactions: Promise<void> = Promise.resolve();
  readonly #compactionsQueued = new Set<string>();
  /** Listening is a watch of the announcements file, open while anyone listens. */
  readonly #unsent = new UnsentListeners((hear) => watchAnnouncements(join(this.directory, UNSENT_FILE), hear));

  constructor(directory: string, options: { fsync?: boolean } = {}) {
    if (typeof directory !== "string" || directory === "") throw new ArgumentError(`FileLocalStore: the directory must be a path, not ${describe(directory)}`);
    checkKnownOptions(options, ["fsync"], "FileLocalStore");
    if (options.fsync !== undefined && typeof options.fsync !== "boolean") throw new ArgumentError(`FileLocalStore: fsync must be true or false, not ${describe(options.fsync)}`);
    // Resolved once: an app that changes its working directory later keeps one store, not two halves.
    this.directory = resolve(directory);
    this.fsync = options.fsync ?? true;
    try {
      makeFolder(this.directory);
    } catch (error) {
      // fs's own words name a mkdir; the app gave a folder (a file's path, say, or one it may not make).
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(`FileLocalStore: the store folder ${directory} cannot be made${code === "EEXIST" || code === "ENOTDIR" ? " (a file is in its place, or in its path)" : ""}${code ? ` (${code})` : ""}`, { cause: error });
    }
    this.#locks = fileSessionLocks(this.directory);
  }

  /**
   * A failure of the disk (a read-only folder, a file where the sessions folder goes) is said of the store
   * folder, the path the app gave: fs's own error names a lock file the app never heard of. It stays the cause.
   */
  async leaseSession(agent: AgentId, request: LeaseRequest): Promise<SessionLease> {
    try {
      return await leaseSession(this.#locks, agent, request);
    } catch (error) {
      if (error instanceof SessionInUseError || error instanceof TypeError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new Error(`FileLocalStore: the store folder ${this.directory} cannot be written${code ? ` (${code})` : ""}, so no session can be leased in it`, { cause: error });
    }
  }

  async loadGroup(group: string, onDamage?: (problem: string) => void): Promise<StoredDoc[]> {
    const folder = this.#groupPath(group);
    // The reads below are synchronous, and a group's load starts in the tick its socket is made. Two turns
    // of the event loop first: in one the socket connects, in the next it sends its upgrade request, so the
    // relay answers it while the files are read. The socket opened 1.5 ms sooner in a resume (npm run bench).
    await nextTurn();
    await nextTurn();
    // What this store was asked to save before is read back, as if saves were instant.
    const within = join(folder, "/");
    await Promise.all([...this.#writing].flatMap(([path, writing]) => (path.startsWith(within) ? [writing] : [])));
    if (!existsSync(folder)) return [];
    const docs: StoredDoc[] = [];
    for (const name of readdirSync(folder)) {
      if (!name.endsWith(".jsonl")) continue;
      const id = name.slice(0, -".jsonl".length) as DocId;
      const damaged = onDamage && ((problem: string) => onDamage(`${id}: ${problem}`));
      const path = join(folder, name);
      let doc: StoredDoc | undefined;
      try {
        // Read as bytes: their count is the file's size, which the text would have to be measured again for.
        let bytes = readFileSync(path);
        let replayed = replayLines(bytes.toString("utf8"), id);
        // A last line not whole may be another store's save as it is written: read again every few ms, until
        // it is whole, or the file has stood still for FILE_TORN_LINE_STILL_MS (nothing is being written: cut
        // short indeed), or FILE_TORN_LINE_WAIT_MS have passed (a large save).
        for (let waited = 0, still = 0; replayed.cutShort && still < FILE_TORN_LINE_STILL_MS && waited < FILE_TORN_LINE_WAIT_MS; waited += FILE_TORN_LINE_RECHECK_MS) {
          await afterMs(FILE_TORN_LINE_RECHECK_MS);
          const again = readFileSync(path);
          if (again.length === bytes.length) {
            still += FILE_TORN_LINE_RECHECK_MS;
            continue;
          }
          still = 0;
          bytes = again;
          replayed = replayLines(bytes.toString("utf8"), id);
        }
        if (replayed.problems.length > 0) damaged?.(replayed.problems.join("; "));
        doc = replayed.doc;
        this.#grown.set(path, { whole: bytes.length, appended: 0 });
        if (isWasteful(bytes.length, replayed)) this.#compact(path, id);
      } catch (error) {
        const { code } = error as NodeJS.ErrnoException;
        if (code === "ENOENT") continue; // deleted since it was listed
        // A file no read will ever take (a folder in its place, no permission) costs its document, not
        // the group's start; anything else (too many open files, say) fails the read, which is tried again.
        if (code !== "EISDIR" && code !== "EACCES" && code !== "EPERM") throw error;
        damaged?.(`its file cannot be read (${code}), so the document is left out`);
      }
      if (doc) docs.push(doc);
    }
    return docs;
  }

  async save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
    const writes = carriesWrites(changes);
    if (!writes && !changes.relayHeld && !changes.dropStranded) return;
    const appends = changes.appends.map((append) => ({ ...append, transactions: append.transactions.map(toLine) }));
    const record = {
      ...(changes.header ? { header: changes.header } : {}),
      ...(changes.snapshot ? { snapshot: snapshotToLine(changes.snapshot) } : {}),
      ...(changes.relayHeld ? { relayHeld: changes.relayHeld } : {}),
      ...(changes.dropStranded ? { dropStranded: changes.dropStranded } : {}),
      appends,
    };
    // Only what the relay holds (an ack heard): news of the relay, not a write. It is not fsynced (a crash of
    // the app keeps it, a power cut may not, and the relay tells it again at the next load): a writer's every
    // ack would otherwise cost a disk flush. Nor does it make a file: the document may have gone meanwhile.
    return this.#appendRecord(group, doc, record, writes ? {} : { create: false, fsync: false });
  }

  async cutSession(group: string, doc: DocId, cut: SessionCut): Promise<void> {
    // One more line, replayed in its place: the lines before it, of every process, stay as they are.
    await this.#appendRecord(group, doc, { cuts: [cut], appends: [] }, { create: false });
  }

  /**
   * Appends one record to a document's file, after what this store started on that file before. A file made
   * by a record with the header holds the header twice, the copy on a line of its own: one line damaged on
   * the disk then never costs the document (what follows a lost line waits aside: applyChanges). Only a
   * record with the header makes a file (and only with `create`): one without it, into a file removed (by
   * another store on the folder, before or while it is written), is not kept, and it resolves `"missing"`.
   * A file grown past what it held when last written whole, or given a snapshot, is compacted after it.
   */
  #appendRecord(group: string, doc: DocId, record: object, { create = true, fsync = this.fsync } = {}): Promise<SaveResult> {
    const line = Buffer.from(recordLine(record));
    const path = this.#docPath(group, doc);
    return this.#inOrder(path, async () => {
      const { header } = record as { header?: unknown };
      // Without the header a missing file stays missing: appendWhole opens it without O_CREAT, and says so.
      const makes = create && header !== undefined;
      const created = makes && ((await this.#ensureFolder(dirname(path))) || !existsSync(path));
      // A new file appears whole: another store reading the folder meanwhile never finds it empty.
      if (created && (await createWhole(path, Buffer.concat([line, Buffer.from(recordLine({ header }))]), fsync))) {
        if (fsync) await fsyncPath(dirname(path)); // the new file's name is durable too
        this.#grown.set(path, { whole: 0, appended: line.length });
        return undefined;
      }
      if ((await appendWhole(path, line, fsync, this.#locks.rewritten, { create: makes })) === "missing") return "missing";
      const grown = this.#grown.get(path) ?? { whole: statSync(path, { throwIfNoEntry: false })?.size ?? 0, appended: 0 };
      grown.appended += line.length;
      this.#grown.set(path, grown);
      const snapshotted = "snapshot" in record && grown.whole + grown.appended >= FILE_COMPACT_MIN_BYTES;
      const due = snapshotted || grown.appended > Math.max(FILE_COMPACT_MIN_BYTES, grown.whole);
      if (due) this.#compact(path, doc);
    });
  }

  /**
   * Writes a document's file whole after what this store started on it before, unless another store is
   * writing it whole; the saves after it wait for it. The store's compactions run one at a time (each
   * holds a whole file in memory, twice), and a file waiting for its turn is queued once. A compaction that
   * fails leaves the file as it was.
   */
  #compact(path: string, doc: DocId): void {
    if (this.#compactionsQueued.has(path)) return;
    this.#compactionsQueued.add(path);
    this.#compactions = this.#compactions.then(() => {
      this.#compactionsQueued.delete(path);
      return this.#inOrder(path, async () => {
        let ran = false;
        const size = await this.#locks
          .whileRewriting(path, () => {
            ran = true;
            return compactFile(path, doc, this.fsync);
          })
          .catch(() => undefined);
        const grown = this.#grown.get(path) ?? { whole: 0, appended: 0 };
        // Another store is writing it whole now: counted as written whole, at the size this store knew.
        if (!ran) return void this.#grown.set(path, { whole: grown.whole, appended: 0 });
        // Left as it was (damaged), it is tried again once it has grown as much again.
        this.#grown.set(path, { whole: size ?? grown.whole + grown.appended, appended: 0 });
      }).catch(() => undefined);
    });
  }

  async remove(group: string, doc: DocId): Promise<void> {
    const path = this.#docPath(group, doc);
    return this.#inOrder(path, async () => {
      await rm(path, { force: true });
      // Another store writing it whole renames its new file into place: removed again once it is done.
      if (await this.#locks.rewritten(path)) await rm(path, { force: true });
      this.#grown.delete(path);
    });
  }

  async saveRole(group: string, agent: AgentId, role: Role): Promise<void> {
    // A file per agent, replaced whole (written aside, then renamed over): a reader sees one role or the other.
    const folder = this.#groupPath(group);
    await this.#ensureFolder(folder);
    const path = join(folder, `${encodeURIComponent(agent)}${ROLE_SUFFIX}`);
    // The name aside is random: a pid and a count of this store's own would be the same for two stores on
    // one folder in one process (two clients, or worker threads), which then renamed each other's file away.
    const aside = `${path}.${randomUUID()}`;
    return this.#inOrder(path, async () => {
      await writeFile(aside, role);
      await rename(aside, path);
    });
  }

  async loadRole(group: string, agent: AgentId): Promise<Role | undefined> {
    try {
      return storedRole(await readFile(join(this.#groupPath(group), `${encodeURIComponent(agent)}${ROLE_SUFFIX}`), "utf8"));
    } catch {
      return undefined; // none kept (or unreadable: a role is only a head start on the relay's)
    }
  }

  /** Stops listening, and resolves once the compactions queued have ended (a file is never left half done). */
  async close(): Promise<void> {
    this.#unsent.clear();
    await this.finished();
  }

  /** Resolves once the compactions queued, and the saves under way, have ended. */
  async finished(): Promise<void> {
    await this.#compactions;
    await Promise.all(this.#writing.values());
  }

  async announceUnsent(group: string, docs: DocId[]): Promise<void> {
    const path = join(this.directory, UNSENT_FILE);
    const line = Buffer.from(`\n${JSON.stringify({ group, docs })}\n`);
    // Only clients live now hear an announcement (one that starts later reads the store): past
    // UNSENT_FILE_MAX_BYTES, with no other process on the folder to miss a line, the file starts again.
    const full = (statSync(path, { throwIfNoEntry: false })?.size ?? 0) > UNSENT_FILE_MAX_BYTES;
    if (full && (await this.#locks.whileAlone(() => writeFile(path, line).then(() => true)).catch(() => undefined))) return;
    await appendWhole(path, line, false, undefined, { create: true });
  }

  onUnsent(listener: UnsentListener): () => void {
    return this.#unsent.add(listener);
  }

  /** Creates a group's folder if missing; true when it did. */
  async #ensureFolder(folder: string): Promise<boolean> {
    if (existsSync(folder)) return false;
    makeFolder(folder);
    if (this.fsync) await fsyncPath(this.directory);
    return true;
  }

  /** Runs `work` on a file after what this store started on it before: one file's saves land in order. */
  #inOrder<T>(path: string, work: () => Promise<T>): Promise<T> {
    const done = (this.#writing.get(path) ?? Promise.resolve()).then(work);
    const settled = done.catch(() => undefined).then(() => {
      if (this.#writing.get(path) === settled) this.#writing.delete(path);
    });
    this.#writing.set(path, settled);
    return done;
  }

  /** A document's file; what is not a document id (a store called by the app itself) could name any file. */
  #docPath(group: string, doc: DocId): string {
    if (!isDocId(doc)) throw new TypeError(`FileLocalStore: ${describe(doc)} is not a document id`);
    return join(this.#groupPath(group), `${doc}.jsonl`);
  }

  #groupPath(group: string): string {
    // Dots are encoded too, so no group id can name `.` or `..` and step out of the store's folder.
    return join(this.directory, encodeURIComponent(group).replaceAll(".", "%2E"));
  }
}

/**
 * Watches the announcements file: each whole line appended after the watch began is heard (a torn line
 * costs only itself). Returns what stops it. A folder that cannot be watched (read-only, out of inotify
 * watches) is not listened to: what another client leaves unsent then waits for the next load of the
 * group, as with a store without onUnsent.
 */
function watchAnnouncements(path: string, hear: (message: unknown) => void): () => void {
  let watcher: FSWatcher;
  let heard: number;
  try {
    appendFileSync(path, ""); // there to be watched
    heard = statSync(path).size;
    watcher = watch(path, () => {
      let text: string;
      try {
        if (statSync(path).size < heard) heard = 0; // started again (announceUnsent)
        text = readFrom(path, heard);
      } catch {
        return;
      }
      const end = text.lastIndexOf("\n");
      if (end < 0) return;
      heard += Buffer.byteLength(text.slice(0, end + 1));
      for (const line of text.slice(0, end).split("\n")) {
        let message: unknown;
        try {
          message = JSON.parse(line);
        } catch {
          continue; // a torn line, or the empty one each announcement starts with
        }
        hear(message);
      }
    });
  } catch {
    return () => {};
  }
  watcher.unref(); // listening does not keep the process alive
  watcher.on("error", () => watcher.close());
  return () => watcher.close();
}

/** What a file holds from byte `from` on, as text. */
function readFrom(path: string, from: number): string {
  const fd = openSync(path, "r");
  try {
    const length = fstatSync(fd).size - from;
    if (length <= 0) return "";
    const bytes = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const got = readSync(fd, bytes, read, length - read, from + read);
      if (got === 0) break;
      read += got;
    }
    return bytes.subarray(0, read).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
