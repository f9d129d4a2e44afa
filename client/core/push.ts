// What one document pushes now, as pure functions of its state: own transactions the relay lacks (saved
// first, batched, signed, bounded in flight), and the unsent tails of this agent's other sessions.
import {
  CHUNK_TARGET_BYTES,
  GENESIS_HASH,
  MAX_IN_FLIGHT_BYTES,
  MAX_TRANSACTIONS_PER_FRAME,
  MAX_TRANSACTION_WIRE_BYTES,
  WIRE_BYTES_PER_TRANSACTION,
  chainHash,
  countOf,
  wireDataBytes,
  signCheckpoint,
  type AgentId,
  type Content,
  type SessionId,
  type Transaction,
} from "../../protocol/index.ts";
import { relayWouldAccept } from "../local-checks.ts";
import { baseOf, heldCount, heldSlice, isOrphanSession, ownHashAt, type DocState } from "./doc-state.ts";

/** Transactions per pushed frame (also bounded by CHUNK_TARGET_BYTES): fewer, fuller frames ingest fastest. */
export const PUSH_BATCH = MAX_TRANSACTIONS_PER_FRAME;
/** Unacknowledged transactions allowed in flight before pushing waits for acks. */
export const MAX_IN_FLIGHT = 4 * PUSH_BATCH;

/** The pace of partial frames unless the app sets GroupOptions.pushIntervalMs, in ms (see Pace). */
export const DEFAULT_PUSH_INTERVAL_MS = 10;

/** Who signs: this client's agent key and the session it writes as. */
export type Writer = { readonly agent: AgentId; readonly secretKey: Uint8Array; readonly session: SessionId };

/**
 * The end of the next frame's transactions from `after`, within PUSH_BATCH and CHUNK_TARGET_BYTES, of a
 * session's `log` held from `base` on (counts are the whole session's).
 */
function batchEnd(log: readonly Transaction[], base: number, after: number, until: number): number {
  let end = after;
  let bytes = 0;
  while (end < until && end - after < PUSH_BATCH && bytes < CHUNK_TARGET_BYTES) {
    const size = wireSizeOf(log[end - base]!);
    // A large transaction (up to MAX_TRANSACTION_WIRE_BYTES) goes in a frame of its own rather than overfill one.
    if (end > after && bytes + size > MAX_TRANSACTION_WIRE_BYTES) break;
    bytes += size;
    end++;
  }
  return end;
}

/**
 * When pushes happen: `now` (a monotonic clock in ms), and the pacing of partial frames. While appends keep coming, a document's
 * partial frame (fewer than PUSH_BATCH transactions) leaves no sooner than `intervalMs` after its previous
 * frame, so a steady stream travels as a few fuller frames a second rather than one per round trip.
 */
export type Pace = { readonly now: number; readonly intervalMs: number };

/** No pacing: a partial frame leaves as soon as nothing is in flight (tests of push order, mostly). */
export const UNPACED: Pace = { now: 0, intervalMs: 0 };

/**
 * Room left for own writes in flight over a group's documents (MAX_IN_FLIGHT_BYTES): taken from as frames
 * are taken; a document that had more to send when it ran out is `starved`.
 */
export type Room = { bytes: number; starved: boolean };

/**
 * Room for a push now, given the group's documents: MAX_IN_FLIGHT_BYTES less what is sent and not acked.
 * Once a push used it all up (`draining`), none until all but FREE_IN_FLIGHT_BYTES of it is acked: a large
 * burst goes a MAX_IN_FLIGHT_BYTES at a time, and the relay, idle for the round trip between two, reads
 * its other sockets. A busy object is handed one socket's frames back to back, so the marks a reader
 * echoes waited behind a writer that kept it busy (the whole of a 48 MB burst, in workerd) and the reader,
 * which was reading, was cut off (`too_slow`). Writes that never fill the room (a thousand small documents
 * created at once) go as acks make room, a round trip saved each time.
 */
