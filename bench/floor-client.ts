// Bench worker process for the floor scenario: plain WebSockets (Node's own, as the SDK uses) against the
// do-nothing relay in bench/floor/worker.ts. The same round trips and fan-out the SDK makes of the real
// relay, with neither side doing any work: what is left is the cost of wrangler dev and the sockets.
import { serve } from "./ipc.ts";
import { ownCpuMs, paced, sleep, wallClock } from "./workload.ts";

void globalThis.WebSocket; // Node loads its WebSocket on first use: pay that before any timing

// Frames of the sizes the SDK sends: a hello (~280 B) and a load of one document known by one session.
const HELLO = JSON.stringify({ type: "hello", v: 1, agent: "a".repeat(46), session: "s".repeat(64), group: "floor", signature: "x".repeat(86) });
const LOAD = JSON.stringify({ type: "load", doc: "d".repeat(47), known: { header: true, sessions: { ["s".repeat(64)]: 2000 } } });

const socketUrl = (url: string, group: string) => `${url.replace(/^http/, "ws")}/v1/groups/${group}/ws`;

/** A socket that has opened and received its challenge. */
function connect(url: string, group: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(socketUrl(url, group));
    socket.addEventListener("message", () => resolve(socket), { once: true });
    socket.addEventListener("error", () => reject(new Error("floor: WebSocket failed")), { once: true });
  });
}

/**
 * `rounds` times: a new socket that answers the challenge with a hello and `request`, timed from opening
 * until the floor's known; every frame on the way is parsed as the SDK parses one.
 */
async function timedRounds(url: string, group: string, request: string, rounds: number): Promise<number[]> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const t0 = wallClock();
    const socket = new WebSocket(socketUrl(url, group));
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("error", () => reject(new Error("floor: WebSocket failed")), { once: true });
      socket.addEventListener("message", (event) => {
        const { type } = JSON.parse(String(event.data)) as { type: string };
        if (type === "challenge") {
          socket.send(HELLO);
          socket.send(request);
        } else if (type === "known") resolve();
      });
    });
    times.push(wallClock() - t0);
    socket.close(1000, "done");
    await sleep(30);
  }
  return times;
}

let listeners: { socket: WebSocket; received: number }[] = [];
let latencies: number[] = [];

serve({
  /** A resume's round trips without the work: open, and on the challenge send hello and load; time to the known. */
  resume: (args: { url: string; rounds: number }) => timedRounds(args.url, "floor-resume", LOAD, args.rounds),

  /**
   * A cold load's bytes without the work: open, hello, then ask for `frames` canned frames of `bytes` each;
   * each is parsed as the SDK parses a frame. Time from opening until the known after them.
   */
  bulk: (args: { url: string; rounds: number; frames: number; bytes: number }) =>
    timedRounds(args.url, "floor-bulk", JSON.stringify({ type: "bulk", frames: args.frames, bytes: args.bytes }), args.rounds),

  /** `count` frames of `bytes` each over one socket, one at a time, each answered with a known. */
  async events(args: { url: string; count: number; bytes: number }) {
    const socket = await connect(args.url, "floor-events");
    const frame = JSON.stringify({ type: "load", pad: "x".repeat(args.bytes) });
    const t0 = wallClock();
    await new Promise<void>((resolve) => {
      let answered = 0;
      socket.addEventListener("message", () => {
        if (++answered === args.count) resolve();
        else socket.send(frame);
      });
      socket.send(frame);
    });
    socket.close(1000, "done");
    return { ms: wallClock() - t0 };
  },

  /** Opens `sockets` listening sockets on the fan-out group; each frame's latency is its arrival minus its stamp. */
  async listen(args: { url: string; sockets: number }) {
    for (const { socket } of listeners) socket.close(1000, "done");
    latencies = [];
    listeners = await Promise.all(
      Array.from({ length: args.sockets }, async () => {
        const listener = { socket: await connect(args.url, "floor-fan"), received: 0 };
        listener.socket.addEventListener("message", (event) => {
          const frame = JSON.parse(String(event.data)) as { type: string; t?: number };
          if (frame.type !== "fan" || frame.t === undefined) return;
          latencies.push(wallClock() - frame.t);
          listener.received++;
        });
        return listener;
      }),
    );
    return { cpuMs: ownCpuMs() };
  },

  /** Waits until every listening socket has `expect` frames (or the timeout); the latencies, and this process's CPU. */
  async collect(args: { expect: number; timeoutMs: number }) {
    const deadline = wallClock() + args.timeoutMs;
    while (listeners.some((listener) => listener.received < args.expect) && wallClock() < deadline) await sleep(5);
    const missing = listeners.reduce((sum, listener) => sum + Math.max(0, args.expect - listener.received), 0);
    for (const { socket } of listeners) socket.close(1000, "done");
    listeners = [];
    return { latencies, missing, cpuMs: ownCpuMs() };
  },

  /** Sends `frames` stamped frames at `perSecond`, each fanned out by the floor to every socket of the group. */
  async send(args: { url: string; frames: number; perSecond: number; bytes: number }) {
    const socket = await connect(args.url, "floor-fan");
    const pad = "x".repeat(args.bytes);
    const start = await paced(args.frames, args.perSecond, (i) => socket.send(JSON.stringify({ type: "fan", t: wallClock(), i, pad })));
    await sleep(50);
    socket.close(1000, "done");
    return { sendMs: wallClock() - start };
  },
});
