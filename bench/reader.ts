// Bench worker process: fresh clients that load what the relay holds (cold open, resume from a local
// store, a whole group) and report how long it took and how many bytes came over the socket.
import { createClient, createIdentity, importIdentity, type Doc, type Group } from "../client/index.ts";
import { FileLocalStore } from "../client/node.ts";
import { countOf, transactionCount, type DocId, type SessionId } from "../protocol/index.ts";
import { serve } from "./ipc.ts";
import { ownCpuMs, readStamp, sleep, wallClock } from "./workload.ts";

// Pay the runtime's one-time costs before any timing, as a running app would have: Node loads its
// WebSocket (undici) on first use, and @noble/ed25519 builds its tables on the first key operation.
void globalThis.WebSocket;
createIdentity();

/** When the group's connection reached each status, in ms after `t0`. */
function watchPhases(group: Group, t0: number): Record<string, number> {
  const phases: Record<string, number> = {};
  group.onStatus((status) => {
    phases[status] ??= Math.round((wallClock() - t0) * 10) / 10;
  });
  return phases;
}

/**
 * Resolves as soon as `condition` holds, checked whenever the SDK reports a change (a status, or transactions
 * arriving in one of `docs`): a figure is not late by a polling interval.
 */
function whenHolds(group: Group, docs: readonly Doc[], condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const offs: (() => void)[] = [];
    const finish = (error?: Error) => {
      clearTimeout(timer);
      for (const off of offs) off();
      if (error) reject(error);
      else resolve();
    };
    // Changes that arrive in one frame are checked once, a microtask later.
    let scheduled = false;
    const check = () => {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        if (condition()) finish();
      });
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    offs.push(group.onStatus(check));
    for (const doc of docs) offs.push(doc.subscribe(check));
    check();
  });
}

const dataBytes = (doc: Doc): number => doc.transactions().reduce((sum, transaction) => sum + transaction.data.length, 0);

