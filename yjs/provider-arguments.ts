// What plain JavaScript may pass to new WeftProvider(...): each mistake a TypeError that names it.
import * as Y from "yjs";
import { checkDocId, checkKnownOptions, describe } from "../client/local-checks.ts";
import type { Awareness } from "y-protocols/awareness";
import { ArgumentError } from "../protocol/argument-error.ts";

/**
 * What plain JavaScript may pass, refused at the call with a TypeError that names it, before the provider
 * holds a place: shapes rather than classes, since an app may bundle its own copy of Yjs.
 */
export function checkProviderArguments(group: unknown, docId: unknown, ydoc: unknown, options: unknown): void {
  const looksLike = (value: unknown, methods: string[]) => typeof value === "object" && value !== null && methods.every((method) => typeof (value as Record<string, unknown>)[method] === "function");
  if (!looksLike(group, ["open", "onStatus", "onRole", "onRefused"])) throw new ArgumentError(`WeftProvider: the first argument must be a group (client.group(id)), not ${describe(group)}`);
  if (looksLike(docId, ["append"])) throw new ArgumentError("WeftProvider: the second argument is a document's id: pass doc.id, not the Doc");
  checkDocId(docId, "WeftProvider");
  if (!looksLike(ydoc, ["on", "off", "transact"]) || typeof (ydoc as Y.Doc).clientID !== "number") throw new ArgumentError(`WeftProvider: the third argument must be a Y.Doc, not ${describe(ydoc)}`);
  // Yjs cannot mix two copies of itself: another's Y.Doc takes updates but shows none of them.
  if (!(ydoc instanceof Y.Doc)) {
    throw new ArgumentError(
      'WeftProvider: this Y.Doc comes from another copy of yjs than weft/yjs uses (a CommonJS app\'s require("yjs") loads its CommonJS build, weft/yjs its ES module one): load yjs as an ES module (import * as Y from "yjs", or await import("yjs") from CommonJS)',
    );
  }
  if ((ydoc as Y.Doc).isDestroyed) throw new ArgumentError("WeftProvider: the Y.Doc was destroyed: bind a new one");
  checkKnownOptions(options, ["awareness", "snapshots"], "WeftProvider");
  const awareness = (options as { awareness?: Awareness } | undefined)?.awareness;
  if (awareness !== undefined) {
    if (!looksLike(awareness, ["on", "off", "getLocalState", "setLocalState"])) throw new ArgumentError(`WeftProvider: awareness must be a y-protocols Awareness, not ${describe(awareness)}`);
    if (awareness.doc !== ydoc) throw new ArgumentError("WeftProvider: awareness belongs to another Y.Doc: make it with new Awareness(ydoc) of this one");
  }
}