export function roomInFlight(docs: Iterable<DocState>, writer: Writer, draining: boolean): Room {
  const most = draining ? FREE_IN_FLIGHT_BYTES : MAX_IN_FLIGHT_BYTES;
  let inFlight = 0;
  for (const doc of docs) {
    inFlight += inFlightBytes(doc, writer.session);
    // Asked at every ack of a burst over many documents: the rest need not be counted.
    if (inFlight >= most) return { bytes: 0, starved: false };
  }
  return { bytes: MAX_IN_FLIGHT_BYTES - inFlight, starved: false };
}

/** Bytes in flight to which a burst that used up the room waits to drain before the next (see roomInFlight). */
const FREE_IN_FLIGHT_BYTES = CHUNK_TARGET_BYTES / 4;

/** The wire bytes of a document's own writes sent and not acked. */
function inFlightBytes(doc: DocState, own: SessionId): number {
  const confirmed = countOf(doc.relay, own);
  if (doc.sent <= confirmed) return 0;
  const base = baseOf(doc, own);
  const log = doc.sessions.get(own) ?? [];
  let bytes = 0;
  for (let i = Math.max(confirmed, base); i < doc.sent && i - base < log.length; i++) bytes += wireSizeOf(log[i - base]!);
  return bytes;
}

/** Each transaction's bytes on the wire, once worked out: a burst's are counted at each push while in flight. */
const wireSizes = new WeakMap<Transaction, number>();

/**
 * A transaction's bytes on the wire: its data as the frame carries it (JSON-escaped text: a control
 * character takes 6 bytes, what the relay counts) and WIRE_BYTES_PER_TRANSACTION.
 */
function wireSizeOf(transaction: Transaction): number {
  let size = wireSizes.get(transaction);
  if (size === undefined) wireSizes.set(transaction, (size = wireDataBytes(transaction.data) + WIRE_BYTES_PER_TRANSACTION));
  return size;
}

/** Frames to push now of `doc`: its own writes (within `room`), then the orphan tails the relay would accept. */
export function takePush(doc: DocState, writer: Writer, pace: Pace, room?: Room): Content[] {
  return [...takeOwn(doc, writer, pace, room), ...takeOrphanTails(doc, writer).filter(relayWouldAccept)];
}

/** What of the own session may leave now: saved locally, not refused, and held. */
function ownPushable(doc: DocState, writer: Writer): { base: number; log: readonly Transaction[]; sendable: number; confirmed: number } | undefined {
  const own = writer.session;
  if (!doc.loaded || doc.deleted || (doc.refusal && doc.refusal.from <= countOf(doc.relay, own))) return undefined;
  // The relay named more of the session than an ack or a comparison vouches for: a load answers first (own-content.ts).
  if (doc.reused?.checking) return undefined;
  // Only what is saved locally leaves the device: an acked write is then also a durable local one.
  // Refused writes (held back from `from` on) never leave it.
  const base = baseOf(doc, own);
  // A relay holding less than the snapshot this session starts from (restored from a backup older than it)
  // lacks transactions this client no longer holds: a push from the base would only be corrected, again and again.
  if (countOf(doc.relay, own) < base) return undefined;
  const log = doc.sessions.get(own) ?? [];
  const sendable = Math.min(heldCount(doc, own), doc.saved.get(own) ?? 0, doc.refusal?.from ?? Infinity);
  return { base, log, sendable, confirmed: countOf(doc.relay, own) };
}

/**
 * Own transactions the relay lacks, batched, signed, bounded in flight (in transactions per document, and
 * in bytes over the group when given its `room`) and paced; marks them sent.
 */
