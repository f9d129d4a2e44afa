// The one bounded way the relay sends a peer what it lacks of a document, for a `load` and for each
// document of an `open` alike: read straight from storage, packed into frames under the limit, at most a
// budget of transactions at a time (and none once the receiver has no room), advancing what the peer holds
// (`have`) so the next call goes on from there.
import { RELAY_FRAME_TARGET_BYTES, WIRE_BYTES_PER_TRANSACTION, encodedColumnsOf, missing, type DocId, type KnownState, type ServerMessage, type SessionId } from "../../protocol/index.ts";
import { ContentPacker } from "./content-packer.ts";
import { keyOf, stateKey, type KeptMessage, type KeptSlice, type LoadCache } from "./load-cache.ts";
import { sendSnapshot, servesSnapshot } from "./snapshot-serving.ts";
import type { GroupStore } from "./store.ts";

export type DeltaStep = {
  /** Transactions read (and sent), and a snapshot's weight (snapshot-serving.ts). */
  rows: number;
  /** The relay's known state of the document, once the peer has all of it; unset while more remains. */
  complete?: KnownState;
};

/**
 * Sends (through `emit`) what `have` lacks of `doc`, at most `budget` transactions, and advances `have`
 * past them; it stops early, a frame's worth of transactions at most past it, once `emit` says the
 * receiver has no room left (returns false). What the relay holds is read afresh on each call (unless
 * the caller just read it), so writes that land between calls are included and nothing is sent twice.
 * With `kept`, a slice a fresh client was sent is kept, and sent again as it was (load-cache.ts).
 */
export function sendMissing(
  store: GroupStore,
  doc: DocId,
  have: KnownState,
  budget: number,
  emit: (message: ServerMessage) => boolean | void,
  relayKnown: KnownState = store.knownState(doc),
  kept?: LoadCache,
): DeltaStep {
  let room = true;
  let keeping: Keeping | undefined;
  const send = (message: ServerMessage) => {
    if (keeping) keepSent(keeping, message);
    if (emit(message) === false) room = false;
  };
  let delta = missing(have, relayKnown);
  // A peer lacking part of what the document's snapshot covers may get the snapshot first (snapshot-serving.ts).
  let rows = 0;
  if (delta.ranges.length > 0 && servesSnapshot(store, doc, have)) {
    rows += sendSnapshot(store, doc, have, send);
    delta = missing(have, relayKnown);
  } else if (kept && (delta.header || delta.ranges.length > 0)) {
    // A kept slice that reached the end of the document is sent again only if nothing was written since.
    const key = keyOf(doc, have);
    const slice = kept.find(key);
    const current = slice !== undefined && (slice.endedAt === undefined || slice.endedAt === stateKey(relayKnown));
    if (current && slice.rows <= budget) return sendKept(slice, have, relayKnown, emit);
    if (!current && kept.keeps(doc, key)) keeping = { key, holds: copyOf(have), messages: [], bytes: 0 };
  }
  const packer = new ContentPacker(doc, delta.header ? store.header(doc) : undefined, RELAY_FRAME_TARGET_BYTES);
  have.header ||= delta.header;
  const done = (complete: KnownState | undefined): DeltaStep => {
    packer.flush();
    for (const message of packer.take()) send(message);
    if (keeping) kept!.keep(doc, keeping.key, { messages: keeping.messages, rows, endedAt: complete && stateKey(complete), bytes: keeping.bytes });
    return complete ? { rows, complete } : { rows };
  };
  for (const range of delta.ranges) {
    // One more than the budget allows: reading it tells more remains (the next call sends it).
    for (const run of store.readRuns(doc, range.session, range.from, range.to, budget - rows + 1)) {
      for (let i = 0; i < run.at.length; i++) {
        if (rows >= budget || !room) return done(undefined);
        rows++;
        packer.addEncoded(range.session, run.first + i, run.at[i]!, run.data[i]!, run.bytes[i]!, run.signatures[i]);
        if (keeping) keeping.bytes += 2 * (run.bytes[i]! + WIRE_BYTES_PER_TRANSACTION) + KEPT_TRANSACTION_BYTES;
        have.sessions[range.session] = run.first + i + 1;
        if (packer.hasFrames) for (const message of packer.take()) send(message);
      }
    }
  }
  return done(relayKnown);
}

/** A slice being kept as it is sent: its key (what the peer held), what the peer holds now, the messages so far. */
type Keeping = { key: string; holds: KnownState; messages: KeptMessage[]; bytes: number };

/**
 * What a kept slice weighs, as LOAD_CACHE_BYTES counts it: each transaction's data twice (in its message's
 * columns and in the message's encoding) with its envelope, and 32 bytes more (its time, and the string
 * that slices its data out of the stored chunk); each message 512 bytes; each session of what the peer
 * then holds 128. A document of 10,000 transactions of 100 bytes counts 2.8 MB; keeping it grew the
 * relay's heap by 2.55 MiB (V8's used size after full collections, Miniflare, against the code before).
 */
const KEPT_TRANSACTION_BYTES = 32;
const MESSAGE_OVERHEAD_BYTES = 512;
const HELD_SESSION_BYTES = 128;

/** Sends a kept slice again, advancing `have` as it goes; it stops after the message that fills the receiver's room. */
function sendKept(slice: KeptSlice, have: KnownState, relayKnown: KnownState, emit: (message: ServerMessage) => boolean | void): DeltaStep {
  const { messages } = slice;
  for (let i = 0; i < messages.length; i++) {
    const { message, holds } = messages[i]!;
    const room = emit(message) !== false;
    have.header = holds.header;
    Object.assign(have.sessions, holds.sessions);
    if (!room && i < messages.length - 1) return { rows: slice.rows };
  }
  return slice.endedAt === undefined ? { rows: slice.rows } : { rows: slice.rows, complete: relayKnown };
}

const copyOf = (known: KnownState): KnownState => ({ header: known.header, sessions: { ...known.sessions } });

/** Keeps a message of the slice, with what the peer holds once it has it: a header, and each session's transactions. */
function keepSent(keeping: Keeping, message: ServerMessage): void {
  const { holds } = keeping;
  if (message.type === "content") {
    if (message.header) holds.header = true;
    for (const [session, chunk] of Object.entries(message.sessions) as [SessionId, NonNullable<(typeof message.sessions)[SessionId]>][]) {
      holds.sessions[session] = chunk.after + (encodedColumnsOf(chunk)?.at.length ?? chunk.transactions.length);
    }
  }
  keeping.messages.push({ message, holds: copyOf(holds) });
  keeping.bytes += MESSAGE_OVERHEAD_BYTES + HELD_SESSION_BYTES * Object.keys(holds.sessions).length;
}
