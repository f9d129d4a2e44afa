// How a CRDT update becomes transaction payloads and back: small updates travel whole, large ones in
// numbered parts that a receiver reassembles per session and applies only once all have arrived.
//
// A payload is bytes:
//   [0x00] update...                                   a whole update
//   [0x01] varuint index, varuint count, bytes...      part `index` of `count` (0-based), count >= 2
// A session is one writer's ordered log, so the parts of one update are consecutive in it. A receiver keeps
// the parts heard so far per session; the last part completes the update, which is then applied at once.
// A whole update or a part 0 arriving while another update is incomplete abandons that one: only a writer
// that crashed mid-save leaves one incomplete (see docs/bindings.md), and every replica drops it alike;
// parts whose first part is not held are dropped too. Either is told (onDropped), never dropped unsaid.

const WHOLE = 0x00;
const PART = 0x01;
/** Room for a part's header: the kind byte and two varuints of up to 5 bytes each. */
export const PART_HEADER_BYTES = 11;

/** Splits an update into payloads of at most `maxPayloadBytes` bytes each. */
export function encodeUpdatePayloads(update: Uint8Array, maxPayloadBytes: number): Uint8Array[] {
  if (maxPayloadBytes <= PART_HEADER_BYTES) throw new RangeError(`encodeUpdatePayloads: ${maxPayloadBytes} bytes leave no room for a part`);
  if (update.length + 1 <= maxPayloadBytes) return [concat([Uint8Array.of(WHOLE), update])];
  const partBytes = maxPayloadBytes - PART_HEADER_BYTES;
  const count = Math.ceil(update.length / partBytes);
  const payloads: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const header = [PART, ...varuint(index), ...varuint(count)];
    payloads.push(concat([Uint8Array.from(header), update.subarray(index * partBytes, (index + 1) * partBytes)]));
  }
  return payloads;
}

/** What one payload holds, or why it is not one this binding wrote. */
export type DecodedPayload =
  | { kind: "whole"; update: Uint8Array }
  | { kind: "part"; index: number; count: number; bytes: Uint8Array }
  | { kind: "invalid"; reason: string };

export function decodeUpdatePayload(payload: Uint8Array): DecodedPayload {
  if (payload.length === 0) return { kind: "invalid", reason: "empty payload" };
  if (payload[0] === WHOLE) return { kind: "whole", update: payload.subarray(1) };
  if (payload[0] !== PART) return { kind: "invalid", reason: `unknown payload kind ${payload[0]}` };
  const index = readVaruint(payload, 1);
  const count = index && readVaruint(payload, index.next);
  if (!index || !count || count.value < 2 || index.value >= count.value) return { kind: "invalid", reason: "malformed part header" };
  return { kind: "part", index: index.value, count: count.value, bytes: payload.subarray(count.next) };
}

/**
 * How many of a session's transactions, through the one at `index` holding `payload`, a replica holds
 * applied: all of them, unless that one is a part of an update other than its last, which is applied only
 * with its last part: then those before the update's first part.
 */
export function appliedThrough(payload: Uint8Array | undefined, index: number): number {
  const decoded = payload && decodeUpdatePayload(payload);
  return decoded?.kind === "part" && decoded.index < decoded.count - 1 ? index - decoded.index : index + 1;
}

/** Parts an assembler dropped: `index` is the transaction of the first of them, when push() was told it. */
export type DroppedParts = { session: string; index: number | undefined; reason: string };

/**
 * Reassembles the parts of large updates, per writer session. `push` returns the update a payload
 * completes (a whole one at once, a split one at its last part), or undefined while parts are missing.
 * Parts it can never complete are dropped and told to `onDropped`, once per update: an update whose writer
 * went on before its last part, and parts whose first ones this replica does not hold.
 */
export class UpdateAssembler {
  readonly #pending = new Map<string, { count: number; parts: Uint8Array[]; from: number | undefined }>();
  /** Per session, an update whose dropping was told: its later parts are dropped without a word. */
  readonly #dropping = new Map<string, { count: number; next: number }>();
  readonly #onDropped: ((dropped: DroppedParts) => void) | undefined;

  constructor(onDropped?: (dropped: DroppedParts) => void) {
    this.#onDropped = onDropped;
  }

  /** `index`: the transaction's index in its session, to name it when parts are dropped. */
  push(session: string, payload: Uint8Array, index?: number): Uint8Array | undefined {
    const decoded = decodeUpdatePayload(payload);
    if (decoded.kind === "invalid") return undefined;
    const continues = (under: { count: number } | undefined, next: number | undefined) => decoded.kind === "part" && decoded.index > 0 && under?.count === decoded.count && next === decoded.index;
    const dropping = this.#dropping.get(session);
    if (continues(dropping, dropping?.next)) {
      if (++dropping!.next === dropping!.count) this.#dropping.delete(session);
      return undefined;
    }
    this.#dropping.delete(session);
    const pending = this.#pending.get(session);
    if (decoded.kind === "part" && continues(pending, pending?.parts.length)) {
      pending!.parts.push(decoded.bytes);
      if (pending!.parts.length < pending!.count) return undefined;
      this.#pending.delete(session);
      return concat(pending!.parts);
    }
    // Anything else ends the update under way unfinished: its writer went on without the rest (a writer
    // that crashed mid-save, see docs/bindings.md), and every replica drops it alike.
    if (pending) {
      this.#pending.delete(session);
      this.#onDropped?.({ session, index: pending.from, reason: `only ${pending.parts.length} of its ${pending.count} parts came before its writer's next change; the rest never will` });
    }
    if (decoded.kind === "whole") return decoded.update;
    if (decoded.index === 0) {
      this.#pending.set(session, { count: decoded.count, parts: [decoded.bytes], from: index });
      return undefined;
    }
    this.#dropping.set(session, { count: decoded.count, next: decoded.index + 1 });
    this.#onDropped?.({ session, index, reason: `part ${decoded.index + 1} of ${decoded.count} of an update whose first part this replica never received (a snapshot that covers parts of an update without holding it?)` });
    return undefined;
  }

  /**
   * A snapshot covering the session's first `count` transactions was applied: an update under way whose
   * first part is among them is in the snapshot (its other parts, covered too, will not come), and is
   * forgotten without a word. A snapshot that covers only some of its parts leaves the others to come
   * without their first: those are dropped, and said.
   */
  covered(session: string, count: number): void {
    const from = this.#pending.get(session)?.from;
    if (from !== undefined && from < count) this.#pending.delete(session);
  }

  /** Sessions with an update still incomplete (parts held in memory). */
  get incomplete(): number {
    return this.#pending.size;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

export function varuint(value: number): number[] {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return bytes;
}

function readVaruint(bytes: Uint8Array, offset: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0, i = offset; i < bytes.length && shift <= 28; shift += 7, i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return { value, next: i + 1 };
  }
  return undefined;
}
