// Writes a page leaves unsaved as it goes (`pagehide`, a reload or a navigation right after an append). A
// save to IndexedDB that has not started by then, because it waits behind another tab's writes to the same
// database, is dropped with the page; localStorage is written at once. So at `pagehide` the IndexedDB store
// also keeps what its saves under way hold of the page's own writes there, one key per document, and the
// next read of the group (the reloaded page's, or another tab's) moves them into the database, then deletes
// the key. A save that did finish is in the database twice then, which applyChanges takes as held already.
import { fromBase64Url, toBase64Url, type DocId, type SessionId, type Transaction } from "../../protocol/index.ts";
import type { DocChanges } from "./local-store.ts";

/** A transaction as the journal holds it: text as it is, bytes in base64url (JSON has no bytes). */
type JournalTransaction = { at: number; data: string } | { at: number; bytes: string };
type JournalEntry = { group: string; doc: DocId; header?: DocChanges["header"]; appends: { session: SessionId; after: number; transactions: JournalTransaction[] }[] };

/** The page's localStorage, where it has one it may use (not in a worker, nor in a sandboxed frame, where reading it throws). */
export function pageStorage(): Storage | undefined {
  try {
    return (globalThis as { localStorage?: Storage }).localStorage ?? undefined;
  } catch {
    return undefined;
  }
}

const prefixOf = (database: string, group: string) => `weft-pending:${database}:${JSON.stringify(group)}:`;

/**
 * Keeps the header and `own` session's appends of `changes` under one key of `storage`, synchronously; false
 * when they could not be kept (storage full). What other sessions hold the relay sends again.
 */
export function keepInJournal(storage: Storage, database: string, group: string, doc: DocId, changes: DocChanges, own: SessionId): boolean {
  const appends = changes.appends.filter((append) => append.session === own && append.transactions.length > 0);
  if (appends.length === 0 && !changes.header) return true;
  const entry: JournalEntry = {
    group,
    doc,
    ...(changes.header ? { header: changes.header } : {}),
    appends: appends.map((append) => ({ ...append, transactions: append.transactions.map(toJournal) })),
  };
  try {
    storage.setItem(`${prefixOf(database, group)}${doc}:${own}:${appends[0]?.after ?? 0}`, JSON.stringify(entry));
    return true;
  } catch {
    return false;
  }
}

/** What the journal keeps for `group`, each with the key that deletes it once the database holds it; a damaged entry is deleted. */
export function journalOf(storage: Storage, database: string, group: string): { key: string; doc: DocId; changes: DocChanges }[] {
  return keysStarting(storage, prefixOf(database, group)).flatMap((key) => {
    const entry = parsed(storage.getItem(key));
    if (!entry || entry.group !== group) {
      storage.removeItem(key);
      return [];
    }
    const appends = entry.appends.map((append) => ({ ...append, transactions: append.transactions.map(fromJournal) }));
    return [{ key, doc: entry.doc, changes: { ...(entry.header ? { header: entry.header } : {}), appends } }];
  });
}

/** Deletes what the journal keeps of `doc` (removed from the database): its writes would never join anything again. */
export function forgetInJournal(storage: Storage, database: string, group: string, doc: DocId): void {
  for (const key of keysStarting(storage, `${prefixOf(database, group)}${doc}:`)) storage.removeItem(key);
}

/** The keys of `storage` that start with `prefix`, listed before any is removed (removing renumbers them). */
function keysStarting(storage: Storage, prefix: string): string[] {
  const keys: string[] = [];
  for (let index = 0; index < storage.length; index++) {
    const key = storage.key(index);
    if (key?.startsWith(prefix)) keys.push(key);
  }
  return keys;
}

function parsed(text: string | null): JournalEntry | undefined {
  try {
    const entry = JSON.parse(text ?? "null") as JournalEntry | null;
    return typeof entry === "object" && entry !== null && typeof entry.doc === "string" && Array.isArray(entry.appends) ? entry : undefined;
  } catch {
    return undefined;
  }
}

const toJournal = ({ at, data }: Transaction): JournalTransaction => (data instanceof Uint8Array ? { at, bytes: toBase64Url(data) } : { at, data: data as string });

/** Back from the journal; anything malformed is passed on as it is, for the checks of what was stored to refuse. */
const fromJournal = (transaction: JournalTransaction): Transaction =>
  "bytes" in transaction && typeof transaction.bytes === "string" ? { at: transaction.at, data: fromBase64Url(transaction.bytes) ?? new Uint8Array() } : (transaction as Transaction);
