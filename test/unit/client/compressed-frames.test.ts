// The connection's receive path for compressed frames (protocol/binary-frame.ts): it offers to inflate in
// its hello, inflates at once where node:zlib exists and otherwise off the synchronous path, hands messages
// on in the relay's order either way, refuses a corrupt or oversize frame like any bad frame, and drops what
// a closed socket was still inflating. The test plays the relay with the real encoders and node:zlib, the
// relay's compressor.
import { deflateRawSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_FRAME_BYTES, batchFrame, compressFrame, encodeMessage, type DocId, type ServerMessage } from "../../../protocol/index.ts";
import { testAgent, testHeader } from "../../support/identity.ts";
import { GROUP, connect, handshake } from "./connection-harness.ts";
import { FakeSocket } from "./fake-socket.ts";
import { PROTOCOL_ERROR_CLOSE } from "../../../client/connection.ts";

const docs: DocId[] = Array.from({ length: 300 }, (_, i) => testHeader(testAgent(9), GROUP, `nonce-${i}`).id);
const deleted = (doc: DocId): ServerMessage => ({ type: "deleted", doc });
/** A frame of `count` messages, compressed as the relay does it (about 20 KB plain). */
const compressed = (from: number, count: number) => compressFrame(batchFrame(docs.slice(from, from + count).map((doc) => JSON.stringify(deleted(doc)))), (bytes) => deflateRawSync(bytes));
const receive = (socket: FakeSocket, data: string | Uint8Array) => {
  const payload = typeof data === "string" ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  socket.dispatchEvent(Object.assign(new Event("message"), { data: payload }));
};
const deletedDocs = (messages: ServerMessage[]) => messages.flatMap((message) => (message.type === "deleted" ? [message.doc] : []));

beforeEach(() => {
  FakeSocket.instances = [];
});

let close: (() => void) | undefined;
afterEach(() => close?.());

function connected(options: Parameters<typeof connect>[0] = {}) {
  const made = connect(options);
  close = () => made.connection.close();
  made.connection.start();
  const hello = handshake();
  return { ...made, hello, socket: FakeSocket.latest };
}

/** A corrupt frame and a bomb each fail the connection with its reason; nothing behind them is handled. */
async function failsOnBadFrames() {
  const bomb = deflateRawSync(new Uint8Array(20_000_000), { level: 9 });
  const cases: [Uint8Array, string][] = [
    [Uint8Array.of(0, 1, 0xff, 0xfe, 0xfd, 4, 5), "the relay sent a bad frame: a compressed frame is not valid deflate-raw data"],
    [Uint8Array.of(0, 1, ...bomb), `the relay sent a bad frame: a compressed frame inflates past ${MAX_FRAME_BYTES} bytes`],
  ];
  for (const [frame, reason] of cases) {
    const { connection, log, socket } = connected();
    receive(socket, frame);
    receive(socket, encodeMessage(deleted(docs[0]!))); // behind the bad frame: never handled
    await vi.waitFor(() => expect(connection.status).toBe("offline"));
    expect(log.reasons.at(-1)).toBe(reason);
    expect(socket.closedByClient).toEqual({ code: PROTOCOL_ERROR_CLOSE, reason: "protocol error" });
    expect(log.messages).toEqual([]);
    close?.();
  }
}

/** A runtime without node:zlib, like a browser: the connection inflates through a DecompressionStream. */
function withoutNodeZlib() {
  const getBuiltinModule = process.getBuiltinModule.bind(process);
  vi.spyOn(process, "getBuiltinModule").mockImplementation(((id: string) => (id === "node:zlib" ? undefined : getBuiltinModule(id))) as typeof process.getBuiltinModule);
}

describe("compressed frames in Node: inflated at once with node:zlib", () => {
  it("hands on each message as its frame arrives, in the relay's order, and counts wire bytes", () => {
    const { connection, log, socket } = connected();
    const before = connection.bytesReceived;
    const frames = [encodeMessage(deleted(docs[250]!)), compressed(0, 100), encodeMessage(deleted(docs[251]!)), compressed(100, 10)];
    for (const frame of frames) receive(socket, frame);
    expect(deletedDocs(log.messages)).toEqual([docs[250], ...docs.slice(0, 100), docs[251], ...docs.slice(100, 110)]);
    expect(connection.bytesReceived - before).toBe(frames.reduce((sum, frame) => sum + (typeof frame === "string" ? frame.length : frame.byteLength), 0));
  });

  it("fails the connection with a clear reason on a corrupt compressed frame or one that inflates past MAX_FRAME_BYTES", async () => {
    await failsOnBadFrames();
  });
});

describe("compressed frames where only a DecompressionStream inflates (browsers)", () => {
  beforeEach(withoutNodeZlib);
  afterEach(() => vi.restoreAllMocks());

  it("offers deflate-raw in the hello where the runtime can inflate, and not with compression: false", () => {
    expect(connected().hello.inflate).toEqual(["deflate-raw"]);
    close?.();
    expect(connected({ compression: false }).hello.inflate).toBeUndefined();
  });

  it("hands on messages in the relay's order when compressed frames come between plain ones, and counts wire bytes", async () => {
    const { connection, log, socket } = connected();
    const before = connection.bytesReceived;
    const frames: (string | Uint8Array)[] = [
      encodeMessage(deleted(docs[250]!)),
      compressed(0, 100),
      encodeMessage(deleted(docs[251]!)),
      compressed(100, 100),
      compressed(200, 10),
      encodeMessage(deleted(docs[252]!)),
    ];
    for (const frame of frames) receive(socket, frame);
    // A plain frame with nothing inflating ahead of it is handled at once.
    expect(deletedDocs(log.messages)).toEqual([docs[250]]);
    await vi.waitFor(() => expect(log.messages.length).toBe(213));
    expect(deletedDocs(log.messages)).toEqual([docs[250], ...docs.slice(0, 100), docs[251], ...docs.slice(100, 210), docs[252]]);
    expect(connection.bytesReceived - before).toBe(frames.reduce((sum, frame) => sum + (typeof frame === "string" ? frame.length : frame.byteLength), 0));

    // Once the line is empty, plain frames take the synchronous path again.
    receive(socket, encodeMessage(deleted(docs[253]!)));
    expect(deletedDocs(log.messages).at(-1)).toBe(docs[253]);
    expect(connection.status).toBe("syncing");
  });

  it("delivers nothing a socket was still inflating once it is dropped, and the next socket reads on", async () => {
    const { connection, log, socket } = connected({ backoff: { baseMs: 1, capMs: 1, minUptimeMs: 0 } });
    receive(socket, compressed(0, 100));
    receive(socket, encodeMessage(deleted(docs[250]!)));
    connection.drop("test");
    await vi.waitFor(() => expect(FakeSocket.instances).toHaveLength(2));
    const next = FakeSocket.latest;
    handshake(next);
    receive(next, compressed(100, 5));
    await vi.waitFor(() => expect(log.messages.length).toBe(5));
    expect(deletedDocs(log.messages)).toEqual(docs.slice(100, 105));
  });

  it("fails the connection with a clear reason on a corrupt compressed frame or one that inflates past MAX_FRAME_BYTES", async () => {
    await failsOnBadFrames();
  });
});
