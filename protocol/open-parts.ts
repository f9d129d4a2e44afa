// Opening a group while holding more documents than one frame can list: the known states go out in parts,
// each covering a range of ids (after, through], so the relay answers each part on its own, statelessly,
// and still sends every document the client lacks exactly once. Shared, so every client splits alike.
import { utf8Length } from "./encoding.ts";
import type { DocId } from "./ids.ts";
import type { KnownState } from "./known-state.ts";
import { CHUNK_TARGET_BYTES, MAX_DOCS_PER_OPEN } from "./limits.ts";
import type { OpenGroup } from "./messages.ts";

/**
 * The `open` messages that resume a client holding `known`: one message when it fits `targetBytes`, else
 * parts in id order whose ranges cover every id, the last without `through` (the relay's `opened` follows it).
 */
export function openParts(known: Record<DocId, KnownState>, targetBytes = CHUNK_TARGET_BYTES): OpenGroup[] {
  const ids = (Object.keys(known) as DocId[]).sort();
  const parts: OpenGroup[] = [];
  let part: Record<DocId, KnownState> = {};
  let count = 0;
  let bytes = 0;
  let after: DocId | undefined;
  for (const id of ids) {
    const size = utf8Length(id) + utf8Length(JSON.stringify(known[id])) + 4;
    if (count > 0 && (bytes + size > targetBytes || count >= MAX_DOCS_PER_OPEN)) {
      const through = Object.keys(part).at(-1) as DocId;
      parts.push({ type: "open", known: part, ...(after === undefined ? {} : { after }), through });
      after = through;
      part = {};
      count = 0;
      bytes = 0;
    }
    part[id] = known[id]!;
    count++;
    bytes += size;
  }
  parts.push({ type: "open", known: part, ...(after === undefined ? {} : { after }) });
  return parts;
}
