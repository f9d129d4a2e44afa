// Opening the whole group: one `open` carries what this client holds of every document, and the relay
// streams what it lacks, ending with `opened`. After that every reconnect opens the whole group again.
import type { ClientMessage } from "../protocol/index.ts";
import type { Doc } from "./doc.ts";
import { Waiters } from "./waiters.ts";

/**
 * The messages that open the whole group, given what this client holds. One small function on purpose:
 * how a resume of many documents is split into bounded frames is decided here alone.
 */
export function openGroupMessages(docs: Iterable<Doc>): ClientMessage[] {
  const known: Record<string, Doc["known"]> = {};
  for (const doc of docs) if (doc.header && !doc.deleted) known[doc.id] = doc.known;
  return [{ type: "open", known }];
}

export class WholeGroupOpen {
  /** The whole group was opened: every reconnect opens it again, and documents heard of are tracked. */
  requested = false;
  /** openAll() calls waiting for the relay's `opened`. */
  readonly waiters = new Waiters<void>();
}
