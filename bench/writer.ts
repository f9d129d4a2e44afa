// Bench worker process: one writing client, driven by the bench runner over IPC (see ipc.ts).
// Every timing is taken here, around the SDK calls, with the shared wall clock of workload.ts.
import { createClient, createIdentity, importIdentity, type Client, type Doc, type Group } from "../client/index.ts";
import { FileLocalStore } from "../client/node.ts";
import { countOf, type DocId } from "../protocol/index.ts";
import { emit, serve } from "./ipc.ts";
import { ownCpuMs, paced, payload, sleep, until, wallClock } from "./workload.ts";

const FAST_RETRY = { baseMs: 50, capMs: 500, minUptimeMs: 1_000 };

let client: Client | undefined;
let group: Group | undefined;
let doc: Doc | undefined;

const need = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`writer: no ${what} yet`);
  return value;
};

// Pay the runtime's one-time costs before any timing (Node's WebSocket loads on first use; the
// Ed25519 tables are built on the first key operation), as a running app would have.
void globalThis.WebSocket;
createIdentity();

serve({
  /** A client for one group; with `storeDir` its documents are kept on disk (FileLocalStore). */
  async connect(args: { url: string; group: string; secret?: string; storeDir?: string }) {
    client?.close();
    const identity = args.secret ? importIdentity(args.secret) : createIdentity();
    client = await createClient({
      url: args.url,
      identity,
      backoff: FAST_RETRY,
      ...(args.storeDir ? { store: new FileLocalStore(args.storeDir) } : {}),
    });
    group = client.group(args.group);
    return { session: client.session };
  },

  /** A new document, acknowledged by the relay. */
  async create() {
    doc = need(group, "group").create({ kind: "json", meta: { bench: true } });
    await doc.synced();
    return { doc: doc.id };
  },

  /** Appends `count` transactions in one go, as fast as the SDK takes them, and waits for every ack. */
  async fill(args: { count: number; bytes: number }) {
    const target = need(doc, "document");
    const cpuBefore = ownCpuMs();
    const t0 = wallClock();
    for (let i = 0; i < args.count; i++) target.append(payload(i, args.bytes));
    const appended = wallClock();
    await target.synced();
    const acked = wallClock();
    return { t0, appendMs: appended - t0, totalMs: acked - t0, cpuMs: ownCpuMs() - cpuBefore };
  },

  /** `rate` transactions per second for `durationMs`, each stamped with its send time; then waits for acks. */
  async steady(args: { rate: number; durationMs: number; bytes: number; ackTimeoutMs: number }) {
    const target = need(doc, "document");
    const total = Math.round((args.rate * args.durationMs) / 1000);
    const cpuBefore = ownCpuMs();
    const start = await paced(total, args.rate, (i) => target.append(payload(i, args.bytes)));
    const lastSend = wallClock();
    // Bounded: a relay that cannot keep up is a result to report, not a reason to hang.
    const synced = await Promise.race([target.synced().then(() => true), sleep(args.ackTimeoutMs).then(() => false)]);
    return { t0: start, sent: total, sendMs: lastSend - start, syncedMs: synced ? wallClock() - start : null, cpuMs: ownCpuMs() - cpuBefore };
  },

  /**
   * Durability: appends without pause (at most 5,000 ahead of the acks) and emits `acked` the moment
   * the relay has acknowledged `threshold`. When the connection drops, closes the client at once so
   * nothing is resent, and answers with what the relay had acknowledged before it went away.
   */
  async stream(args: { threshold: number; bytes: number }) {
    const target = need(doc, "document");
    const session = need(client, "client").session;
    let appended = countOf(target.known, session);
    let signalled = false;
    const dropped = new Promise<{ acked: number; appended: number; droppedAt: number }>((resolve) => {
      const off = need(group, "group").onStatus((status) => {
        if (status !== "offline") return;
        off();
        const acked = countOf(target.relayKnown, session);
        // Close once the SDK has finished handling the drop: closing from inside the status callback
        // leaves its reconnect timer armed (it fires on a closed connection and throws StatusError).
        queueMicrotask(() => client?.close());
        resolve({ acked, appended, droppedAt: wallClock() });
      });
    });
    let stopped = false;
    void dropped.then(() => (stopped = true));
    const pump = async () => {
      while (!stopped) {
        const acked = countOf(target.relayKnown, session);
        if (!signalled && acked >= args.threshold) {
          signalled = true;
          emit("acked", { acked, at: wallClock() });
        }
        for (let k = 0; k < 100 && appended - acked < 5_000; k++) target.append(payload(appended++, args.bytes));
        await sleep(1);
      }
    };
    void pump();
    return dropped;
  },

  /** The same identity and local store, a new client: time until live again with every own write acked. */
  async reopen(args: { url: string; group: string; doc: DocId; secret: string; storeDir: string }) {
    client?.close();
    const identity = importIdentity(args.secret);
    const t0 = wallClock();
    client = await createClient({ url: args.url, identity, store: new FileLocalStore(args.storeDir), backoff: FAST_RETRY });
    group = client.group(args.group);
    doc = await group.open(args.doc);
    const current = group;
    await until(() => current.status === "live", 30_000, "live after reopening", 1);
    await doc.synced();
    return { ms: wallClock() - t0, count: countOf(doc.known, client.session), acked: countOf(doc.relayKnown, client.session) };
  },

  /** Creates `docs` documents with `perDoc` transactions each in the current group; time until all are acked. */
  async seedMany(args: { docs: number; perDoc: number; bytes: number }) {
    const target = need(group, "group");
    const cpuBefore = ownCpuMs();
    const t0 = wallClock();
    for (let d = 0; d < args.docs; d++) {
      const created = target.create({ kind: "json", meta: { n: d } });
      for (let i = 0; i < args.perDoc; i++) created.append(payload(i, args.bytes));
    }
    await target.synced();
    return { ms: wallClock() - t0, cpuMs: ownCpuMs() - cpuBefore };
  },

  close() {
    client?.close();
    client = undefined;
    group = undefined;
    doc = undefined;
    return {};
  },

  cpu() {
    return { cpuMs: ownCpuMs() };
  },
});
