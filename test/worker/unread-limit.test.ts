// Every frame the relay sends a peer counts against its window (worker/core/answer-window.ts), live content
// too: workerd cannot tell that a peer does not read (no WebSocket.bufferedAmount), so a subscriber that
// never echoes the relay's marks is cut off with `too_slow` once MAX_UNREAD_BYTES of what others write are
// unconfirmed, instead of the object holding all of it, while the writer is acked and the other
// subscribers, which echo, receive everything however much is written.
import { afterAll, describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, MAX_UNREAD_BYTES, RETRY_AFTER_TOO_SLOW_SECONDS, closeCodeOf } from "../../protocol/index.ts";
import { testAgent } from "../support/identity.ts";
import { docHeader } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, emptyKnown, uniqueGroup, type Peer } from "./socket.ts";

const writer = testAgent(81);
const stalled = testAgent(82);
const reader = testAgent(83);

/** Transactions of 64 KiB (of UTF-8), ten to a frame: a frame of live content is about 650 KB. */
const TRANSACTION_BYTES = 64 * 1024;
const PER_FRAME = 10;
/** Frames written: three times the limit in all. */
const FRAMES = Math.ceil((3 * MAX_UNREAD_BYTES) / (TRANSACTION_BYTES * PER_FRAME));

afterAll(closeAll);

/** The transactions a subscriber holds of `doc` once its inbox is read (the frames are taken from it). */
function transactionsHeard(peer: Peer, doc: string): number {
  let count = 0;
  for (const frame of peer.drain("content")) {
    if (frame.doc !== doc) continue;
    for (const chunk of Object.values(frame.sessions)) count += chunk!.transactions.length;
  }
  return count;
}

// What is counted is what the runtime holds: UTF-8, so text beyond ASCII (3 bytes a character here) is
// counted at its size, not by its characters.
describe.each([
  { text: "ASCII", fill: "x", bytesPerChar: 1 },
  { text: "CJK", fill: "漢", bytesPerChar: 3 },
])("a subscriber that never echoes the relay's marks, $text text", ({ fill, bytesPerChar }) => {
  it("is cut off with too_slow past MAX_UNREAD_BYTES of live content, while the writer is acked and a subscriber that echoes gets it all", { timeout: 120_000 }, async () => {
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

    let heard = 0;
    for (let frame = 0; frame < FRAMES; frame++) {
      const txs = Array.from({ length: PER_FRAME }, (_, i) => ({ at: 1_700_000_000_000 + frame * PER_FRAME + i, data: `${frame}:${i}:`.padEnd(TRANSACTION_BYTES / bytesPerChar, fill) }));
      w.send(log.content(txs));
      // Every write is acked, before and after the subscriber that does not read is cut off.
      await w.next("known", (k) => k.doc === doc && k.reason === "ack" && k.sessions[writer.session] === log.count, 30_000);
      heard += transactionsHeard(fast, doc);
    }

    const error = await slow.next("error", undefined, 30_000);
    expect(error).toMatchObject({ code: "too_slow", retryAfter: RETRY_AFTER_TOO_SLOW_SECONDS });
    expect((await slow.closed).code).toBe(closeCodeOf("too_slow"));
    // It was sent the limit, at most one frame past it, and nothing after.
    expect(slow.bytes).toBeGreaterThan(MAX_UNREAD_BYTES);
    expect(slow.bytes).toBeLessThan(MAX_UNREAD_BYTES + MAX_FRAME_BYTES);
    // It was marked along the way, as a reader would have confirmed.
    expect(slow.drain("mark").length).toBeGreaterThanOrEqual(MAX_UNREAD_BYTES / (TRANSACTION_BYTES * PER_FRAME) / 2);

    // The subscriber that echoes was sent three times the limit and is still here, with all of it.
    await fast.sync();
    heard += transactionsHeard(fast, doc);
    expect(heard).toBe(FRAMES * PER_FRAME);
    expect(fast.drain("error")).toEqual([]);
    expect(fast.bytes).toBeGreaterThan(3 * MAX_UNREAD_BYTES);
    await fast.close();
    await w.close();
  });
});
