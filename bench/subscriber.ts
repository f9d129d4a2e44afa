// Bench worker process: several subscribing clients (each its own identity and connection) on one
// document. Every transaction's delivery latency is its arrival time here minus the send time it carries.
import { createClient, createIdentity, type Client, type Group } from "../client/index.ts";
import type { DocId } from "../protocol/index.ts";
import { serve } from "./ipc.ts";
import { ownCpuMs, readStamp, wallClock } from "./workload.ts";

type Subscriber = { client: Client; group: Group; framesAtOpen: number; received: number; doneAt: number | undefined };

let subscribers: Subscriber[] = [];
let latencies: number[] = [];
/** Mean latency per tenth of the stream (by send order): growth from first to last tenth is a queue building up. */
let tenthSums: number[] = new Array(10).fill(0);
let tenthCounts: number[] = new Array(10).fill(0);
let expected = 0;
let waiters: (() => void)[] = [];

const allDone = () => subscribers.every((subscriber) => subscriber.doneAt !== undefined);

function closeAll(): void {
  for (const subscriber of subscribers) subscriber.client.close();
  subscribers = [];
}

// Pay the runtime's one-time costs before any timing (Node's WebSocket loads on first use; the
// Ed25519 tables are built on the first key operation), as a running app would have.
void globalThis.WebSocket;
createIdentity();

serve({
  /** `clients` fresh clients open `doc` and listen; `expect` is how many stamped transactions each should get. */
  async open(args: { url: string; group: string; doc: DocId; clients: number; expect: number }) {
    closeAll();
    latencies = [];
    tenthSums = new Array(10).fill(0);
    tenthCounts = new Array(10).fill(0);
    expected = args.expect;
    const t0 = wallClock();
    subscribers = await Promise.all(
      Array.from({ length: args.clients }, async () => {
        const client = await createClient({ url: args.url, identity: createIdentity() });
        const group = client.group(args.group);
        const doc = await group.open(args.doc);
        const subscriber: Subscriber = { client, group, framesAtOpen: group.connection.framesReceived, received: 0, doneAt: undefined };
        doc.subscribe(({ added }) => {
          const now = wallClock();
          for (const transaction of added) {
            const stamp = readStamp(String(transaction.data));
            if (!stamp) continue;
            const latency = now - stamp.t;
            latencies.push(latency);
            const tenth = Math.min(9, Math.floor((stamp.i * 10) / Math.max(1, expected)));
            tenthSums[tenth]! += latency;
            tenthCounts[tenth]! += 1;
            subscriber.received++;
          }
          if (subscriber.doneAt === undefined && subscriber.received >= expected) {
            subscriber.doneAt = now;
            if (allDone()) for (const resolve of waiters.splice(0)) resolve();
          }
        });
        return subscriber;
      }),
    );
    return { openMs: wallClock() - t0 };
  },

  /** Waits until every client has all it expects (or the time is up), then hands over the samples. */
  async collect(args: { timeoutMs: number }) {
    if (!allDone()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, args.timeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const result = {
      latencies: latencies.map((value) => Math.round(value * 1000) / 1000),
      doneAt: subscribers.map((subscriber) => subscriber.doneAt ?? null),
      received: subscribers.map((subscriber) => subscriber.received),
      frames: subscribers.map((subscriber) => subscriber.group.connection.framesReceived - subscriber.framesAtOpen),
      tenthSums,
      tenthCounts,
      cpuMs: ownCpuMs(),
    };
    latencies = [];
    return result;
  },

  close() {
    closeAll();
    return {};
  },
});
