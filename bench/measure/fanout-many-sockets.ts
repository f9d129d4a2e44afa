// Measures one write fanned out to many connected sockets of one group (issue 10, items 5 and 9), after the
// object has had time to hibernate, then a second write while it is awake. Real relay in workerd, raw
// WebSockets from this one Node process: through weft/dev (Miniflare, in memory, no dev proxy) by default,
// or under `wrangler dev` (its proxy in front, trace collector off) with `--relay wrangler`.
// Usage: npx node bench/measure/fanout-many-sockets.ts [sockets=10000] [--relay miniflare|wrangler]
//
// Each socket costs a file descriptor in this process and one in the relay's workerd (two more in wrangler's
// proxy), so 10,000 sockets do not fit the usual 20,000 hard limit: as root, the script first raises its own
// limit (prlimit), which the relay's processes inherit. Not root: it says so and goes on with the limit it has.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeServerFrame, encodeMessage } from "../../protocol/index.ts";
import { startRelay } from "../../dev/index.ts";
import { startRelay as startRelayProcess } from "../../test/support/relay-process.ts";
import { helloFrame, signedChunk, testAgent, testHeader, transactions, type TestAgent } from "../../test/support/identity.ts";
import { descriptorsByProcess, raiseFileLimit } from "./file-limit.ts";

const args = process.argv.slice(2);
const relayArg = args.indexOf("--relay");
const RUNNER = relayArg >= 0 ? args.splice(relayArg, 2)[1] : "miniflare";
if (RUNNER !== "miniflare" && RUNNER !== "wrangler") throw new Error(`--relay miniflare|wrangler, not ${RUNNER}`);
const SOCKETS = Number(args[0] ?? 10_000);
const GROUP = "measure-fanout";
/** Locally an idle object is evicted from memory after about 10 s while its hibernatable sockets stay open. */
const IDLE_MS = 15_000;

/** Opens a socket, says hello as `who`, opens the group; calls `onContent` for each content frame. */
async function subscriber(url: string, who: TestAgent, onContent: () => void): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${GROUP}/ws`);
  let phase: "hello" | "welcome" | "opened" | "live" = "hello";
  return new Promise((resolve, reject) => {
    ws.addEventListener("error", (event) => reject(new Error(`socket error in phase ${phase}: ${(event as ErrorEvent).message ?? ""}`)));
    ws.addEventListener("close", (event) => reject(new Error(`socket closed in phase ${phase}: ${event.code} ${event.reason}`)));
    ws.addEventListener("message", (event) => {
      const decoded = decodeServerFrame(event.data as string);
      if (!decoded.ok) return;
      for (const message of decoded.message) {
        if (message.type === "challenge" && phase === "hello") {
          phase = "welcome";
          ws.send(encodeMessage(helloFrame(who, GROUP, message.nonce) as never));
        } else if (message.type === "welcome") {
          phase = "opened";
          ws.send(encodeMessage({ type: "open", known: {} }));
        } else if (message.type === "opened") {
          phase = "live";
          resolve(ws);
        } else if (message.type === "content" && phase === "live") onContent();
        else if (message.type === "error") reject(new Error(`${message.code}: ${message.message}`));
      }
    });
  });
}

/** A writer's socket, ready once welcomed; `write` sends one transaction and times its ack and fan-out. */
async function writerSocket(url: string, who: TestAgent) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${GROUP}/ws`);
  const doc = testHeader(who, GROUP, "fanned-out");
  let acked: (() => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("error", () => reject(new Error("writer socket error")));
    ws.addEventListener("message", (event) => {
      const decoded = decodeServerFrame(event.data as string);
      if (!decoded.ok) return;
      for (const message of decoded.message) {
        if (message.type === "challenge") ws.send(encodeMessage(helloFrame(who, GROUP, message.nonce) as never));
        if (message.type === "welcome") resolve();
        if (message.type === "known" && message.reason === "ack") acked?.();
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

/** Per socket: one descriptor here, one in the relay's workerd, two in wrangler's proxy; plus headroom. */
const limit = raiseFileLimit(SOCKETS * 4 + 4_096);
console.log(`open files: ${limit.soft} (hard ${limit.hard})${limit.raised ? ", raised with prlimit" : ""}${limit.why ? `; ${limit.why}` : ""}`);
// workerd keeps two descriptors per accepted socket (the socket and a duplicate of it), so its limit, not this
// process's, is what runs out first: about (limit - 40) / 2 sockets fit (wrangler's proxy holds more still).
const fits = Math.floor((limit.soft - 40) / 2);
if (SOCKETS > fits) console.log(`warning: ${SOCKETS} sockets need about ${2 * SOCKETS + 40} open files in workerd; about ${fits} fit under ${limit.soft}`);

/** The relay, started on its own storage; `stop()` ends it and removes what it made. */
async function relayFor(runner: "miniflare" | "wrangler"): Promise<{ url: string; stop(): Promise<void> }> {
  if (runner === "miniflare") return startRelay();
  const persistTo = mkdtempSync(join(tmpdir(), "weft-many-sockets-"));
  const relay = await startRelayProcess({ persistTo, runner: "wrangler", env: { X_LOCAL_OBSERVABILITY: "false" } });
  return { url: relay.url, stop: async () => (await relay.stop(), rmSync(persistTo, { recursive: true, force: true })) };
}

const relay = await relayFor(RUNNER);
console.log(`relay: ${RUNNER === "miniflare" ? "weft/dev (Miniflare, no proxy)" : "wrangler dev (trace collector off)"}`);
const sockets: WebSocket[] = [];
try {
  let received = 0;
  let target = SOCKETS;
  let allReceived: () => void = () => {};
  const onContent = () => {
    if (++received === target) allReceived();
  };
  const started = performance.now();
  for (let first = 0; first < SOCKETS; first += 250) {
    const batch = [];
    for (let i = first; i < Math.min(SOCKETS, first + 250); i++) batch.push(subscriber(relay.url, testAgent(1000 + i), onContent));
    sockets.push(...(await Promise.all(batch)));
    if (sockets.length % 2_000 === 0) {
      const fds = descriptorsByProcess().map((p) => `${p.command} ${p.fds}/${p.limit}`).join(", ");
      console.log(`${sockets.length} connected after ${((performance.now() - started) / 1000).toFixed(1)} s; open files: ${fds}`);
    }
  }
  console.log(`${SOCKETS} sockets connected and subscribed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const writer = await writerSocket(relay.url, testAgent(7));

  /** One write: its ack's delay, and how long until the last subscriber had it. */
  const measure = async (label: string, data: string) => {
    const t0 = performance.now();
    const everyone = new Promise<number>((resolve) => (allReceived = () => resolve(performance.now() - t0)));
    const ackMs = await writer.write(data);
    const allMs = await everyone;
    console.log(`${label}: one write to ${SOCKETS} subscribers: ack after ${ackMs.toFixed(1)} ms, last subscriber after ${allMs.toFixed(1)} ms`);
  };

  await new Promise((resolve) => setTimeout(resolve, IDLE_MS)); // idle: the object hibernates
  await measure("hibernated", "hello-everyone");
  target += SOCKETS;
  await measure("awake", "hello-again");
  writer.ws.close();
} finally {
  for (const socket of sockets) socket.close();
  await relay.stop();
}
