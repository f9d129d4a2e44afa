// Bench worker process: several Yjs editors or viewers (each its own identity, connection and Y.Doc with a
// WeftProvider) on one document. Editors type one character at a time at their own cursor; every Y.Doc
// records when each other client's characters arrive, as (client, clock, time): a character typed as clock
// c of client x is in a Y.Doc once that Y.Doc's state vector holds more than c for x.
import * as Y from "yjs";
import { Awareness } from "y-protocols/awareness";
import { createClient, createIdentity, type Client } from "../client/index.ts";
import type { DocId } from "../protocol/index.ts";
import { WeftProvider } from "../yjs/index.ts";
import { serve } from "./ipc.ts";
import { ownCpuMs, sleep, wallClock } from "./workload.ts";

type Peer = {
  client: Client;
  provider: WeftProvider;
  ydoc: Y.Doc;
  awareness: Awareness;
  /** [client id, clock reached, time] each time a remote update moved a client's clock. */
  arrivals: [number, number, number][];
  seen: Map<number, number>;
};

let peers: Peer[] = [];
let bytes = { sent: 0, received: 0, framesSent: 0, framesReceived: 0 };

const sizeOf = (data: unknown): number =>
  typeof data === "string" ? Buffer.byteLength(data) : data instanceof ArrayBuffer ? data.byteLength : ArrayBuffer.isView(data) ? data.byteLength : data instanceof Blob ? data.size : 0;

/** The platform WebSocket, counting the bytes of every frame each way (payloads, as the SDK hands them over). */
class CountingWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols);
    this.addEventListener("message", (event) => {
      bytes.received += sizeOf(event.data);
      bytes.framesReceived++;
    });
  }

  override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    bytes.sent += sizeOf(data);
    bytes.framesSent++;
    super.send(data);
  }
}

async function closeAll(): Promise<void> {
  for (const peer of peers) {
    peer.provider.destroy();
    peer.awareness.destroy();
    peer.client.close();
  }
  peers = [];
}

// Pay the runtime's one-time costs before any timing, as a running app would have.
void globalThis.WebSocket;
createIdentity();

serve({
  /** A new Yjs document in `group`, acknowledged by the relay. */
  async create(args: { url: string; group: string }) {
    const client = await createClient({ url: args.url, identity: createIdentity() });
    const doc = client.group(args.group).create({ kind: "yjs" });
    await doc.synced();
    client.close();
    return { doc: doc.id };
  },

  /** `clients` fresh clients open `doc`, each with a Y.Doc and a provider; resolves once all are in sync. */
  async open(args: { url: string; group: string; doc: DocId; clients: number; name: string }) {
    await closeAll();
    peers = await Promise.all(
      Array.from({ length: args.clients }, async (_, i) => {
        const client = await createClient({ url: args.url, identity: createIdentity(), WebSocket: CountingWebSocket });
        const ydoc = new Y.Doc();
        const awareness = new Awareness(ydoc);
        awareness.setLocalStateField("user", { name: `${args.name}-${i}` });
        const provider = new WeftProvider(client.group(args.group), args.doc, ydoc, { awareness });
        const peer: Peer = { client, provider, ydoc, awareness, arrivals: [], seen: new Map() };
        ydoc.on("update", (_update: Uint8Array, origin: unknown) => {
          if (origin !== provider) return;
          const now = wallClock();
          for (const [id, clock] of Y.decodeStateVector(Y.encodeStateVector(ydoc))) {
            if (id === ydoc.clientID || (peer.seen.get(id) ?? 0) >= clock) continue;
            peer.seen.set(id, clock);
            peer.arrivals.push([id, clock, now]);
          }
        });
        await provider.loaded;
        return peer;
      }),
    );
    await Promise.all(peers.map((peer) => (peer.provider.synced ? undefined : new Promise<void>((resolve) => peer.provider.on("synced", (synced) => synced && resolve())))));
    bytes = { sent: 0, received: 0, framesSent: 0, framesReceived: 0 };
    return { clients: peers.map((peer) => peer.ydoc.clientID) };
  },

  /**
   * Every client types `rate` characters a second for `durationMs`, each at its own cursor (moving the
   * cursor in its awareness, as an editor does), starting at a random phase. Returns each keystroke as
   * [client id, clock after it, time].
   */
  async type(args: { rate: number; durationMs: number }) {
    const intervalMs = 1000 / args.rate;
    const keystrokes: [number, number, number][] = [];
    const cpuBefore = ownCpuMs();
    await Promise.all(
      peers.map(async (peer, i) => {
        const text = peer.ydoc.getText("body");
        // Each editor starts its own paragraph, at the end of what is there.
        text.insert(text.length, `\n${i}: `);
        let cursor = Y.createRelativePositionFromTypeIndex(text, text.length);
        await sleep(Math.random() * intervalMs);
        const start = wallClock();
        for (let k = 0; wallClock() - start < args.durationMs; k++) {
          const due = start + k * intervalMs;
          const wait = due - wallClock();
          if (wait > 0) await sleep(wait);
          const index = Y.createAbsolutePositionFromRelativePosition(cursor, peer.ydoc)?.index ?? text.length;
          const t = wallClock();
          text.insert(index, String.fromCharCode(97 + (k % 26)));
          keystrokes.push([peer.ydoc.clientID, Y.getState(peer.ydoc.store, peer.ydoc.clientID), t]);
          cursor = Y.createRelativePositionFromTypeIndex(text, index + 1);
          peer.awareness.setLocalStateField("cursor", { anchor: index + 1, head: index + 1 });
        }
      }),
    );
    return { keystrokes, cpuMs: ownCpuMs() - cpuBefore };
  },

  /** Waits until every Y.Doc holds `clocks` (client id -> final clock) or the time is up; hands over the arrivals. */
  async collect(args: { clocks: [number, number][]; timeoutMs: number }) {
    const deadline = wallClock() + args.timeoutMs;
    const complete = (peer: Peer) => args.clocks.every(([id, clock]) => id === peer.ydoc.clientID || (peer.seen.get(id) ?? 0) >= clock);
    while (!peers.every(complete) && wallClock() < deadline) await sleep(20);
    return {
      docs: peers.map((peer) => ({ client: peer.ydoc.clientID, arrivals: peer.arrivals })),
      complete: peers.filter(complete).length,
      bytes,
      cpuMs: ownCpuMs(),
      texts: peers.map((peer) => peer.ydoc.getText("body").toString()),
    };
  },

  async close() {
    await closeAll();
  },
});
