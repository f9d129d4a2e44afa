// The write path alone: the relay in workerd through Miniflare (as weft/dev's startRelay, no dev proxy), one
// writer sending `content` frames of one transaction each at a steady rate over a raw WebSocket, to N
// subscribers on raw WebSockets in this process. Every frame is built and signed before timing, so the
// only work measured in workerd is the relay's: its CPU per frame (utime + stime of the workerd processes),
// SQL statements and rows per frame (WEFT_SQL_STATS), and the delay from sending a frame to each
// subscriber holding it (p50 / p99). `--relay-prof` writes a V8 profile of the relay's isolate over the
// timed window to write-path-relay.cpuprofile.
//   npx node bench/measure/write-path.ts [frames=2000] [subscribers=10] [rate=100] [--relay-prof]
// A rate past FRAMES_PER_SECOND_PER_PEER (200) gets the writer closed with too_many_frames once its burst is spent.
import { GENESIS_HASH, chainHash, decodeServerFrame, encodeMessage, signCheckpoint, type Transaction } from "../../protocol/index.ts";
import { childrenCpu } from "../proc-stats.ts";
import { startRelayProfile } from "../relay-inspector.ts";
import { measuredRelay } from "./miniflare-relay.ts";
import { helloFrame, testAgent, testHeader, type TestAgent } from "../../test/support/identity.ts";
import { groupSqlStats } from "../../test/support/sql-stats.ts";
import { sleep, wallClock } from "../workload.ts";

const args = process.argv.slice(2);
const relayProf = args.includes("--relay-prof");
const [frames = 2_000, subscribers = 10, rate = 100] = args.filter((arg) => !arg.startsWith("--")).map(Number);
const GROUP = "write-path";
const INSPECTOR_PORT = 9300 + Math.floor(Math.random() * 500);

/** CPU of the workerd processes this one started (utime + stime), in ms. */
const workerdCpuMs = childrenCpu("workerd");

type Socket = { ws: WebSocket; next(type: string): Promise<Record<string, unknown>> };

/** A socket through its handshake as `who`; `next(type)` resolves with the next message of that type. */
async function connect(url: string, who: TestAgent, onContent?: (message: Record<string, unknown>) => void): Promise<Socket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${GROUP}/ws`);
  const waiting: { type: string; resolve: (message: Record<string, unknown>) => void }[] = [];
  ws.addEventListener("message", (event) => {
    const decoded = decodeServerFrame(event.data as string);
    if (!decoded.ok) throw new Error(`undecodable frame: ${decoded.reason}`);
    for (const message of decoded.message as unknown as Record<string, unknown>[]) {
      if (message.type === "challenge") ws.send(encodeMessage(helloFrame(who, GROUP, message.nonce as string) as never));
      if (message.type === "error") console.error("relay error:", message);
      if (message.type === "content") onContent?.(message);
      const at = waiting.findIndex((entry) => entry.type === message.type);
      if (at >= 0) waiting.splice(at, 1)[0]!.resolve(message);
    }
  });
  const socket: Socket = { ws, next: (type) => new Promise((resolve) => waiting.push({ type, resolve })) };
  await socket.next("welcome");
  return socket;
}

const miniflare = await measuredRelay({ bindings: { WEFT_SQL_STATS: "true" }, ...(relayProf ? { inspectorPort: INSPECTOR_PORT } : {}) });
const url = (await miniflare.ready).origin;
try {
  const who = testAgent(1);
  const doc = testHeader(who, GROUP, "write-path");
  const writer = await connect(url, who);
  // The frames, signed ahead: one transaction each, whose data carries its index.
  let lastHash = GENESIS_HASH;
  const built: string[] = [];
  const payload = "x".repeat(90);
  for (let i = 0; i < frames + 1; i++) {
    const txs: Transaction[] = [{ at: 1_700_000_000_000 + i, data: `${i} ${payload}` }];
    lastHash = chainHash(lastHash, txs);
    const signature = signCheckpoint(who.secretKey, doc.id, who.session, i + 1, lastHash);
    built.push(encodeMessage({ type: "content", doc: doc.id, ...(i === 0 ? { header: doc.header } : {}), sessions: { [who.session]: { after: i, transactions: txs, signature } } } as never));
  }
  writer.ws.send(built[0]!);
  await writer.next("known");

  const sentAt: number[] = [];
  const delays: number[] = [];
  let received = 0;
  for (let s = 0; s < subscribers; s++) {
    const socket = await connect(url, testAgent(100 + s), (message) => {
      const sessions = message.sessions as Record<string, { transactions?: Transaction[] }>;
      for (const chunk of Object.values(sessions)) {
        for (const { data } of chunk.transactions ?? []) {
          const index = Number(String(data).split(" ")[0]);
          if (sentAt[index] !== undefined) delays.push(wallClock() - sentAt[index]!);
          received++;
        }
      }
    });
    socket.ws.send(encodeMessage({ type: "load", doc: doc.id, known: { header: false, sessions: {} } } as never));
    await socket.next("known");
  }
  received = 0;
  await sleep(300);
  const stats = () => groupSqlStats(url, GROUP);
  const stopProfile = relayProf ? await startRelayProfile(INSPECTOR_PORT, "write-path-relay.cpuprofile") : undefined;
  const sqlBefore = await stats();
  const cpuBefore = workerdCpuMs();
  let acks = 0;
  writer.ws.addEventListener("message", () => acks++);
  const started = wallClock();
  for (let i = 1; i <= frames; i++) {
    const due = started + ((i - 1) * 1000) / rate;
    const wait = due - wallClock();
    if (wait > 1) await sleep(wait);
    sentAt[i] = wallClock();
    writer.ws.send(built[i]!);
  }
  const deadline = wallClock() + 20_000;
  while ((acks < frames || received < frames * subscribers) && wallClock() < deadline) await sleep(5);
  const elapsed = wallClock() - started;
  const cpu = workerdCpuMs() - cpuBefore;
  await stopProfile?.();
  const sql = await stats();
  delays.sort((a, b) => a - b);
  const pct = (p: number) => delays.length === 0 ? "-" : delays[Math.min(delays.length - 1, Math.floor((p / 100) * delays.length))]!.toFixed(1);
  const per = (value: number) => (value / frames).toFixed(2);
  console.log(`${frames} frames of 1 tx at ${rate}/s to ${subscribers} subscribers: ${acks} acks, ${received}/${frames * subscribers} delivered in ${elapsed.toFixed(0)} ms`);
  console.log(`workerd CPU: ${cpu.toFixed(0)} ms, ${(cpu / frames).toFixed(3)} ms per frame, ${((100 * cpu) / elapsed).toFixed(0)}% of a core`);
  console.log(`per frame: ${per(sql.statements - sqlBefore.statements)} SQL statements, ${per(sql.rowsRead - sqlBefore.rowsRead)} rows read, ${per(sql.rowsWritten - sqlBefore.rowsWritten)} rows written`);
  console.log(`send -> subscriber: p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${delays[delays.length - 1]?.toFixed(1)} ms`);
} finally {
  await miniflare.dispose();
}
