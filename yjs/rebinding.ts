// What a Y.Doc bound provider after provider to one document still has to send. A Y.Doc a provider has
// never seen may hold content the document lacks (an app's own persistence), so its whole state is sent
// once. But an app that keeps one long-lived Y.Doc and binds a new provider to it each time an editor
// mounts would append its whole state again at every binding (50 KB for a 50 KB document, downloaded by
// every peer): so each provider that stops with everything sent remembers how far the Y.Doc was, and the
// next one of the same group and document, from the same client (its session: a group the app closed
// and opened again is a new Group object of the same client), sends only what was added since.
import * as Y from "yjs";
import type { Group } from "../client/group.ts";
import type { DocId } from "../protocol/ids.ts";

/**
 * Per Y.Doc and document: through which group of which client (`<session> <group id>`: its store sends
 * what the relay lacks) what was sent went, and how far.
 */
const sentOf = new WeakMap<Y.Doc, Map<DocId, { through: string; snapshot: Y.Snapshot; stateVector: Uint8Array }>>();

const throughOf = (group: Group): string => `${group.session} ${group.id}`;

/** Everything the Y.Doc holds was sent to (or received from) `docId` through `group`. */
export function rememberSent(ydoc: Y.Doc, group: Group, docId: DocId): void {
  let sent = sentOf.get(ydoc);
  if (!sent) sentOf.set(ydoc, (sent = new Map()));
  sent.set(docId, { through: throughOf(group), snapshot: Y.snapshot(ydoc), stateVector: Y.encodeStateVector(ydoc) });
}

/** Some of what the Y.Doc holds may not have been sent (edits dropped or left waiting): the next binding sends all. */
export function forgetSent(ydoc: Y.Doc, docId: DocId): void {
  sentOf.get(ydoc)?.delete(docId);
}

/**
 * The update a new binding of the Y.Doc to `docId` through `group` sends first, or undefined if none: the
 * whole state, unless a provider of the same group and document remembered it, then what was added
 * since (its new content and the delete set, which Yjs always sends whole), or nothing if nothing was.
 */
export function unsentUpdate(ydoc: Y.Doc, group: Group, docId: DocId): Uint8Array | undefined {
  if (ydoc.store.clients.size === 0) return undefined;
  const sent = sentOf.get(ydoc)?.get(docId);
  if (!sent || sent.through !== throughOf(group)) return Y.encodeStateAsUpdate(ydoc);
  if (Y.equalSnapshots(sent.snapshot, Y.snapshot(ydoc))) return undefined;
  return Y.encodeStateAsUpdate(ydoc, sent.stateVector);
}
