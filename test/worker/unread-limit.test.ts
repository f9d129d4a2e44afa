// Every frame the relay sends a peer counts against its window (worker/core/answer-window.ts), live content
// too: workerd cannot tell that a peer does not read (no WebSocket.bufferedAmount). A subscriber that stops
// echoing the relay's marks is sent live content only up to LAGGING_UNREAD_BYTES unconfirmed; what others
// write after that waits in storage, and once it reads again it is caught up from there, exactly once and in
// order, without being cut off. The writer is acked and the other subscribers, which echo, receive everything
// throughout. A peer that never reads and is sent past MAX_UNREAD_BYTES anyway is cut off with `too_slow`.
import { afterAll, describe, expect, it } from "vitest";
import { LAGGING_UNREAD_BYTES, MAX_FRAME_BYTES, MAX_MESSAGES_PER_BATCH, MAX_UNREAD_BYTES, RETRY_AFTER_TOO_SLOW_SECONDS, closeCodeOf } from "../../protocol/index.ts";
import { testAgent } from "../support/identity.ts";
import { docHeader } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, emptyKnown, uniqueGroup, type Peer } from "./socket.ts";

const writer = testAgent(81);
const stalled = testAgent(82);
const reader = testAgent(83);

/** Transactions of 64 KiB (of UTF-8), ten to a frame: a frame of live content is about 650 KB. */
const TRANSACTION_BYTES = 64 * 1024;
const PER_FRAME = 10;
/** Frames written: three times MAX_UNREAD_BYTES in all. */
const FRAMES = Math.ceil((3 * MAX_UNREAD_BYTES) / (TRANSACTION_BYTES * PER_FRAME));

afterAll(closeAll);

/** The data of the transactions a subscriber was sent of `doc`, in order, once its inbox is read (the frames are taken from it). */
function dataHeard(peer: Peer, doc: string): string[] {
  const heard: string[] = [];
  for (const frame of peer.drain("content")) {
    if (frame.doc !== doc) continue;
    for (const chunk of Object.values(frame.sessions)) heard.push(...chunk!.transactions.map((tx) => tx.data as string));
  }
  return heard;
}

// What is counted is what the runtime holds: UTF-8, so text beyond ASCII (3 bytes a character here) is
// counted at its size, not by its characters.
describe.each([
  { text: "ASCII", fill: "x", bytesPerChar: 1 },
  { text: "CJK", fill: "漢", bytesPerChar: 3 },
])("a subscriber that stops echoing the relay's marks, $text text", ({ fill, bytesPerChar }) => {
  it("is sent at most LAGGING_UNREAD_BYTES and a frame of it, and is caught up once it echoes, in order and exactly once, without being cut off", { timeout: 120_000 }, async () => {
    const group = uniqueGroup("unread");
    const w = await connect(group, writer);
    const { id: doc, header } = docHeader(writer, group, "busy");
    const log = new SessionWriter(writer, doc);
    w.send(log.content([], header));
    await w.next("known", (k) => k.doc === doc && k.reason === "ack", 30_000);

    const slow = await connect(group, stalled, { echoMarks: false });
    const fast = await connect(group, reader);
    for (const peer of [slow, fast]) {
      peer.send({ type: "load", doc, known: emptyKnown });
      await peer.next("known", (k) => k.doc === doc && k.reason === "load", 30_000);
    }
    const sentBefore = slow.bytes;

    const written: string[] = [];
    const heard: string[] = [];
    for (let frame = 0; frame < FRAMES; frame++) {
      const txs = Array.from({ length: PER_FRAME }, (_, i) => ({ at: 1_700_000_000_000 + frame * PER_FRAME + i, data: `${frame}:${i}:`.padEnd(TRANSACTION_BYTES / bytesPerChar, fill) }));
      written.push(...txs.map((tx) => tx.data));
      w.send(log.content(txs));
      // Every write is acked, while the subscriber that does not read falls behind.
      await w.next("known", (k) => k.doc === doc && k.reason === "ack" && k.sessions[writer.session] === log.count, 30_000);
      heard.push(...dataHeard(fast, doc));
    }
    // The subscriber that echoes was sent three times MAX_UNREAD_BYTES, all of it, in order.
    await fast.sync();
    heard.push(...dataHeard(fast, doc));
    expect(heard).toEqual(written);
    expect(fast.drain("error")).toEqual([]);

    // The one that does not was sent live content up to the lag, and a frame past it; then nothing more.
    await slow.sync();
    expect(slow.bytes - sentBefore).toBeGreaterThanOrEqual(LAGGING_UNREAD_BYTES - MAX_FRAME_BYTES);
    expect(slow.bytes - sentBefore).toBeLessThan(LAGGING_UNREAD_BYTES + MAX_FRAME_BYTES);
    expect(slow.drain("error")).toEqual([]);

    // It reads again: each mark echoed as it comes, it is caught up with the rest, and stays connected.
    const caughtUp = dataHeard(slow, doc);
    const deadline = Date.now() + 60_000;
    while (caughtUp.length < written.length && Date.now() < deadline) {
      for (const mark of slow.drain("mark")) slow.send({ type: "marked", id: mark.id });
      await new Promise((resolve) => setTimeout(resolve, 20));
      caughtUp.push(...dataHeard(slow, doc));
    }
    expect(caughtUp).toEqual(written);
    expect(slow.drain("error")).toEqual([]);
    await slow.sync();
    expect(dataHeard(slow, doc)).toEqual([]);
    await slow.close();
    await fast.close();
    await w.close();
  });
});

describe("a peer that never reads", () => {
  it("is cut off with too_slow once what it is sent past MAX_UNREAD_BYTES is unconfirmed (pongs to its own pings)", { timeout: 60_000 }, async () => {
    const group = uniqueGroup("pongs");
    const flood = await connect(group, stalled, { echoMarks: false });
    // The relay's own pings (not the runtime's auto-response), a batch frame's worth at a time: about 160 KB of pongs each.
    const batch = JSON.stringify({ type: "batch", messages: Array.from({ length: MAX_MESSAGES_PER_BATCH }, () => ({ type: "ping" })) });
    const pongBytes = MAX_MESSAGES_PER_BATCH * '{"type":"pong"}'.length;
    for (let sent = 0; sent <= MAX_UNREAD_BYTES + pongBytes; sent += pongBytes) flood.sendRaw(batch);
    const error = await flood.next("error", undefined, 30_000);
    expect(error).toMatchObject({ code: "too_slow", retryAfter: RETRY_AFTER_TOO_SLOW_SECONDS });
    expect((await flood.closed).code).toBe(closeCodeOf("too_slow"));
    // It was sent the limit, at most one frame past it, and nothing after.
    expect(flood.bytes).toBeGreaterThan(MAX_UNREAD_BYTES);
    expect(flood.bytes).toBeLessThan(MAX_UNREAD_BYTES + MAX_FRAME_BYTES);
  });
});
