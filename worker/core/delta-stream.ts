// The one bounded way the relay sends a peer what it lacks of a document, for a `load` and for each
// document of an `open` alike: read straight from storage, packed into frames under the limit, at most a
// budget of transactions at a time (and none once the receiver has no room), advancing what the peer holds
// (`have`) so the next call goes on from there.
import { RELAY_FRAME_TARGET_BYTES, missing, type DocId, type KnownState, type ServerMessage } from "../../protocol/index.ts";
import { ContentPacker } from "./content-packer.ts";
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
 */
export function sendMissing(
  store: GroupStore,
  doc: DocId,
  have: KnownState,
  budget: number,
  emit: (message: ServerMessage) => boolean | void,
  relayKnown: KnownState = store.knownState(doc),
): DeltaStep {
  let room = true;
  const send = (message: ServerMessage) => {
    if (emit(message) === false) room = false;
  };
  let delta = missing(have, relayKnown);
  // A peer lacking part of what the document's snapshot covers may get the snapshot first (snapshot-serving.ts).
  let rows = 0;
  if (delta.ranges.length > 0 && servesSnapshot(store, doc, have)) {
    rows += sendSnapshot(store, doc, have, send);
    delta = missing(have, relayKnown);
  }
  const packer = new ContentPacker(doc, delta.header ? store.header(doc) : undefined, RELAY_FRAME_TARGET_BYTES);
  have.header ||= delta.header;
  const flush = () => {
    packer.flush();
    for (const message of packer.take()) send(message);
  };
  for (const range of delta.ranges) {
    // One more than the budget allows: reading it tells more remains (the next call sends it).
    for (const run of store.readRuns(doc, range.session, range.from, range.to, budget - rows + 1)) {
      for (let i = 0; i < run.at.length; i++) {
        if (rows >= budget || !room) {
          flush();
          return { rows };
        }
        rows++;
        packer.addEncoded(range.session, run.first + i, run.at[i]!, run.data[i]!, run.bytes[i]!, run.signatures[i]);
        have.sessions[range.session] = run.first + i + 1;
        if (packer.hasFrames) for (const message of packer.take()) send(message);
      }
    }
  }
  flush();
  return { rows, complete: relayKnown };
}
