// Measures how data of bytes travels: bytes on the wire and encode+decode CPU of a `content` message
// carrying bytes in a binary frame (what Weft sends), against the same bytes as base64 text in a JSON
// frame (what an app did before), for Yjs-sized updates and for large ones. Prints a Markdown table.
//   npx node scripts/binary-wire.ts
// In-process and single-threaded: figures vary with the machine's load; compare rows of one run.
import {
  GENESIS_HASH,
  decodeClientMessage,
  encodeMessage,
  fromBase64Url,
  signCheckpoint,
  chainHash,
  toBase64Url,
  type ClientMessage,
  type DocId,
  type SessionId,
  type Transaction,
} from "../protocol/index.ts";
import { createIdentity, newSession } from "../client/identity.ts";

const identity = createIdentity();
const session: SessionId = newSession(identity);
const doc = `doc_${"A".repeat(43)}` as DocId;

const randomBytes = (length: number): Uint8Array => {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536) crypto.getRandomValues(bytes.subarray(offset, offset + 65_536));
  return bytes;
};

const content = (transactions: Transaction[]): ClientMessage => ({
  type: "content",
  doc,
  sessions: { [session]: { after: 0, transactions, signature: signCheckpoint(identity.secretKey, doc, session, transactions.length, chainHash(GENESIS_HASH, transactions)) } },
});

const frameSize = (frame: string | Uint8Array): number => (typeof frame === "string" ? new TextEncoder().encode(frame).length : frame.byteLength);

/** Median microseconds per call of `run`, over `rounds` timed batches of `reps` calls. */
function time(run: () => void, reps: number, rounds = 7): number {
  for (let i = 0; i < reps; i++) run(); // warm up
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < reps; i++) run();
    samples.push(((performance.now() - start) * 1_000) / reps);
  }
  return samples.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
}

type Row = { label: string; payload: number; binaryBytes: number; base64Bytes: number; binaryUs: number; base64Us: number; nodeBase64Us: number };

function measure(label: string, sizes: number[], reps: number): Row {
  const updates = sizes.map(randomBytes);
  const at = 1_763_780_000_000;
  const asBytes = content(updates.map((data, i) => ({ at: at + i, data })));
  const binary = () => {
    const frame = encodeMessage(asBytes);
    const decoded = decodeClientMessage(frame);
    if (!decoded.ok) throw new Error(decoded.reason);
  };
  // Base64 as a browser app would do it with Weft's own pure-JS codec, and with Node's native Buffer.
  const base64 = (encode: (bytes: Uint8Array) => string, decode: (text: string) => Uint8Array) => () => {
    const frame = encodeMessage(content(updates.map((bytes, i) => ({ at: at + i, data: encode(bytes) }))));
    const decoded = decodeClientMessage(frame);
    if (!decoded.ok || decoded.message.type !== "content") throw new Error("decode failed");
    for (const transaction of decoded.message.sessions[session]!.transactions) decode(transaction.data as string);
  };
  const pureJs = base64(toBase64Url, (text) => fromBase64Url(text)!);
  const native = base64(
    (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url"),
    (text) => new Uint8Array(Buffer.from(text, "base64url")),
  );
  const textFrame = encodeMessage(content(updates.map((bytes, i) => ({ at: at + i, data: toBase64Url(bytes) }))));
  return {
    label,
    payload: sizes.reduce((sum, size) => sum + size, 0),
    binaryBytes: frameSize(encodeMessage(asBytes)),
    base64Bytes: frameSize(textFrame),
    binaryUs: time(binary, reps),
    base64Us: time(pureJs, reps),
    nodeBase64Us: time(native, reps),
  };
}

const rows = [
  measure("1 update of 20 B", [20], 2_000),
  measure("1 update of 200 B", [200], 2_000),
  measure("100 updates of 20–200 B", Array.from({ length: 100 }, (_, i) => 20 + ((i * 37) % 181)), 200),
  measure("1 update of 100 KB", [100_000], 50),
];

const fixed = (value: number) => (value < 10 ? value.toFixed(1) : Math.round(value).toString());
console.log("| message | payload | binary frame | base64 in JSON | binary encode+decode | base64 (pure JS) | base64 (Node Buffer) |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  const saved = Math.round((1 - row.binaryBytes / row.base64Bytes) * 100);
  console.log(
    `| ${row.label} | ${row.payload} B | ${row.binaryBytes} B | ${row.base64Bytes} B (binary ${saved}% smaller) | ${fixed(row.binaryUs)} µs | ${fixed(row.base64Us)} µs | ${fixed(row.nodeBase64Us)} µs |`,
  );
}
