// A LocalStore for Node: one append-only JSON-lines file per document, written synchronously so a save
// has reached the operating system before the SDK sends anything. Plain files keep it dependency-free and
// easy to inspect; a torn last line (a crash mid-write) is ignored on load.
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentId, DocId, SessionId } from "../../protocol/index.ts";
import { applyChanges, type DocChanges, type LocalStore, type StoredDoc } from "./local-store.ts";

type Line = { header: StoredDoc["header"] } | { session: SessionId; after: number; transactions: StoredDoc["sessions"][SessionId] };

export class FileLocalStore implements LocalStore {
  readonly directory: string;
  /** fsync every save: slower, but survives a power cut, not only a crash of the app. */
  readonly fsync: boolean;
  /** Files this store has checked for a torn last line since it was opened. */
  readonly #repaired = new Set<string>();

  constructor(directory: string, options: { fsync?: boolean } = {}) {
    this.directory = directory;
    this.fsync = options.fsync ?? false;
    mkdirSync(directory, { recursive: true });
  }

  async loadSession(agent: AgentId): Promise<SessionId | undefined> {
    return this.#readMeta()[agent];
  }

  async saveSession(agent: AgentId, session: SessionId): Promise<void> {
    writeFileSync(this.#metaPath(), JSON.stringify({ ...this.#readMeta(), [agent]: session }));
  }

  async loadGroup(group: string): Promise<StoredDoc[]> {
    const folder = this.#groupPath(group);
    if (!existsSync(folder)) return [];
    const docs: StoredDoc[] = [];
    for (const name of readdirSync(folder)) {
      if (!name.endsWith(".jsonl")) continue;
      const doc = this.#readDoc(join(folder, name), name.slice(0, -".jsonl".length) as DocId);
      if (doc) docs.push(doc);
    }
    return docs;
  }

  async save(group: string, doc: DocId, changes: DocChanges): Promise<void> {
    const lines: Line[] = [];
    if (changes.header) lines.push({ header: changes.header });
    for (const append of changes.appends) lines.push(append);
    if (lines.length === 0) return;
    const folder = this.#groupPath(group);
    mkdirSync(folder, { recursive: true });
    const path = join(folder, `${doc}.jsonl`);
    this.#repair(path);
    appendFileSync(path, lines.map((line) => `${JSON.stringify(line)}\n`).join(""));
    if (this.fsync) {
      const fd = openSync(path, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  async remove(group: string, doc: DocId): Promise<void> {
    rmSync(join(this.#groupPath(group), `${doc}.jsonl`), { force: true });
  }

  async close(): Promise<void> {}

  /** Cuts a torn last line (a crash mid-write) so the next save starts on a line of its own. */
  #repair(path: string): void {
    if (this.#repaired.has(path)) return;
    this.#repaired.add(path);
    if (!existsSync(path)) return;
    const text = readFileSync(path, "utf8");
    if (text.length === 0 || text.endsWith("\n")) return;
    truncateSync(path, Buffer.byteLength(text.slice(0, text.lastIndexOf("\n") + 1)));
  }

  #readDoc(path: string, id: DocId): StoredDoc | undefined {
    this.#repair(path);
    let stored: StoredDoc | undefined;
    for (const text of readFileSync(path, "utf8").split("\n")) {
      if (!text) continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        break; // a torn write: everything before it is intact
      }
      if ("header" in line) stored ??= { id, header: line.header, sessions: {} };
      else if (stored) applyChanges(stored, { appends: [line] });
    }
    return stored;
  }

  #readMeta(): Record<string, SessionId> {
    try {
      return JSON.parse(readFileSync(this.#metaPath(), "utf8")) as Record<string, SessionId>;
    } catch {
      return {};
    }
  }

  #metaPath(): string {
    return join(this.directory, "sessions.json");
  }

  #groupPath(group: string): string {
    // Dots are encoded too, so no group id can name `.` or `..` and step out of the store's folder.
    return join(this.directory, encodeURIComponent(group).replaceAll(".", "%2E"));
  }
}