export function takeOwn(doc: DocState, writer: Writer, pace: Pace = UNPACED, room?: Room): Content[] {
  const own = writer.session;
  const pushable = ownPushable(doc, writer);
  if (!pushable) return [];
  const { base, log, sendable, confirmed } = pushable;
  const frames: Content[] = [];
  // Only its creator can give the relay a document's header (one the relay lost, say): the relay refuses it from anyone else.
  const needsHeader = doc.header !== undefined && doc.header.creator === writer.agent && doc.headerSaved && !doc.relay.header;
  if (doc.sent < base) doc.sent = base; // a snapshot stands for the rest, which the relay holds
  let includeHeader = needsHeader && !doc.headerInFlight && doc.sent === confirmed;
  // Like Nagle's algorithm: full frames go at once, but while anything is in flight, or sooner than the
  // pace allows after the previous frame, a partial frame waits, gathering what is appended meanwhile. A
  // steady trickle of appends then travels as a few frames a second instead of one frame (and one
  // signature, one commit at the relay, one frame to every subscriber) per append.
  const partialWaits = doc.sent > confirmed || pace.now < doc.pacedUntil;
  while (doc.sent < sendable && doc.sent - confirmed < MAX_IN_FLIGHT && (!partialWaits || sendable - doc.sent >= PUSH_BATCH)) {
    if (room && room.bytes <= 0) {
      room.starved = true;
      break;
    }
    const after = doc.sent;
    const end = batchEnd(log, base, after, sendable);
    if (room) for (let i = after; i < end; i++) room.bytes -= wireSizeOf(log[i - base]!);
    const signature = signCheckpoint(writer.secretKey, doc.id, own, end, ownHashAt(doc, own, end));
    frames.push({
      type: "content",
      doc: doc.id,
      ...(includeHeader ? { header: doc.header! } : {}),
      sessions: { [own]: { after, transactions: log.slice(after - base, end - base), signature } },
    });
    if (includeHeader) doc.headerInFlight = true;
    includeHeader = false;
    doc.sent = end;
    doc.pacedUntil = pace.now + pace.intervalMs;
  }
  if (includeHeader) {
    frames.push({ type: "content", doc: doc.id, header: doc.header!, sessions: {} });
    doc.headerInFlight = true;
  }
  return frames;
}

/**
 * When a push of `doc` would send what only the pace holds back (nothing in flight, a partial frame
 * waiting): the shell pushes again then. Undefined when an ack, an append or nothing at all comes next.
 */
export function pacedPushAt(doc: DocState, writer: Writer, pace: Pace): number | undefined {
  const pushable = ownPushable(doc, writer);
  if (!pushable || pace.now >= doc.pacedUntil) return undefined;
  const { sendable, confirmed } = pushable;
  return doc.sent === confirmed && doc.sent < sendable ? doc.pacedUntil : undefined;
}

/**
 * Unsent writes of this agent's other sessions. A client that died (a closed tab, a killed process) can
 * leave transactions in the shared local store that never reached the relay, and its session waits for a
 * client to lease it again, which may not happen while fewer clients run at once. So any client of the same
 * agent pushes such a tail as stored. The same transactions signed with the same key (Ed25519 is
 * deterministic) are the same bytes, so when the session's next holder or another client pushes them too,
 * the relay stores them once and answers the other push with a correction. Only a session's holder appends.
 * One frame in flight per session.
 */
export function takeOrphanTails(doc: DocState, writer: Writer): Content[] {
  // The relay must know the document (its header travels with the document's own push) and have answered its load.
  // A refused document holds back every write of this agent to it, until retried or discarded.
  if (!doc.loaded || doc.deleted || !doc.relay.header || doc.refusal || doc.orphanRefusal) return [];
  const frames: Content[] = [];
  for (const [session, log] of doc.sessions) {
    if (!isOrphanSession(session, writer)) continue;
    const base = baseOf(doc, session);
    const held = base + log.length;
    const after = countOf(doc.relay, session);
    const sent = doc.orphansSent.get(session) ?? 0;
    if (held <= after || sent > after || after < base) continue; // nothing to push, or a push not answered yet
    // The chain goes on from the hash at the session's base; where it is unknown, the tail cannot be signed.
    const from = base === 0 ? GENESIS_HASH : doc.baseHashes.get(session);
    if (from === undefined) continue;
    const end = batchEnd(log, base, after, held);
    const signature = signCheckpoint(writer.secretKey, doc.id, session, end, chainHash(from, heldSlice(doc, session, base, end)));
    frames.push({ type: "content", doc: doc.id, sessions: { [session]: { after, transactions: heldSlice(doc, session, after, end), signature } } });
    doc.orphansSent.set(session, end);
  }
  return frames;
}
