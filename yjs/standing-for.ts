// One Y.Doc stands for one document. Its content is the document's: bound to a second one (an editor that
// switches notes on one Y.Doc, with or without destroying the first provider), it would send the first
// document's content into the second, and the second's edits would come back into the first, merged in
// both for every peer. So the first binding claims the Y.Doc for good, for its group and document.
import type * as Y from "yjs";
import type { DocId } from "../protocol/ids.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

const documentOf = new WeakMap<Y.Doc, { group: string; doc: DocId }>();

/** Throws a TypeError if the Y.Doc was bound to another document (of any group) before. */
export function checkStandsFor(ydoc: Y.Doc, group: string, doc: DocId): void {
  const claimed = documentOf.get(ydoc);
  if (claimed && (claimed.group !== group || claimed.doc !== doc)) {
    throw new ArgumentError(
      `WeftProvider: this Y.Doc already stands for ${claimed.doc} of group ${claimed.group}; bound to ${doc} of group ${group} too, it would merge the two documents: give each document a new Y.Doc`,
    );
  }
}

/** The Y.Doc holds `doc`'s content from now on. */
export function claimFor(ydoc: Y.Doc, group: string, doc: DocId): void {
  documentOf.set(ydoc, { group, doc });
}
