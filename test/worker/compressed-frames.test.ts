// Large answers travel compressed to peers whose hello says they can inflate them, and as they are to
// every other peer; the relay remembers who can across hibernation (the record in the socket attachment).
import { evictDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import {
  ANSWER_WINDOW_BYTES,
  COMPRESS_MIN_BYTES,
  MAX_FRAME_BYTES,
  RELAY_FRAME_TARGET_BYTES,
  decodeServerFrame,
  inflateFrame,
  isCompressedFrame,
  type DocId,
  type ServerMessage,
  type Transaction,
} from "../../protocol/index.ts";
import { helloFrame, testAgent, testHeader } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, emptyKnown, groupStub, uniqueGroup, wsUrl } from "./socket.ts";

afterEach(closeAll);

const writer = testAgent(81);
const reader = testAgent(82);

/** Text transactions like a typing session's: similar, so they compress well. */
const typing = (count: number, from = 0): Transaction[] =>
  Array.from({ length: count }, (_, i) => ({ at: 1_700_000_000_000 + from + i, data: `{"op":"insert","pos":${from + i},"text":"k","client":"3918227512"}` }));

/** A raw socket that keeps every frame as it arrived and decodes them in order, inflating compressed ones. */
async function rawPeer(group: string, inflate: boolean) {
  const res = await exports.default.fetch(wsUrl(group), { headers: { Upgrade: "websocket" } });
  const ws = res.webSocket!;
  ws.accept();
  ws.binaryType = "arraybuffer";
  const frames: { compressed: boolean; wireBytes: number; messages: ServerMessage[] }[] = [];
  let decoding = Promise.resolve();
  ws.addEventListener("message", (event) => {
    const data = event.data as string | ArrayBuffer;
    decoding = decoding.then(async () => {
      const bytes = typeof data === "string" ? undefined : new Uint8Array(data);
      const compressed = bytes !== undefined && isCompressedFrame(bytes);
      let frame: string | Uint8Array = bytes ?? data as string;
      if (compressed) {
        const inflated = await inflateFrame(bytes, MAX_FRAME_BYTES);
        if ("error" in inflated) throw new Error(inflated.error);
        frame = inflated.frame;
      }
      const decoded = decodeServerFrame(frame);
      if (!decoded.ok) throw new Error(decoded.reason);
      frames.push({ compressed, wireBytes: typeof data === "string" ? data.length : data.byteLength, messages: decoded.message });
    });
  });
  const closed = new Promise<void>((resolve) => ws.addEventListener("close", () => resolve()));
  /** Waits until a message matching `match` has been decoded in a frame from the `from`th on. */
  const until = async (match: (message: ServerMessage) => boolean, from = 0) => {
    for (let i = 0; i < 1_500; i++) {
      await decoding;
      if (frames.slice(from).some((frame) => frame.messages.some(match))) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error("the expected message did not arrive");
  };
  await until((message) => message.type === "challenge");
  const challenge = frames.flatMap((frame) => frame.messages).find((message) => message.type === "challenge")!;
  const nonce = (challenge as Extract<ServerMessage, { type: "challenge" }>).nonce;
  ws.send(JSON.stringify({ ...helloFrame(reader, group, nonce), ...(inflate ? { inflate: ["deflate-raw"] } : {}) }));
  await until((message) => message.type === "welcome");
  return {
    frames,
    until,
    send(message: object) {
      ws.send(JSON.stringify(message));
    },
    load(doc: DocId) {
      const from = frames.length;
      ws.send(JSON.stringify({ type: "load", doc, known: emptyKnown }));
      return until((message) => message.type === "known" && message.doc === doc && message.reason === "load", from);
    },
    /** Every transaction received for `doc`, in order. */
    transactionsOf(doc: DocId): Transaction[] {
      return frames.flatMap((frame) => frame.messages).flatMap((message) => (message.type === "content" && message.doc === doc ? Object.values(message.sessions).flatMap((chunk) => chunk!.transactions) : []));
    },
    async close() {
      ws.close(1000, "done");
      await closed;
    },
  };
}

/** A group holding one document of `count` typing transactions (or those given), written by `writer`, `perFrame` a frame. */
async function bigDocument(label: string, count: number, written: Transaction[] = typing(count), perFrame = 1_000) {
  const group = uniqueGroup(label);
  const { id, header } = testHeader(writer, group);
  const log = new SessionWriter(writer, id);
  const w = await connect(group, writer);
  for (let from = 0; from < count; from += perFrame) {
    w.send(log.content(written.slice(from, from + perFrame), from === 0 ? header : undefined));
    await w.next("known", (known) => known.reason === "ack");
  }
  return { group, id, log, w, written };
}

describe("compressed frames", () => {
  it("a peer that offers deflate-raw gets a large load compressed, inflating to exactly the transactions; one that does not gets plain frames", async () => {
    const { group, id, w, written } = await bigDocument("compress-load", 3_000);
    const inflating = await rawPeer(group, true);
    const plain = await rawPeer(group, false);
    await Promise.all([inflating.load(id), plain.load(id)]);

    expect(inflating.transactionsOf(id)).toEqual(written);
    expect(plain.transactionsOf(id)).toEqual(written);
    const compressed = inflating.frames.filter((frame) => frame.compressed);
    expect(compressed.length).toBeGreaterThan(0);
    expect(plain.frames.some((frame) => frame.compressed)).toBe(false);
    // What the user notices: the same load costs a fraction of the bytes.
    const wire = (frames: { wireBytes: number }[]) => frames.reduce((sum, frame) => sum + frame.wireBytes, 0);
    expect(wire(inflating.frames)).toBeLessThan(wire(plain.frames) / 3);
    // Small frames (the challenge, the welcome) still go as they are.
    expect(inflating.frames[0]!.compressed).toBe(false);

    await Promise.all([w.close(), inflating.close(), plain.close()]);
  });

  it("a peer that inflates is sent a load of three windows of text whole without echoing a mark: its window counts the bytes that go, compressed", async () => {
    // About 1 KB a transaction: 3 MiB of text, under a tenth of it compressed.
    const padded = typing(3_000).map((transaction) => ({ ...transaction, data: `${transaction.data}${"x".repeat(1_000)}` }));
    const { group, id, w } = await bigDocument("compress-window", 3_000, padded, 500);
    const inflating = await rawPeer(group, true); // it never echoes a mark
    await inflating.load(id);
    expect(inflating.transactionsOf(id)).toEqual(padded);
    const wire = inflating.frames.reduce((sum, frame) => sum + frame.wireBytes, 0);
    expect(wire).toBeLessThan(ANSWER_WINDOW_BYTES);
    await Promise.all([w.close(), inflating.close()]);
  });

  it("a peer that inflates but never echoes is still sent about one window of what does not compress (random bytes), and nothing past it", async () => {
    const random = Array.from({ length: 3_000 }, (_, i): Transaction => ({ at: 1_700_000_000_000 + i, data: crypto.getRandomValues(new Uint8Array(1_000)) }));
    const { group, id, w } = await bigDocument("compress-random", 3_000, random, 500);
    const inflating = await rawPeer(group, true);
    inflating.send({ type: "load", doc: id, known: emptyKnown });
    await inflating.until((message) => message.type === "mark"); // the mark behind one window, where the answer pauses
    await new Promise((resolve) => setTimeout(resolve, 300));
    await inflating.until(() => true);
    const wire = inflating.frames.reduce((sum, frame) => sum + frame.wireBytes, 0);
    expect(wire).toBeGreaterThan(ANSWER_WINDOW_BYTES / 2);
    expect(wire).toBeLessThan(ANSWER_WINDOW_BYTES + 2 * RELAY_FRAME_TARGET_BYTES);
    expect(inflating.frames.some((frame) => frame.messages.some((message) => message.type === "known" && message.reason === "load"))).toBe(false);
    await Promise.all([w.close(), inflating.close()]);
  });

  it("a small live frame fanned out to a peer that inflates stays plain; the capability outlives hibernation", async () => {
    const { group, id, log, w, written } = await bigDocument("compress-hib", 2_000);
    const inflating = await rawPeer(group, true);
    await inflating.load(id);
    expect(inflating.frames.some((frame) => frame.compressed)).toBe(true);

    // Live: one keystroke fans out as a plain frame.
    const keystroke = typing(1, 2_000);
    w.send(log.content(keystroke));
    await w.next("known", (known) => known.reason === "ack");
    await inflating.until((message) => message.type === "content" && Object.values(message.sessions).some((chunk) => chunk!.after === 2_000));
    const live = inflating.frames.at(-1)!;
    expect(live.compressed).toBe(false);
    expect(live.wireBytes).toBeLessThan(COMPRESS_MIN_BYTES);

    // The object is evicted from memory, its sockets kept: it rebuilds its peers from their attachments.
    await evictDurableObject(groupStub(group));
    await expect(evictDurableObject(groupStub(group))).rejects.toThrow(/not currently running/);
    const seen = inflating.frames.length;
    await inflating.load(id);
    const reloaded = inflating.frames.slice(seen);
    expect(reloaded.some((frame) => frame.compressed)).toBe(true);
    expect(reloaded.flatMap((frame) => frame.messages).flatMap((message) => (message.type === "content" ? Object.values(message.sessions).flatMap((chunk) => chunk!.transactions) : []))).toEqual([
      ...written,
      ...keystroke,
    ]);
    await Promise.all([w.close(), inflating.close()]);
  });
});
