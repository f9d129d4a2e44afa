// Measures one write fanned out to many connected sockets of one group (issue 10, items 5 and 9), after the
// object has had time to hibernate, then a second write while it is awake. Real relay in workerd, raw
// WebSockets from this one Node process: through weft/dev (Miniflare, in memory, no dev proxy) by default,
// or under `wrangler dev` (its proxy in front, trace collector off) with `--relay wrangler`.
// Usage: npx node bench/measure/fanout-many-sockets.ts [sockets=10000] [--relay miniflare|wrangler] [--subscribers tcp|in-process]
//
// Each socket costs a file descriptor in this process and two in the relay's workerd (four more in wrangler's
// proxy), so 10,000 sockets do not fit the usual 20,000 hard limit: as root, the script first raises its own
// limit (prlimit), which the relay's processes inherit. Not root: it says so and goes on with the limit it has.
// With `--subscribers in-process` (Miniflare only) the subscribers' sockets are held by a Worker beside the
// relay in the same workerd (bench/socket-holder/worker.ts), through a service binding: the relay's object accepts and
// hibernates them as it does any socket, but they cost no descriptor, so the limit does not bound them. The
// writer still connects over TCP.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeServerFrame, encodeMessage } from "../../protocol/index.ts";
import { fileURLToPath } from "node:url";
import { startRelay } from "../../dev/index.ts";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS } from "../../dev/start-relay.ts";
import { bundleWorker } from "../../scripts/bundle-worker.ts";
import { startRelay as startRelayProcess } from "../../test/support/relay-process.ts";
import { helloFrame, signedChunk, testAgent, testHeader, transactions, type TestAgent } from "../../test/support/identity.ts";
import { groupSqlStats } from "../../test/support/sql-stats.ts";
import { descriptorsByProcess, raiseFileLimit } from "./file-limit.ts";
import { subscribe } from "./group-subscriber.ts";

const args = process.argv.slice(2);
const relayArg = args.indexOf("--relay");
const RUNNER = relayArg >= 0 ? args.splice(relayArg, 2)[1] : "miniflare";
if (RUNNER !== "miniflare" && RUNNER !== "wrangler") throw new Error(`--relay miniflare|wrangler, not ${RUNNER}`);
const subscribersArg = args.indexOf("--subscribers");
const SUBSCRIBERS = subscribersArg >= 0 ? args.splice(subscribersArg, 2)[1] : "tcp";
if (SUBSCRIBERS !== "tcp" && SUBSCRIBERS !== "in-process") throw new Error(`--subscribers tcp|in-process, not ${SUBSCRIBERS}`);
if (SUBSCRIBERS === "in-process" && RUNNER !== "miniflare") throw new Error("--subscribers in-process needs --relay miniflare");
const SOCKETS = Number(args[0] ?? 10_000);
const GROUP = "measure-fanout";
/**
 * Locally an idle object is evicted from memory 10 s after its last event while its hibernatable sockets stay
 * open; the handshake deadline's alarm, 10 s after the last socket connected, is an event, so the eviction
 * comes about 20 s after the last connection. The script checks that it came (the object's instance id).
 */
const IDLE_MS = 30_000;
/** The relay's settings: its SQL meter on, for the object's instance id (a new one once it was evicted and woke). */
const VARS = { WEFT_SQL_STATS: "true" };

