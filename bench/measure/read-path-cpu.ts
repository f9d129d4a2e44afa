// The JavaScript of a cold load, without workerd, SQLite or sockets: 10,000 transactions of 100 bytes
// stored in chunk rows as SqliteStore stores them, served by the relay's delta stream (decode the rows,
// pack, encode, batch into frames) and taken in by the SDK (decode the frames, apply them to the
// document). Reports the CPU of each side per load; profile with `npx node --cpu-prof`. With `--compress`,
// frames of COMPRESS_MIN_BYTES and more are compressed as the relay compresses them for an SDK that offers
// it (node:zlib, COMPRESSION_LEVEL), and the SDK inflates them, as in a real load.
//   npx node bench/measure/read-path-cpu.ts [loads=30] [transactions=10000] [bytes=100] [--compress]
import { deflateRawSync } from "node:zlib";
import {
  COMPRESSION_LEVEL,
  COMPRESS_MIN_BYTES,
  LOAD_SLICE_ROWS,
  MAX_FRAME_BYTES,
  RELAY_FRAME_TARGET_BYTES,
  compressFrame,
  frameBytes,
  inflateFrameNow,
  isCompressedFrame,
  decodeServerFrame,
  encodeForBatch,
  packBatches,
  encodedLength,
  type DocId,
  type EncodedMessage,
  type KnownState,
  type ServerMessage,
  type SessionId,
  type WireFrame,
} from "../../protocol/index.ts";
import { sendMissing } from "../../worker/core/delta-stream.ts";
import type { GroupStore, TransactionRun } from "../../worker/core/store.ts";
import { encodeItem, packChunks, readChunk } from "../../worker/transaction-chunks.ts";
import { newDocState } from "../../client/core/doc-state.ts";
import { applyContent } from "../../client/core/received.ts";
import { payload } from "../workload.ts";
import { median } from "../stats.ts";
import { testAgent, testHeader } from "../../test/support/identity.ts";

const args = process.argv.slice(2);
const compress = args.includes("--compress");
const [loads = 30, transactions = 10_000, bytes = 100] = args.filter((arg) => !arg.startsWith("--")).map(Number);
const deflateRaw = (plain: Uint8Array): Uint8Array => deflateRawSync(plain, { level: COMPRESSION_LEVEL });
const writer = testAgent(1);
const { id: DOC, header: HEADER } = testHeader(writer, "read-path");
const SESSION = writer.session;
const SIGNED_EVERY = 100;

// Stored as SqliteStore's commit would: items, a signature where a writer's batch ended, packed into chunks.
const t0 = Date.now();
const items = Array.from({ length: transactions }, (_, i) =>
  encodeItem({ at: t0 + Math.floor(i / 50), data: payload(i, bytes, t0) }, (i + 1) % SIGNED_EVERY === 0 ? "S".repeat(86) : undefined),
);
const { closed, open } = packChunks(items, 0);
const chunks = [...closed, open];

const store = {
  knownState: (): KnownState => ({ header: true, sessions: { [SESSION]: transactions } }),
  header: () => HEADER,
  snapshotHead: () => undefined,
  // As SqliteStore reads them: the chunks that hold `from` to `to`, each scanned when the caller gets to it.
  *readRuns(_doc: DocId, _session: SessionId, from: number, to: number, limit = Infinity): Iterable<TransactionRun> {
    for (let i = 0; i < chunks.length && limit > 0; i++) {
      const chunk = chunks[i]!;
      const end = chunks[i + 1]?.first ?? chunk.first + open.count;
      if (end <= from) continue;
      if (chunk.first >= to) return;
      const run = readChunk(chunk.text, chunk.first, Math.max(from, chunk.first), to, limit);
      limit -= run.at.length;
      yield run;
    }
  },
} as unknown as GroupStore;

const cpu = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

/** The relay's side: the load's slices, each message encoded, outboxes delivered in batches as relay.ts does. */
function serve(): { frames: WireFrame[]; firstFrameAt: number } {
  const have: KnownState = { header: false, sessions: {} };
  const frames: WireFrame[] = [];
  let firstFrameAt = 0;
  let box: EncodedMessage[] = [];
  let size = 0;
  const deliver = () => {
    for (const frame of packBatches(box, RELAY_FRAME_TARGET_BYTES)) frames.push(compress && frameBytes(frame) >= COMPRESS_MIN_BYTES ? compressFrame(frame, deflateRaw) : frame);
    if (frames.length > 0 && firstFrameAt === 0) firstFrameAt = cpu();
    box = [];
    size = 0;
  };
  const post = (message: ServerMessage) => {
    const encoded = encodeForBatch(message);
    box.push(encoded);
    size += encodedLength(encoded) + 1;
    if (size >= RELAY_FRAME_TARGET_BYTES / 2) deliver();
  };
  for (;;) {
    const step = sendMissing(store, DOC, have, LOAD_SLICE_ROWS, post);
    if (step.complete) break;
  }
  deliver();
  return { frames, firstFrameAt };
}

/** The SDK's side: each frame decoded and applied to the document. */
function take(frames: readonly WireFrame[]): number {
  const doc = newDocState(DOC, undefined);
  let added = 0;
  for (const received of frames) {
    const inflated = typeof received !== "string" && isCompressedFrame(received) ? inflateFrameNow(received, MAX_FRAME_BYTES) : { frame: received };
    if (!inflated || "error" in inflated) throw new Error("could not inflate");
    const decoded = decodeServerFrame(inflated.frame);
    if (!decoded.ok) throw new Error(decoded.reason);
    for (const message of decoded.message) if (message.type === "content") added += applyContent(doc, "own" as SessionId, message).added.length;
  }
  return added;
}

const relayMs: number[] = [];
const firstFrameMs: number[] = [];
const sdkMs: number[] = [];
let frames: WireFrame[] = [];
for (let i = 0; i < loads + 5; i++) {
  const a = cpu();
  const served = serve();
  frames = served.frames;
  const b = cpu();
  const added = take(frames);
  const c = cpu();
  if (added !== transactions) throw new Error(`took ${added} of ${transactions}`);
  if (i >= 5) {
    relayMs.push(b - a);
    firstFrameMs.push(served.firstFrameAt - a);
    sdkMs.push(c - b);
  }
}
const wire = frames.reduce((sum, frame) => sum + (typeof frame === "string" ? Buffer.byteLength(frame) : frame.byteLength), 0);
console.log(`${transactions} tx of ${bytes} B in ${chunks.length} chunk rows, ${frames.length} frames, ${wire} bytes`);
console.log(`relay serve: ${median(relayMs).toFixed(1)} ms CPU per load (median of ${loads}); its first frame after ${median(firstFrameMs).toFixed(1)} ms`);
console.log(`sdk take:    ${median(sdkMs).toFixed(1)} ms CPU per load`);
