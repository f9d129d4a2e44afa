// The relay's own CPU per incoming frame, without workerd, SQLite or sockets: the real core and driver
// (worker/core) over a MemoryStore in this Node process, one writer sending `content` frames of 10
// transactions (as the SDK batches 500 tx/s) to N subscribers. What is left is decoding, validation,
// hashing, the signature check, the digest, packing and encoding: the part of a frame's cost that is
// Weft's code. Profile it with `npx node --cpu-prof bench/measure/relay-frames.ts`.
//   npx node bench/measure/relay-frames.ts [frames=2000] [subscribers=10] [perFrame=10]
import { cpuUsage } from "node:process";
import { GENESIS_HASH, chainHash, encodeMessage, signCheckpoint, type Transaction } from "../../protocol/index.ts";
import { FrameBudgets } from "../../worker/core/frame-budget.ts";
import { MemoryStore } from "../../worker/core/memory-store.ts";
import { initialState } from "../../worker/core/relay-core.ts";
import { Relay, type Transport } from "../../worker/core/relay.ts";
import { helloFrame, testAgent, testHeader } from "../../test/support/identity.ts";
import { NodeAlarm } from "../../test/support/node-alarm.ts";

const [frames = 2_000, subscribers = 10, perFrame = 10] = process.argv.slice(2).map(Number);
const GROUP = "bench";
const NOW = Date.now();
const writer = testAgent(1);
const doc = testHeader(writer, GROUP, "relay-frames");

let sent = 0;
let sentBytes = 0;
const transport: Transport = {
  send: (_peer, frame) => {
    sent++;
    sentBytes += frame.length;
  },
  close: () => {},
  savePeer: () => {},
  wakeAt: (at) => alarm.wakeAt(at),
};
const alarm = new NodeAlarm((now) => void relay.dispatch({ type: "alarm", now }));
// Every frame here comes as fast as the core takes it, far past a socket's frame budget (a flood to the
// relay): unbounded, as the frames measured are what a paced writer sends.
const relay = new Relay(initialState(GROUP, [], undefined, undefined, new FrameBudgets({ perSecond: 0, burst: Infinity })), new MemoryStore(), transport);
const frame = (peer: string, message: unknown) => relay.dispatch({ type: "frame", peer, frame: encodeMessage(message as never), now: NOW });

async function connect(peer: string, seed: number): Promise<void> {
  await relay.dispatch({ type: "opened", peer, nonce: `nonce-${peer}`, now: NOW });
  await frame(peer, helloFrame(testAgent(seed), GROUP, `nonce-${peer}`));
}

await connect("w", 1);
let count = 0;
let lastHash = GENESIS_HASH;
const payload = "x".repeat(90);
/** The next content frame: `perFrame` transactions, chained and signed as a writer does. */
function next(header = false) {
  const txs: Transaction[] = Array.from({ length: perFrame }, (_, i) => ({ at: NOW + count + i, data: `${count + i} ${payload}` }));
  lastHash = chainHash(lastHash, txs);
  const after = count;
  count += txs.length;
  const signature = signCheckpoint(writer.secretKey, doc.id, writer.session, count, lastHash);
  return { type: "content", doc: doc.id, ...(header ? { header: doc.header } : {}), sessions: { [writer.session]: { after, transactions: txs, signature } } };
}
await frame("w", next(true));
for (let i = 0; i < subscribers; i++) {
  await connect(`s${i}`, 100 + i);
  await frame(`s${i}`, { type: "load", doc: doc.id, known: { header: false, sessions: {} } });
}

// Frames are built (and signed) before timing: only the relay's work is measured.
const built = Array.from({ length: frames }, () => encodeMessage(next() as never));
sent = 0;
sentBytes = 0;
const before = cpuUsage();
const t0 = performance.now();
for (const text of built) await relay.dispatch({ type: "frame", peer: "w", frame: text, now: NOW });
const wallMs = performance.now() - t0;
const cpu = cpuUsage(before);
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(
  `${frames} frames of ${perFrame} tx to ${subscribers} subscribers: ${((1000 * cpuMs) / frames).toFixed(0)} µs CPU per frame ` +
    `(${((1000 * wallMs) / frames).toFixed(0)} µs wall), ${sent} frames sent (${Math.round(sentBytes / sent)} chars each)`,
);
