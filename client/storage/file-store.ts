// A LocalStore for Node: one append-only JSON-lines file per document, one line per save, written and
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
// document (readDoc): a torn last line (a whole save cut short on the disk looks the same, and may hold
// unsent writes), an empty file, and a line damaged later on the disk, with what it costs beyond itself:
// the saves of its session after it wait aside until the relay's copy fills the hole (a log keeps no holes;
// the client then joins them, and pushes the unsent writes among them), or, both lines holding the header
// (a new file has it twice: #appendRecord), the whole document until a header that is the document's own is
// saved again (applyChanges). A damaged line that still parses is
// left out by the client's checks of what it reads back (client/stored-checks.ts).
// Several processes may share one directory: appends go to files opened with O_APPEND (each save one
// write), nothing is ever truncated or rewritten in place, and session leases are lock files
// (file-session-locks.ts).
import { appendFileSync, closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { randomUUID } from "node:crypto";
import { link, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { isDocId, type AgentId, type DocId, type Role, type Transaction } from "../../protocol/index.ts";
import { checkKnownOptions, describe } from "../local-checks.ts";
import { fileSessionLocks } from "./file-session-locks.ts";
import { makeFolder } from "./make-folder.ts";
import { applyChanges, carriesWrites, storedRole, type DocChanges, type LocalStore, type SessionCut, type StoredChanges, type StoredDoc, type StoredSnapshot, type UnsentListener } from "./local-store.ts";
import { UnsentListeners } from "./unsent-listeners.ts";
import { leaseSession, SessionInUseError, type LeaseRequest, type SessionLease, type SessionLocks } from "./session-pool.ts";
import { ArgumentError } from "../../protocol/argument-error.ts";

/**
 * One save. Files written before saves were one line hold `{header}` and `{session, after, transactions}`
 * lines. A snapshot's data of bytes is written like a transaction's: `bytes` in base64url instead of `data`.
 */
type Record = { header?: StoredDoc["header"]; snapshot?: DocChanges["snapshot"]; cuts?: StoredChanges["cuts"]; appends?: DocChanges["appends"]; relayHeld?: DocChanges["relayHeld"]; dropStranded?: DocChanges["dropStranded"] };
type OldAppendLine = DocChanges["appends"][number];

/** Every key a line of this store holds: its records', and the older format's appends. */
const RECORD_KEYS = new Set(["header", "snapshot", "cuts", "appends", "relayHeld", "dropStranded", "session", "after", "transactions"]);

/** The file in a group's folder that keeps an agent's role (saveRole): the agent's id, then this. */
const ROLE_SUFFIX = ".role";

/** Announcements of unsent writes (announceUnsent): one line each, appended; every store watching the file hears them. */
const UNSENT_FILE = "unsent.jsonl";

/**
 * A transaction as a line holds it: text as `{at, data}`; bytes as `{at, bytes}` with the bytes in base64url
 * (JSON has no bytes, and base64 is the most compact text for them: 4 characters per 3 bytes).
 */
type LineTransaction = { at: number; data: string } | { at: number; bytes: string };

/** To a line; anything but bytes is written as it is (the checks of what was stored judge it when loaded). */
const toLine = (transaction: Transaction): LineTransaction | Transaction => {
  const { at, data } = transaction;
  return data instanceof Uint8Array ? { at, bytes: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64url") } : transaction;
};

/** Back from a line; anything malformed is passed on as it is, for the checks of what was stored to refuse. */
const fromLine = (transaction: unknown): Transaction => {
  const line = transaction as { at: number; bytes?: unknown };
  if (typeof line !== "object" || line === null || typeof line.bytes !== "string") return transaction as Transaction;
  return { at: line.at, data: new Uint8Array(Buffer.from(line.bytes, "base64url")) };
};

/** A stored snapshot as a line holds it: its data like a transaction's (text as `data`, bytes as `bytes`). */
function snapshotToLine(stored: StoredSnapshot): unknown {
  const { data, ...rest } = stored.snapshot;
  const line = toLine({ at: 0, data });
  return { ...stored, snapshot: { ...rest, ...("bytes" in line ? { bytes: line.bytes } : { data }) } };
}

/** Back from a line; anything malformed is passed on for applyChanges to skip. */
function snapshotFromLine(value: unknown): StoredSnapshot | undefined {
  const line = value as { snapshot?: { bytes?: unknown; data?: unknown } } | null | undefined;
  if (typeof line !== "object" || line === null || typeof line.snapshot !== "object" || line.snapshot === null) return undefined;
  const { bytes, ...rest } = line.snapshot;
  const data = typeof bytes === "string" ? new Uint8Array(Buffer.from(bytes, "base64url")) : rest.data;
  return { ...(line as StoredSnapshot), snapshot: { ...(rest as StoredSnapshot["snapshot"]), data: data as StoredSnapshot["snapshot"]["data"] } };
}

export class FileLocalStore implements LocalStore {
  /** What error messages call it (describe, protocol/messages.ts): a bundler's minifier renames the class, not this. */
  get [Symbol.toStringTag](): string {
    return "FileLocalStore";
  }

  /** The store's folder, absolute: a relative path is resolved once, when the store is made. */
  readonly directory: string;
  /** fsync every save (and each new file's folder): a save then survives a power cut, not only a crash of the app. */
  readonly fsync: boolean;
  readonly #locks: SessionLocks;
  /** Each file's latest write or removal under way, settled either way: the next one starts after it. */
  readonly #writing = new Map<string, Promise<void>>();
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
    // What this store was asked to save before is read back, as if saves were instant.
    const within = join(folder, "/");
    await Promise.all([...this.#writing].flatMap(([path, writing]) => (path.startsWith(within) ? [writing] : [])));
    if (!existsSync(folder)) return [];
    const docs: StoredDoc[] = [];
    for (const name of readdirSync(folder)) {
      if (!name.endsWith(".jsonl")) continue;
      const id = name.slice(0, -".jsonl".length) as DocId;
      const damaged = onDamage && ((problem: string) => onDamage(`${id}: ${problem}`));
      let doc: StoredDoc | undefined;
      try {
        doc = readDoc(join(folder, name), id, damaged);
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

  async save(group: string, doc: DocId, changes: DocChanges): Promise<void> {
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
    return this.#appendRecord(group, doc, { cuts: [cut], appends: [] }, { create: false });
  }

  /**
   * Appends one record to a document's file, after what this store started on that file before. A file made
   * by a record with the header holds the header twice, the copy on a line of its own: one line damaged on
   * the disk then never costs the document (what follows a lost line waits aside: applyChanges).
   */
  #appendRecord(group: string, doc: DocId, record: object, { create = true, fsync = this.fsync } = {}): Promise<void> {
    const line = `\n${JSON.stringify(record)}\n`;
    const path = this.#docPath(group, doc);
    return this.#inOrder(path, async () => {
      if (!create && !existsSync(path)) return;
      const created = (await this.#ensureFolder(dirname(path))) || !existsSync(path);
      const { header } = record as { header?: unknown };
      // A new file appears whole: another store reading the folder meanwhile never finds it empty.
      if (created && (await createWhole(path, Buffer.from(header ? `${line}\n${JSON.stringify({ header })}\n` : line), fsync))) {
        if (fsync) await fsyncPath(dirname(path)); // the new file's name is durable too
        return;
      }
      await appendWhole(path, Buffer.from(line), fsync);
    });
  }

  async remove(group: string, doc: DocId): Promise<void> {
    const path = this.#docPath(group, doc);
    return this.#inOrder(path, () => rm(path, { force: true }));
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

  async close(): Promise<void> {
    this.#unsent.clear();
  }

  async announceUnsent(group: string, docs: DocId[]): Promise<void> {
    await appendWhole(join(this.directory, UNSENT_FILE), Buffer.from(`\n${JSON.stringify({ group, docs })}\n`), false);
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
  #inOrder(path: string, work: () => Promise<void>): Promise<void> {
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

/**
 * Makes the file at `path` holding `bytes`, written aside first and linked into place whole (a link never
 * replaces a file). False, nothing changed, when a file is there already (another store made it meanwhile)
 * or the file system has no hard links (FAT): the caller appends instead.
 */
async function createWhole(path: string, bytes: Buffer, fsync: boolean): Promise<boolean> {
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

/** One write of the whole buffer to the end of the file (O_APPEND), looping over short writes, then fsync. */
async function appendWhole(path: string, bytes: Buffer, fsync: boolean): Promise<void> {
  const file = await open(path, "a");
  try {
    let written = 0;
    while (written < bytes.length) written += (await file.write(bytes, written, bytes.length - written)).bytesWritten;
    if (fsync) await file.sync();
  } finally {
    await file.close();
  }
}

async function fsyncPath(path: string): Promise<void> {
  const file = await open(path, "r");
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

/**
 * Replays a document's records; a line that does not parse is skipped. What was lost is told to `onDamage`
 * once for the document: lines damaged on the disk, a last save cut short, an empty file, and what that
 * costs beyond the lines themselves (later saves of a session kept aside, each session's range in one, or the
 * document, its header's line lost). A line torn by a save that failed part-way (a full disk, a crash) is
 * followed straight by the next record, with no newline of its own: that save never resolved, so it
 * costs only itself and goes unsaid. A torn LAST line cannot be told from a whole, fsynced save cut short
 * on the disk (what it held may be unsent), so it is told.
 */
function readDoc(path: string, id: DocId, onDamage?: (problem: string) => void): StoredDoc | undefined {
  let stored: StoredDoc | undefined;
  let headless = 0;
  let unreadable = 0;
  let cutShort = false;
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    if (!line) return;
    let record: Record & Partial<OldAppendLine>;
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      // Every save is "\n" + record + "\n": a record's line is followed by an empty one, or ends the file
      // with its newline. A torn one starts as a record does and has no newline of its own; zeros (a block
      // the disk lost) are no part of any record, torn or not.
      if (index === lines.length - 1) cutShort = true;
      else if (!line.startsWith("{") || line.includes("\u0000") || lines[index + 1] === "") unreadable++;
      return;
    }
    // A line that parses but is no record this code writes (a flipped bit in a key: "appendr") lost what it held.
    if (typeof record !== "object" || record === null || Array.isArray(record) || Object.keys(record).some((key) => !RECORD_KEYS.has(key))) {
      unreadable++;
      return;
    }
    const header = typeof record.header === "object" && record.header !== null ? record.header : undefined;
    if (header) stored ??= { id, header, sessions: {} };
    if (!stored) {
      headless++; // transactions need their header first
      return;
    }
    // A line of the older format is one append of its own.
    const saved = Array.isArray(record.appends) ? record.appends : "session" in record ? [record as OldAppendLine] : [];
    const appends = saved.map((append) => (Array.isArray(append?.transactions) ? { ...append, transactions: append.transactions.map(fromLine) } : append));
    const snapshot = snapshotFromLine(record.snapshot);
    applyChanges(stored, { ...(header ? { header } : {}), appends, ...(snapshot ? { snapshot } : {}), cuts: record.cuts, relayHeld: record.relayHeld, dropStranded: record.dropStranded });
  });
  const problems: string[] = [];
  if (text === "") problems.push("its file is empty (cut on the disk, or a crash as it was made), so the document is left out");
  if (unreadable > 0) problems.push(`${unreadable === 1 ? "a save" : `${unreadable} saves`} could not be read (damaged on the disk), and ${unreadable === 1 ? "is" : "are"} left out`);
  if (cutShort) problems.push("its last save was cut short (on the disk, or by a crash as it was written), and is left out");
  // Saves with no header before them: the header's line was whole once (it is written first), and is lost.
  if (!stored && headless > 0) problems.push(`its header could not be read, so the document and its ${headless} later saves are left out`);
  for (const [session, runs] of Object.entries(stored?.stranded ?? {})) {
    const last = runs.at(-1)!;
    problems.push(`session ${session}: transactions ${runs[0]!.after}-${last.after + last.transactions.length - 1} follow transactions that could not be read, and are kept aside until the relay's copy of those fills the gap`);
  }
  if (problems.length > 0) onDamage?.(problems.join("; "));
  return stored;
}