/** A writer's socket, ready once welcomed; `write` sends one transaction and times its ack and fan-out. */
async function writerSocket(url: string, who: TestAgent) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${GROUP}/ws`);
  const doc = testHeader(who, GROUP, "fanned-out");
  let acked: (() => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("error", () => reject(new Error("writer socket error")));
    ws.addEventListener("close", (event) => reject(new Error(`writer socket closed: ${event.code} ${event.reason}`)));
    ws.addEventListener("message", (event) => {
      const decoded = decodeServerFrame(event.data as string);
      if (!decoded.ok) return;
      for (const message of decoded.message) {
        if (message.type === "challenge") ws.send(encodeMessage(helloFrame(who, GROUP, message.nonce) as never));
        if (message.type === "welcome") resolve();
        if (message.type === "known" && message.reason === "ack") acked?.();
        if (message.type === "error") reject(new Error(`writer refused: ${message.code}: ${message.message}`));
      }
    });
  });
  let count = 0;
  let lastHash: string | undefined;
  return {
    ws,
    /** Sends one transaction; resolves with the ack's delay, in ms. */
    write(data: string): Promise<number> {
      const { chunk, lastHash: next } = signedChunk(who, doc.id, count, transactions(1, data), lastHash);
      const first = count === 0;
      count += 1;
      lastHash = next;
      const t0 = performance.now();
      const ack = new Promise<number>((resolve) => (acked = () => resolve(performance.now() - t0)));
      ws.send(encodeMessage({ type: "content", doc: doc.id, ...(first ? { header: doc.header } : {}), sessions: { [who.session]: chunk } } as never));
      return ack;
    },
  };
}

// Over TCP, per socket: one descriptor here, two in the relay's workerd (the socket and a duplicate of it), four
// in wrangler's proxy; plus headroom. workerd's limit, not this process's, runs out first: about (limit - 40) / 2
// sockets fit. Sockets held in the relay's workerd take none.
if (SUBSCRIBERS === "tcp") {
  const limit = raiseFileLimit(SOCKETS * 4 + 4_096);
  console.log(`open files: ${limit.soft} (hard ${limit.hard})${limit.raised ? ", raised with prlimit" : ""}${limit.why ? `; ${limit.why}` : ""}`);
  const fits = Math.floor((limit.soft - 40) / 2);
  if (SOCKETS > fits) console.log(`warning: ${SOCKETS} sockets need about ${2 * SOCKETS + 40} open files in workerd; about ${fits} fit under ${limit.soft}`);
}

/** The relay, started on its own storage; `stop()` ends it and removes what it made. */
async function relayFor(runner: "miniflare" | "wrangler"): Promise<{ url: string; stop(): Promise<void> }> {
  if (runner === "miniflare") return SUBSCRIBERS === "in-process" ? relayWithHolder() : startRelay({ vars: VARS });
  const persistTo = mkdtempSync(join(tmpdir(), "weft-many-sockets-"));
  const relay = await startRelayProcess({ persistTo, runner: "wrangler", vars: VARS, env: { X_LOCAL_OBSERVABILITY: "false" } });
  return { url: relay.url, stop: async () => (await relay.stop(), rmSync(persistTo, { recursive: true, force: true })) };
}

/** The relay as startRelay runs it (in memory), with bench/socket-holder/worker.ts in front of it in the same workerd. */
async function relayWithHolder(): Promise<{ url: string; stop(): Promise<void> }> {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const settings = { modules: true, compatibilityDate: RELAY_COMPATIBILITY_DATE, compatibilityFlags: [...RELAY_COMPATIBILITY_FLAGS] };
  const holder = fileURLToPath(new URL("../socket-holder/worker.ts", import.meta.url));
  const miniflare = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      workers: [
        { name: "holder", script: await bundleWorker(holder), serviceBindings: { RELAY: "weft" }, ...settings },
        { name: "weft", script: await bundleWorker(), durableObjects: { GROUPS: { className: "GroupObject", useSQLite: true } }, bindings: VARS, ...settings },
      ],
    }),
  );
  const url = await miniflare.ready;
  return { url: url.origin, stop: () => miniflare.dispose() };
}

/** The group's subscribers, wherever their sockets are held. */
type Subscribers = {
  /** Connects subscribers `from` to `from + count - 1`; resolves once every one is live. */
  connect(from: number, count: number): Promise<void>;
  /** Resolves once `total` content messages have reached the subscribers, counted from the start. */
  received(total: number): Promise<void>;
  close(): void;
};

/** Subscribers on raw WebSockets from this process, over TCP. */
function tcpSubscribers(url: string): Subscribers {
  const sockets: WebSocket[] = [];
  let received = 0;
  let target = Number.POSITIVE_INFINITY;
  let reached: () => void = () => {};
  const onContent = () => {
    if (++received === target) reached();
  };
  return {
    async connect(from, count) {
      const batch = [];
      for (let i = from; i < from + count; i++) batch.push(subscribe(new WebSocket(`${url.replace("http", "ws")}/v1/groups/${GROUP}/ws`), testAgent(1000 + i), GROUP, onContent));
      sockets.push(...(await Promise.all(batch)));
    },
    received: (total) => new Promise((resolve) => ((target = total), (reached = resolve), received >= total && resolve())),
    close: () => sockets.forEach((socket) => socket.close()),
  };
}

/** Subscribers held by bench/socket-holder/worker.ts inside the relay's workerd, driven over one control socket. */
async function heldSubscribers(url: string): Promise<Subscribers> {
  const control = new WebSocket(`${url.replace("http", "ws")}/holder`);
  await new Promise((resolve, reject) => (control.addEventListener("open", resolve), control.addEventListener("error", () => reject(new Error("no control socket to the holder")))));
  let answered: ((message: { op: string; message?: string }) => void) | undefined;
  control.addEventListener("message", (event) => answered?.(JSON.parse(event.data as string)));
  /** Sends an order; resolves at the holder's answer, or fails with what it reports. */
  const order = (message: object) =>
    new Promise<void>((resolve, reject) => {
      answered = (answer) => (answer.op === "failed" ? reject(new Error(answer.message)) : resolve());
      control.send(JSON.stringify(message));
    });
  return {
    connect: (from, count) => order({ op: "connect", group: GROUP, from, count }),
    received: (total) => order({ op: "expect", total }),
    close: () => control.send(JSON.stringify({ op: "close" })),
  };
}

const relay = await relayFor(RUNNER);
console.log(`relay: ${RUNNER === "miniflare" ? "weft/dev (Miniflare, no proxy)" : "wrangler dev (trace collector off)"}; subscribers: ${SUBSCRIBERS === "tcp" ? "raw WebSockets from this process" : "held in the relay's workerd (bench/socket-holder/worker.ts)"}`);
let subscribers: Subscribers | undefined;
try {
  subscribers = SUBSCRIBERS === "tcp" ? tcpSubscribers(relay.url) : await heldSubscribers(relay.url);
  let target = SOCKETS;
  const started = performance.now();
  for (let first = 0; first < SOCKETS; first += 250) {
    await subscribers.connect(first, Math.min(250, SOCKETS - first));
    const connected = Math.min(SOCKETS, first + 250);
    if (connected % 2_000 === 0) {
      const fds = descriptorsByProcess().map((p) => `${p.command} ${p.fds}/${p.limit}`).join(", ");
      console.log(`${connected} connected after ${((performance.now() - started) / 1000).toFixed(1)} s; open files: ${fds}`);
    }
  }
  console.log(`${SOCKETS} sockets connected and subscribed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const writer = await writerSocket(relay.url, testAgent(7));

  /** One write: its ack's delay, and how long until the last subscriber had it. */
  const measure = async (label: string, data: string) => {
    const t0 = performance.now();
    const everyone = subscribers!.received(target).then(() => performance.now() - t0);
    const ackMs = await writer.write(data);
    const allMs = await everyone;
    console.log(`${label}: one write to ${SOCKETS} subscribers: ack after ${ackMs.toFixed(1)} ms, last subscriber after ${allMs.toFixed(1)} ms`);
  };

  const awake = (await groupSqlStats(relay.url, GROUP)).instance;
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS)); // idle: the object hibernates
  await measure("hibernated", "hello-everyone");
  const evicted = (await groupSqlStats(relay.url, GROUP)).instance !== awake;
  console.log(evicted ? `(the object was evicted while idle and woke for that write)` : `the object was NOT evicted in ${IDLE_MS / 1000} s idle: the write above found it awake`);
  target += SOCKETS;
  await measure("awake", "hello-again");
  writer.ws.close();
} finally {
  subscribers?.close();
  await relay.stop();
}
