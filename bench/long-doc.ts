// Bench worker process for long_doc: a Yjs typing session written one keystroke per transaction (the
// log a year of typing leaves), its snapshot, the same state as one update in a document of its own, and
// fresh clients that load a document through weft/yjs and report how long until their Y.Doc holds the
// whole text, and how many bytes and transactions it took.
import * as Y from "yjs";
import { createClient, createIdentity, type Client, type Doc } from "../client/index.ts";
import type { DocId } from "../protocol/index.ts";
import { WeftProvider } from "../yjs/index.ts";
import { MAX_PAYLOAD_BYTES, payloadToData } from "../yjs/payload.ts";
import { encodeUpdatePayloads } from "../yjs/update-frames.ts";
import { serve } from "./ipc.ts";
import { ownCpuMs, wallClock } from "./workload.ts";

let client: Client | undefined;
let doc: Doc | undefined;
const ydoc = new Y.Doc();
const text = ydoc.getText("body");
let logBytes = 0;

// Pay the runtime's one-time costs before any timing, as a running app would have.
void globalThis.WebSocket;
createIdentity();

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`long-doc: no ${what} yet`);
  return value;
};

/** Appends `count` keystrokes, each its own Yjs update and its own transaction, then waits for the acks. */
async function type(count: number): Promise<{ ms: number }> {
  const target = need(doc, "document");
  const t0 = wallClock();
  const onUpdate = (update: Uint8Array) => {
    for (const payload of encodeUpdatePayloads(update, MAX_PAYLOAD_BYTES)) {
      logBytes += payload.byteLength;
      target.append(payloadToData(payload));
    }
  };
  ydoc.on("update", onUpdate);
  for (let i = 0; i < count; i++) {
    // A typing session: mostly letters at the end, now and then a correction in the middle.
    if (i % 50 === 49 && text.length > 10) text.delete(text.length - 5, 1);
    else text.insert(text.length, String.fromCharCode(97 + (i % 26)));
    // Acks in bounded steps, so the SDK never holds a quarter of a million unsent transactions.
    if (i % 5_000 === 4_999) await target.synced();
  }
  ydoc.off("update", onUpdate);
  await target.synced();
  return { ms: wallClock() - t0 };
}

serve({
  /** A Yjs document typed into `count` times, acknowledged. */
  async typeNew(args: { url: string; group: string; count: number }) {
    client = await createClient({ url: args.url, identity: createIdentity() });
    doc = client.group(args.group).create({ kind: "yjs", meta: { bench: "long_doc" } });
    await doc.synced();
    const typed = await type(args.count);
    return { doc: doc.id, ...typed, logBytes, stateBytes: Y.encodeStateAsUpdate(ydoc).byteLength, textLength: text.length };
  },

  /** `count` more keystrokes into the same document (no snapshot). */
  async typeMore(args: { count: number }) {
    const before = logBytes;
    const typed = await type(args.count);
    return { ...typed, deltaBytes: logBytes - before, textLength: text.length };
  },

  /** Publishes the merged state as the document's snapshot; resolves once the relay stored it. */
  async snapshot() {
    const state = Y.encodeStateAsUpdate(ydoc);
    const t0 = wallClock();
    await need(doc, "document").snapshot(state);
    return { ms: wallClock() - t0, bytes: state.byteLength };
  },

  /** The same state as one update, the whole of a document in `group` (the baseline a Yjs relay serves). */
  async mergedCopy(args: { group: string }) {
    const copy = need(client, "client").group(args.group).create({ kind: "yjs", meta: { bench: "long_doc merged" } });
    for (const payload of encodeUpdatePayloads(Y.encodeStateAsUpdate(ydoc), MAX_PAYLOAD_BYTES)) copy.append(payloadToData(payload));
    await copy.synced();
    return { doc: copy.id };
  },

  /** A fresh client and Y.Doc load a document through weft/yjs: time until the text is whole, bytes, transactions. */
  async coldLoad(args: { url: string; group: string; doc: DocId; textLength: number }) {
    const cpuBefore = ownCpuMs();
    const t0 = wallClock();
    const reader = await createClient({ url: args.url, identity: createIdentity() });
    try {
      const group = reader.group(args.group);
      const loaded = new Y.Doc();
      const body = loaded.getText("body");
      const provider = new WeftProvider(group, args.doc, loaded, { snapshots: false });
      await provider.loaded;
      if (body.length !== args.textLength) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out: ${body.length} of ${args.textLength} characters`)), 60_000);
          const check = () => {
            if (body.length !== args.textLength) return;
            clearTimeout(timer);
            loaded.off("update", check);
            resolve();
          };
          loaded.on("update", check);
        });
      }
      const ms = wallClock() - t0;
      const held = provider.doc!;
      provider.destroy();
      return { ms, bytesReceived: group.connection.bytesReceived, transactions: held.transactions().length, snapshot: held.heldSnapshot !== undefined, cpuMs: ownCpuMs() - cpuBefore };
    } finally {
      reader.close();
    }
  },

  async close() {
    client?.close();
    client = undefined;
    return {};
  },
});