serve({
  /**
   * The floor under every SDK figure, without the SDK: an HTTP round trip to the relay, and a bare
   * WebSocket to a group until it opens and until the relay's first frame (its challenge) arrives.
   * Also warms this process's network stack (undici's dispatcher), as a running app would have.
   */
  async probe(args: { url: string }) {
    await (await fetch(`${args.url}/v1/health`)).text(); // the first request pays for undici's setup
    const t0 = wallClock();
    await (await fetch(`${args.url}/v1/health`)).text();
    const healthMs = wallClock() - t0;
    const t1 = wallClock();
    const socket = new WebSocket(`${args.url.replace(/^http/, "ws")}/v1/groups/bench-probe/ws`);
    const openMs = await new Promise<number>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(wallClock() - t1), { once: true });
      socket.addEventListener("error", () => reject(new Error("probe: WebSocket failed")), { once: true });
    });
    const firstFrameMs = await new Promise<number>((resolve) => socket.addEventListener("message", () => resolve(wallClock() - t1), { once: true }));
    socket.close(1000, "probe");
    return { healthMs, openMs, firstFrameMs };
  },

  /**
   * Loads a small document once and closes: the first load in a new process compiles the SDK's decode and
   * apply paths, which an app that has been running has already done. Timed loads come after this.
   */
  async warmUp(args: { url: string; group: string; doc: DocId; expect: number }) {
    const client = await createClient({ url: args.url, identity: createIdentity() });
    try {
      const group = client.group(args.group);
      const doc = await group.open(args.doc);
      await whenHolds(group, [doc], () => transactionCount(doc.known) >= args.expect, 30_000, "the warm-up document");
      return { count: transactionCount(doc.known) };
    } finally {
      client.close();
    }
  },

  /** A fresh client opens one document: time until it holds `expect` transactions, and bytes received. */
  async coldOpen(args: { url: string; group: string; doc: DocId; expect: number }) {
    const identity = createIdentity();
    const cpuBefore = ownCpuMs();
    const t0 = wallClock();
    const client = await createClient({ url: args.url, identity });
    try {
      const group = client.group(args.group);
      const phases = watchPhases(group, t0);
      const doc = await group.open(args.doc);
      const opened = wallClock();
      await whenHolds(group, [doc], () => transactionCount(doc.known) >= args.expect, 30_000, `${args.expect} transactions`);
      const done = wallClock();
      return {
        ms: done - t0,
        openMs: opened - t0,
        bytesReceived: group.connection.bytesReceived,
        count: transactionCount(doc.known),
        dataBytes: dataBytes(doc),
        cpuMs: ownCpuMs() - cpuBefore,
        phases,
      };
    } finally {
      client.close();
    }
  },

  /** A client with a file store opens the document, holds `expect` transactions, saves them, and closes. */
  async prepareResume(args: { url: string; group: string; doc: DocId; secret: string; storeDir: string; expect: number }) {
    const client = await createClient({ url: args.url, identity: importIdentity(args.secret), store: new FileLocalStore(args.storeDir) });
    try {
      const group = client.group(args.group);
      const doc = await group.open(args.doc);
      await whenHolds(group, [doc], () => transactionCount(doc.known) >= args.expect && group.status === "live", 30_000, "in sync before the drop");
      await group.synced(); // saved locally
      await sleep(20);
      return { count: transactionCount(doc.known) };
    } finally {
      client.close();
    }
  },

  /** The same identity and store, a new client: time until it is live and holds `expect` transactions. */
  async resume(args: { url: string; group: string; doc: DocId; secret: string; storeDir: string; expect: number }) {
    const identity = importIdentity(args.secret);
    const t0 = wallClock();
    const client = await createClient({ url: args.url, identity, store: new FileLocalStore(args.storeDir) });
    try {
      const group = client.group(args.group);
      const phases = watchPhases(group, t0);
      const doc = await group.open(args.doc);
      const fromStore = transactionCount(doc.known);
      const openedMs = wallClock() - t0;
      await whenHolds(group, [doc], () => transactionCount(doc.known) >= args.expect && group.status === "live", 30_000, "in sync after resuming");
      return { ms: wallClock() - t0, openedMs, fromStore, count: transactionCount(doc.known), bytesReceived: group.connection.bytesReceived, phases };
    } finally {
      client.close();
    }
  },

  /** A fresh client lists the group and opens every document in it: time until all are loaded. */
  async openGroup(args: { url: string; group: string; perDoc: number }) {
    const identity = createIdentity();
    const t0 = wallClock();
    const client = await createClient({ url: args.url, identity });
    try {
      const group = client.group(args.group);
      const phases = watchPhases(group, t0);
      const { docs: entries } = await group.directory();
      const listed = wallClock();
      const docs = await Promise.all(entries.map((entry) => group.open(entry.id)));
      await whenHolds(group, docs, () => docs.every((doc) => transactionCount(doc.known) >= args.perDoc), 30_000, "every document loaded");
      return { ms: wallClock() - t0, directoryMs: listed - t0, docs: docs.length, bytesReceived: group.connection.bytesReceived, phases };
    } finally {
      client.close();
    }
  },

  /** A fresh client opens the whole group with `openAll()`: time until all are loaded. */
  async openAll(args: { url: string; group: string; perDoc: number }) {
    const identity = createIdentity();
    const t0 = wallClock();
    const client = await createClient({ url: args.url, identity });
    try {
      const group = client.group(args.group);
      const docs = await group.openAll();
      await whenHolds(group, docs, () => docs.every((doc) => transactionCount(doc.known) >= args.perDoc), 30_000, "every document loaded");
      return { ms: wallClock() - t0, docs: docs.length, bytesReceived: group.connection.bytesReceived };
    } finally {
      client.close();
    }
  },

  /** What the relay holds of one session: how many, and how many leading ones are the expected 0, 1, 2, … */
  async checkSession(args: { url: string; group: string; doc: DocId; session: SessionId }) {
    const t0 = wallClock();
    const client = await createClient({ url: args.url, identity: createIdentity() });
    try {
      const doc = await client.group(args.group).open(args.doc);
      const transactions = doc.sessionTransactions(args.session);
      let inOrder = 0;
      while (inOrder < transactions.length && readStamp(String(transactions[inOrder]!.data))?.i === inOrder) inOrder++;
      return { ms: wallClock() - t0, count: countOf(doc.known, args.session), inOrder };
    } finally {
      client.close();
    }
  },
});
