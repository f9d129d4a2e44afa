// ContentPacker: a document of any size leaves the relay as a stream of `content` frames that each stay
// under the frame and transaction-count limits, and that a client can decode and reassemble exactly.
import { describe, expect, it } from "vitest";
import {
  MAX_FRAME_BYTES,
  MAX_HEADER_BYTES,
  MAX_TRANSACTION_BYTES,
  MAX_TRANSACTIONS_PER_FRAME,
  canonicalJson,
  decodeServerMessage,
  docIdOf,
  encodeMessage,
  utf8Length,
  type Json,
  type ServerContent,
  type SessionId,
  type Transaction,
} from "../../protocol/index.ts";
import { ContentPacker, isAsciiContent } from "../../worker/core/content-packer.ts";
import { encodeItem, readChunk } from "../../worker/transaction-chunks.ts";
import type { StoredTransaction } from "../../worker/core/store.ts";
import { testAgent, testHeader } from "../support/identity.ts";
import { seededRandom } from "./seeded-random.ts";

const alice = testAgent(1);
const { id: doc, header } = testHeader(alice, "g1");
const sessions = [testAgent(1, "session-a").session, testAgent(2, "session-b").session, testAgent(3, "session-c").session];

type Log = { session: SessionId; transactions: StoredTransaction[] };

/** A session log where every `signEvery`-th transaction ends a signed batch. */
function log(session: SessionId, datas: string[], signEvery = 10): Log {
  const transactions = datas.map((data, index) => ({
    at: 1_700_000_000_000 + index,
    data,
    index,
    ...((index + 1) % signEvery === 0 ? { signature: `sig-${index}` } : {}),
  }));
  return { session, transactions };
}

function pack(logs: Log[], withHeader = false): ServerContent[] {
  const packer = new ContentPacker(doc, withHeader ? header : undefined);
  for (const { session, transactions } of logs) for (const transaction of transactions) packer.add(session, transaction);
  packer.flush();
  return packer.take();
}

const wireBytes = (frame: ServerContent): number => {
  const encoded = encodeMessage(frame);
  return typeof encoded === "string" ? new TextEncoder().encode(encoded).length : encoded.byteLength;
};
const countOf = (frame: ServerContent): number => Object.values(frame.sessions).reduce((sum, chunk) => sum + (chunk?.transactions.length ?? 0), 0);

/** What a client rebuilds from the frames, checking each chunk starts where the last one of its session ended. */
function reassemble(frames: ServerContent[]): Map<SessionId, Transaction[]> {
  const rebuilt = new Map<SessionId, Transaction[]>();
  for (const frame of frames) {
    for (const [session, chunk] of Object.entries(frame.sessions) as [SessionId, NonNullable<ServerContent["sessions"][SessionId]>][]) {
      const held = rebuilt.get(session) ?? [];
      expect(chunk.after).toBe(held.length);
      held.push(...chunk.transactions);
      rebuilt.set(session, held);
    }
  }
  return rebuilt;
}

function expectWithinLimits(frames: ServerContent[]): void {
  for (const frame of frames) {
    expect(wireBytes(frame)).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    expect(countOf(frame)).toBeLessThanOrEqual(MAX_TRANSACTIONS_PER_FRAME);
    expect(decodeServerMessage(encodeMessage(frame)).ok).toBe(true); // a client accepts it
  }
}

