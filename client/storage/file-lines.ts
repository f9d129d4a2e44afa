// The lines of FileLocalStore's document files: how a save is written as one line, how a file's lines are
// replayed into the document they hold (telling what could not be read), and how a document is written
// whole again (compaction) in lines that replay into the same document.
import { FILE_COMPACT_MIN_BYTES, FILE_LINE_TRANSACTIONS } from "../../protocol/limits.ts";
import type { DocId, Transaction } from "../../protocol/index.ts";
import { applyChanges, changesOf, type DocChanges, type StoredChanges, type StoredDoc, type StoredSnapshot } from "./local-store.ts";

/**
 * One save. Files written before saves were one line hold `{header}` and `{session, after, transactions}`
 * lines. A snapshot's data of bytes is written like a transaction's: `bytes` in base64url instead of `data`.
 */
type Record = { header?: StoredDoc["header"]; snapshot?: DocChanges["snapshot"]; cuts?: StoredChanges["cuts"]; appends?: DocChanges["appends"]; relayHeld?: DocChanges["relayHeld"]; dropStranded?: DocChanges["dropStranded"] };
type OldAppendLine = DocChanges["appends"][number];

/** Every key a line of this store holds: its records', and the older format's appends. */
const RECORD_KEYS = new Set(["header", "snapshot", "cuts", "appends", "relayHeld", "dropStranded", "session", "after", "transactions"]);

/**
 * A transaction as a line holds it: text as `{at, data}`; bytes as `{at, bytes}` with the bytes in base64url
 * (JSON has no bytes, and base64 is the most compact text for them: 4 characters per 3 bytes).
 */
type LineTransaction = { at: number; data: string } | { at: number; bytes: string };

/** To a line; anything but bytes is written as it is (the checks of what was stored judge it when loaded). */
export const toLine = (transaction: Transaction): LineTransaction | Transaction => {
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
export function snapshotToLine(stored: StoredSnapshot): unknown {
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

/** A document file's lines replayed: the document (none without a readable header), what was lost, and counts. */
export type Replayed = {
  doc: StoredDoc | undefined;
  /** What could not be read, and what that costs, in words; empty when every line was whole. */
  problems: string[];
  /** Lines that held a record. */
  records: number;
  /** Transactions those records held, counting those a later snapshot replaced or that were there twice. */
  transactionsRead: number;
  /** The last line is not whole: a save cut short, or another store's being written right now. */
  cutShort: boolean;
};

/**
 * Replays a document's records; a line that does not parse is skipped. What was lost is said in `problems`
 * (the store tells it once for the document): lines damaged on the disk, a last save cut short, an empty file, and what that
 * costs beyond the lines themselves (later saves of a session kept aside, each session's range in one, or the
 * document, its header's line lost). A line torn by a save that failed part-way (a full disk, a crash) is
 * followed straight by the next record, with no newline of its own: that save never resolved, so it
 * costs only itself and goes unsaid. A torn LAST line cannot be told from a whole, fsynced save cut short
 * on the disk (what it held may be unsent), so it is told.
 */
export function replayLines(text: string, id: DocId): Replayed {
  let stored: StoredDoc | undefined;
  let headless = 0;
  let unreadable = 0;
  let cutShort = false;
  let records = 0;
  let transactionsRead = 0;
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
    records++;
    const header = typeof record.header === "object" && record.header !== null ? record.header : undefined;
    if (header) stored ??= { id, header, sessions: {} };
    if (!stored) {
      headless++; // transactions need their header first
      return;
    }
    // A line of the older format is one append of its own.
    const saved = Array.isArray(record.appends) ? record.appends : "session" in record ? [record as OldAppendLine] : [];
    const appends = saved.map((append) => (Array.isArray(append?.transactions) ? { ...append, transactions: append.transactions.map(fromLine) } : append));
    for (const append of appends) transactionsRead += Array.isArray(append?.transactions) ? append.transactions.length : 0;
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
  return { doc: stored, problems, records, transactionsRead, cutShort };
}

/** A save as the line that holds it: on a fresh line of its own, so a torn one before it never glues onto it. */
export const recordLine = (record: object): string => `\n${JSON.stringify(record)}\n`;

/**
 * A document written whole: the header on a line of its own, then again with the snapshot and what the relay
 * holds, then each session's transactions (and runs kept aside) in lines of at most FILE_LINE_TRANSACTIONS.
 * One line damaged on the disk then costs what it held, never the document (the header is there twice),
 * and what follows it in its session waits aside, as in a file of saves.
 */
export function wholeLines(stored: StoredDoc): string {
  const { header, snapshot, appends, relayHeld } = changesOf(stored);
  const lines = [recordLine({ header }), recordLine({ header, ...(snapshot ? { snapshot: snapshotToLine(snapshot) } : {}), ...(relayHeld ? { relayHeld } : {}), appends: [] })];
  for (const { session, after, transactions } of appends) {
    for (let from = 0; from < transactions.length; from += FILE_LINE_TRANSACTIONS) {
      lines.push(recordLine({ appends: [{ session, after: after + from, transactions: transactions.slice(from, from + FILE_LINE_TRANSACTIONS).map(toLine) }] }));
    }
  }
  return lines.join("");
}

/**
 * Whether a file of `bytes` that replayed as `replayed` holds at least twice the lines, or twice the
 * transactions, of the document written whole (and FILE_COMPACT_MIN_BYTES): worth writing whole.
 */
export function isWasteful(bytes: number, replayed: Replayed): boolean {
  const { doc, problems, records, transactionsRead } = replayed;
  if (!doc || problems.length > 0 || bytes < FILE_COMPACT_MIN_BYTES) return false;
  const logs = [...Object.values(doc.sessions), ...Object.values(doc.stranded ?? {}).flatMap((runs) => runs.map((run) => run.transactions))];
  const held = logs.reduce((sum, log) => sum + log.length, 0);
  const wholeRecords = 2 + logs.reduce((sum, log) => sum + Math.ceil(log.length / FILE_LINE_TRANSACTIONS), 0);
  return records > 2 * wholeRecords || transactionsRead > 2 * held;
}
