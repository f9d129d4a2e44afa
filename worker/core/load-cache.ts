// Answers to fresh clients, kept in memory: a client that holds nothing of a document and loads it (or
// opens its group) is sent the very messages the last such client was sent. The relay keeps each message's
// encoding and compressed form beside it (relay.ts), so nothing is read, packed, encoded or compressed
// again. Kept per slice (delta-stream.ts): a slice from nothing, and the slice that follows a kept one,
// keyed by the document and what the peer held when the slice began. A document's history only grows, so a
// kept slice stays true; one that reached the end of the document is complete only while nothing was
// written since. Bounded (LOAD_CACHE_BYTES), other documents' least recently used out first; gone with
// the object's memory.
import { LOAD_CACHE_BYTES, type DocId, type KnownState, type ServerMessage, type SessionId } from "../../protocol/index.ts";

/** A message of a slice, with what the peer holds once it has it. */
export type KeptMessage = { readonly message: ServerMessage; readonly holds: KnownState };

/** A slice of an answer as it was sent. */
export type KeptSlice = {
  readonly messages: readonly KeptMessage[];
  /** Transactions it sent, counted against a slice's budget when sent again. */
  readonly rows: number;
  /** The document's known state (stateKey) when the slice reached its end; unset if more remained. */
  readonly endedAt: string | undefined;
  /** What it holds in memory, as LOAD_CACHE_BYTES counts it. */
  readonly bytes: number;
};

type Entry = KeptSlice & { doc: DocId; next: string | undefined };

/** A known state as a key: the same state gives the same key, in whatever order its sessions were set. */
export function stateKey(known: KnownState): string {
  const sessions = (Object.entries(known.sessions) as [SessionId, number][]).filter(([, count]) => count > 0);
  sessions.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${known.header ? 1 : 0}${sessions.map(([session, count]) => ` ${session}:${count}`).join("")}`;
}

/** The key a slice of `doc` is kept under: what the peer held when it began. Worked out once per slice. */
export const keyOf = (doc: DocId, have: KnownState): string => `${doc} ${stateKey(have)}`;

const NOTHING: KnownState = { header: false, sessions: {} };

export class LoadCache {
  /** By keyOf, least recently used first. */
  readonly #slices = new Map<string, Entry>();
  /** Keys a slice is kept from besides nothing held: where kept slices that did not reach the end left off, and how many did. */
  readonly #continued = new Map<string, number>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes = LOAD_CACHE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** The slice kept under `key` (keyOf), if any. */
  find(key: string): KeptSlice | undefined {
    const entry = this.#slices.get(key);
    if (!entry) return undefined;
    this.#slices.delete(key);
    this.#slices.set(key, entry);
    return entry;
  }

  /** Whether a slice of `doc` sent from `key` (keyOf) is kept: the peer held nothing, or a kept slice left off there. */
  keeps(doc: DocId, key: string): boolean {
    return key === keyOf(doc, NOTHING) || this.#continued.has(key);
  }

  /**
   * Keeps a slice of `doc` sent from `key` (keyOf), in place of any kept from there, making room by
   * forgetting other documents' slices, least recently used first. A document's earlier slices are not
   * forgotten for its later ones: they are what the next fresh client is sent first, so of a document
   * larger than the bound, the beginning is kept. Too large a slice, or one there is no room for, is not kept.
   */
  keep(doc: DocId, key: string, slice: KeptSlice): void {
    this.#drop(key);
    if (slice.bytes > this.#maxBytes / 2 || slice.messages.length === 0) return;
    for (const [oldest, entry] of this.#slices) {
      if (this.#bytes + slice.bytes <= this.#maxBytes) break;
      if (entry.doc !== doc) this.#drop(oldest);
    }
    if (this.#bytes + slice.bytes > this.#maxBytes) return;
    const last = slice.messages.at(-1)!.holds;
    const next = slice.endedAt === undefined ? keyOf(doc, last) : undefined;
    this.#slices.set(key, { ...slice, doc, next });
    if (next) this.#continued.set(next, (this.#continued.get(next) ?? 0) + 1);
    this.#bytes += slice.bytes;
  }

  /** Forgets what is kept of a document (it was deleted). */
  forget(doc: DocId): void {
    for (const [key, entry] of this.#slices) if (entry.doc === doc) this.#drop(key);
  }

  /** Bytes held, as LOAD_CACHE_BYTES counts them. */
  get bytes(): number {
    return this.#bytes;
  }

  #drop(key: string): void {
    const entry = this.#slices.get(key);
    if (!entry) return;
    this.#slices.delete(key);
    this.#bytes -= entry.bytes;
    if (!entry.next) return;
    const left = (this.#continued.get(entry.next) ?? 1) - 1;
    if (left > 0) this.#continued.set(entry.next, left);
    else this.#continued.delete(entry.next);
  }
}