describe("ContentPacker", () => {
  const random = seededRandom(0xc0ffee);
  // 3 sessions, 9,000 transactions of 0 to 600 bytes: several frames by count and by size.
  const logs = sessions.map((session, i) => log(session, Array.from({ length: 3000 }, (_, j) => `${i}:${j}:${"x".repeat(random.below(600))}`)));
  const frames = pack(logs, true);

  it("splits many transactions over several frames, each within the frame size and count limits", () => {
    expect(frames.length).toBeGreaterThan(4);
    expectWithinLimits(frames);
  });

  it("caps a frame of tiny transactions at MAX_TRANSACTIONS_PER_FRAME", () => {
    const tiny = pack([log(sessions[0]!, Array.from({ length: 5000 }, () => ""))]);
    expect(tiny.map(countOf)).toEqual([MAX_TRANSACTIONS_PER_FRAME, MAX_TRANSACTIONS_PER_FRAME, 5000 - 2 * MAX_TRANSACTIONS_PER_FRAME]);
    expect(reassemble(tiny).get(sessions[0]!)).toHaveLength(5000);
  });

  it("gives back every transaction of every session, in order, with the right `after` values", () => {
    const rebuilt = reassemble(frames);
    for (const { session, transactions } of logs) {
      expect(rebuilt.get(session)).toEqual(transactions.map(({ at, data }) => ({ at, data })));
    }
  });

  it("keeps the stored index in each chunk's `after`, so a range may start mid-log", () => {
    const tail = log(sessions[0]!, ["a", "b", "c", "d", "e"]).transactions.slice(2);
    const [frame] = pack([{ session: sessions[0]!, transactions: tail }]);
    expect(frame!.sessions[sessions[0]!]).toEqual({ after: 2, transactions: [{ at: tail[0]!.at, data: "c" }, { at: tail[1]!.at, data: "d" }, { at: tail[2]!.at, data: "e" }] });
  });

  it("signs a chunk exactly when its last transaction ended a signed batch", () => {
    let chunks = 0;
    const bySession = new Map(logs.map((entry) => [entry.session, entry.transactions]));
    for (const frame of frames) {
      for (const [session, chunk] of Object.entries(frame.sessions) as [SessionId, NonNullable<ServerContent["sessions"][SessionId]>][]) {
        const last = bySession.get(session)![chunk.after + chunk.transactions.length - 1]!;
        expect(chunk.signature).toBe(last.signature);
        chunks++;
      }
    }
    // Both cases occur: chunks ending on and off a signed transaction.
    const signed = frames.flatMap((frame) => Object.values(frame.sessions)).filter((chunk) => chunk?.signature).length;
    expect(signed).toBeGreaterThan(0);
    expect(signed).toBeLessThan(chunks);
  });

  it("sends the header in the first frame only", () => {
    expect(frames[0]!.header).toEqual(header);
    expect(frames.slice(1).every((frame) => frame.header === undefined)).toBe(true);
  });

  it("sends a document with a header and no transactions as one frame", () => {
    expect(pack([], true)).toEqual([{ type: "content", doc, header, sessions: {} }]);
  });

  it("sends nothing for no header and no transactions", () => {
    expect(pack([])).toEqual([]);
  });

  it("sends a single transaction of MAX_TRANSACTION_BYTES in one frame", () => {
    const huge = pack([log(sessions[0]!, ["h".repeat(MAX_TRANSACTION_BYTES)], 1)]);
    expect(huge).toHaveLength(1);
    expectWithinLimits(huge);
    expect(huge[0]!.sessions[sessions[0]!]?.signature).toBe("sig-0");
  });

  it("sends a header and a transaction that would take the frame past its target in two frames, the header first", () => {
    const huge = pack([log(sessions[0]!, ["h".repeat(MAX_TRANSACTION_BYTES)], 1)], true);
    expect(huge.map((frame) => [frame.header !== undefined, countOf(frame)])).toEqual([[true, 0], [false, 1]]);
    expectWithinLimits(huge);
  });

  it("sends a header near MAX_HEADER_BYTES and a transaction near MAX_FRAME_BYTES as JSON (stored before the relay refused such) in two frames a client accepts", () => {
    // What a relay that did not yet refuse text over MAX_TRANSACTION_WIRE_BYTES stored: 166,000 NULs, 996,002
    // bytes as JSON. With the header beside it, one frame of 1,000,167 bytes, which every reader refused.
    const near = { ...header, meta: { pad: "x".repeat(3_700) } };
    expect(utf8Length(canonicalJson(near as unknown as Json))).toBeLessThanOrEqual(MAX_HEADER_BYTES);
    const packer = new ContentPacker(docIdOf(near), near);
    packer.add(sessions[0]!, { at: 1_700_000_000_000, data: "\u0000".repeat(166_000), index: 0, signature: "A".repeat(86) });
    packer.flush();
    const frames = packer.take();
    expect(frames.map((frame) => [frame.header !== undefined, countOf(frame)])).toEqual([[true, 0], [false, 1]]);
    expectWithinLimits(frames);
  });

  it("puts each of several MAX_TRANSACTION_BYTES transactions in its own frame", () => {
    const huge = pack([log(sessions[0]!, Array.from({ length: 3 }, (_, i) => `${i}`.repeat(MAX_TRANSACTION_BYTES)), 1)]);
    expect(huge.map(countOf)).toEqual([1, 1, 1]);
    expectWithinLimits(huge);
  });

  it.each([
    ["2-byte", "é"],
    ["3-byte", "一"],
    ["4-byte", "😀"],
    ["JSON-escaped quote", '"'],
  ])("keeps frames of %s data under MAX_FRAME_BYTES", (_name, unit) => {
    // Each transaction as large as MAX_TRANSACTION_BYTES allows, UTF-8 wise.
    const perTransaction = Math.floor(MAX_TRANSACTION_BYTES / new TextEncoder().encode(unit).length);
    const datas = Array.from({ length: 12 }, (_, i) => unit.repeat(perTransaction - i));
    const packed = pack([log(sessions[0]!, datas), log(sessions[1]!, datas)], true);
    expectWithinLimits(packed);
    expect(reassemble(packed).get(sessions[1]!)).toHaveLength(12);
  });

  it("keeps frames of control-character data under MAX_FRAME_BYTES", () => {
    const packed = pack([log(sessions[0]!, Array.from({ length: 4 }, () => "\u0001".repeat(60_000)), 1)]);
    expectWithinLimits(packed);
  });

  it("packs transactions read from stored chunks into the same frames, byte for byte, as the transactions themselves", () => {
    // Text with escapes, controls and more than ASCII, and bytes: stored as chunks, read in wire form.
    const datas = Array.from({ length: 900 }, (_, i): string | Uint8Array =>
      i % 7 === 0 ? random.bytes(random.below(40)) : `${i}: "quoted" \\ back\nslash é 一 😀 \u2028 ${"x".repeat(random.below(400))}`,
    );
    const stored = sessions.slice(0, 2).map((session) => ({
      session,
      transactions: datas.map((data, index) => ({ at: 1_700_000_000_000 + index * random.below(3), data, index, ...(index % 50 === 49 ? { signature: `sig-${index}` } : {}) })),
    }));
    const fromObjects = pack(stored, true);
    const packer = new ContentPacker(doc, header);
    for (const { session, transactions } of stored) {
      const run = readChunk(transactions.map((transaction) => encodeItem(transaction, transaction.signature)).join(","), 0, 0, transactions.length);
      for (let i = 0; i < run.at.length; i++) packer.addEncoded(session, run.first + i, run.at[i]!, run.data[i]!, run.bytes[i]!, run.signatures[i]);
    }
    packer.flush();
    const fromChunks = packer.take();
    expect(fromChunks.length).toBeGreaterThan(1);
    expect(fromChunks.map(encodeMessage)).toEqual(fromObjects.map(encodeMessage));
    // And as the codec writes a message whose transactions are plain objects (a client's, say).
    const plain = (frame: ServerContent): ServerContent => ({
      ...frame,
      sessions: Object.fromEntries(Object.entries(frame.sessions).map(([session, chunk]) => [session, { ...chunk! }])),
    });
    expect(fromChunks.map((frame) => encodeMessage(plain(frame)))).toEqual(fromChunks.map(encodeMessage));
    expect(reassemble(fromChunks)).toEqual(reassemble(fromObjects));
    expectWithinLimits(fromChunks);
  });

  it("tells which frames read from stored chunks are all ASCII, whose UTF-8 size is then their length: exactly those", () => {
    // Mostly ASCII text (escapes included), a character beyond ASCII now and then, bytes, and a header with
    // or without one: the relay counts a frame the packer calls ASCII at its length, unscanned.
    const encoder = new TextEncoder();
    let ascii = 0;
    for (const [rare, meta] of [[0, "plain"], [40, "plain"], [300, "plain"], [0, "café"], [0, undefined]] as const) {
      const datas = Array.from({ length: 1_500 }, (_, i): string | Uint8Array => {
        if (i % 9 === 0) return random.bytes(random.below(60));
        const text = `${i}: "q" \\ \n ${"x".repeat(random.below(300))}`;
        return rare > 0 && random.below(rare) === 0 ? `${text} ${["é", "一", "😀", "\u2028"][random.below(4)]}` : text;
      });
      const transactions = datas.map((data, index) => ({ at: 1_700_000_000_000 + index, data, index }));
      const withMeta = meta === undefined ? undefined : { ...header, meta: { title: meta } };
      const packer = new ContentPacker(doc, withMeta, 16 * 1024);
      const run = readChunk(transactions.map((transaction) => encodeItem(transaction, undefined)).join(","), 0, 0, transactions.length);
      for (let i = 0; i < run.at.length; i++) packer.addEncoded(sessions[0]!, run.first + i, run.at[i]!, run.data[i]!, run.bytes[i]!, run.signatures[i]);
      packer.flush();
      const frames = packer.take();
      expect(frames.length).toBeGreaterThan(3);
      for (const frame of frames) {
        const encoded = encodeMessage(frame);
        const json = typeof encoded === "string" ? encoded : new TextDecoder().decode(encoded.subarray(0, encoded.indexOf(0)));
        expect(isAsciiContent(frame)).toBe(encoder.encode(json).length === json.length);
        if (isAsciiContent(frame)) ascii++;
      }
    }
    expect(ascii).toBeGreaterThan(10); // most frames of the plain runs are
    // A frame of transactions given as objects (a live write's) is never called ASCII: its text is not encoded yet.
    expect(pack([log(sessions[0]!, ["plain"])]).some(isAsciiContent)).toBe(false);
  });
});
