// Reading stored chunks to send (readChunk): the relay scans a chunk's text instead of parsing it and puts
// each text's stored JSON literal in the frame as it is. Whatever the text holds (quotes, backslashes,
// escapes, controls, text beyond ASCII, surrogate pairs), and for any range of a chunk, what it reads must
// decode to exactly what was appended, with the exact size it takes in a frame, as JSON.parse would read it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { encodedDataBytes, fromWireData, utf8, type TransactionData } from "../../protocol/index.ts";
import { encodeItem, packChunks, readChunk } from "../../worker/transaction-chunks.ts";
import { seededRandom } from "./seeded-random.ts";

const random = seededRandom(0x5ca1ab1e);
const PIECES = ['"', "\\", '\\"', '"\\', "\\\\", "\n", "\u0000", "\u001f", "\u007f", "é", "€", "😀", "\u2028", "/", "x", "abc", "[1,2]", "],[", '","', "{}"];
const randomText = (): string => Array.from({ length: random.below(12) }, () => PIECES[random.below(PIECES.length)]).join("");

type Stored = { at: number; data: TransactionData; signature?: string };

function randomLog(length: number): Stored[] {
  let at = 1_700_000_000_000;
  return Array.from({ length }, (_, i) => {
    at += random.below(3) === 0 ? 0 : random.below(1000);
    const data = random.below(5) === 0 ? random.bytes(random.below(20)) : randomText();
    return { at, data, ...(random.below(4) === 0 ? { signature: `sig${i}-${"A".repeat(82)}` } : {}) };
  });
}

/** What a chunk holds from `from` to `to` (at most `limit`), read with JSON.parse: the reference. */
function expected(log: Stored[], first: number, from: number, to: number, limit = Infinity) {
  const start = Math.max(first, from);
  return log.slice(start - first, Math.max(start - first, Math.min(log.length, to - first, start - first + limit)));
}

function expectRead(text: string, log: Stored[], first: number, from: number, to: number, limit?: number): void {
  const run = readChunk(text, first, from, to, limit);
  const want = expected(log, first, from, to, limit);
  expect(run.first).toBe(Math.max(first, from));
  expect(run.at).toEqual(want.map((transaction) => transaction.at));
  expect(run.data.map(fromWireData)).toEqual(want.map((transaction) => transaction.data));
  expect(Array.from({ length: want.length }, (_, i) => run.signatures[i])).toEqual(want.map((transaction) => transaction.signature));
  for (let i = 0; i < want.length; i++) {
    const data = run.data[i]!;
    // Text goes in the frame as the literal JSON.stringify writes, and its size is its exact UTF-8 length.
    if (typeof data === "string") expect(data).toBe(JSON.stringify(want[i]!.data));
    expect(run.bytes[i]).toBe(typeof data === "string" ? utf8(data).byteLength : encodedDataBytes(data));
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("readChunk", () => {
  it("reads every transaction of chunks of random text and bytes exactly, with its time, signature and size", () => {
    for (let round = 0; round < 40; round++) {
      const log = randomLog(1 + random.below(300));
      const first = random.below(1000);
      const { closed, open } = packChunks(log.map((transaction) => encodeItem(transaction, transaction.signature)), first);
      const chunks = [...closed, open];
      let offset = 0;
      chunks.forEach((chunk, i) => {
        const held = log.slice(offset, (chunks[i + 1]?.first ?? first + log.length) - first);
        offset += held.length;
        expectRead(chunk.text, held, chunk.first, 0, Number.MAX_SAFE_INTEGER);
      });
      expect(offset).toBe(log.length);
    }
  });

  it("reads any range of a chunk, and at most `limit` transactions", () => {
    const log = randomLog(120);
    const text = log.map((transaction) => encodeItem(transaction, transaction.signature)).join(",");
    for (let round = 0; round < 300; round++) {
      const from = 50 + random.below(140);
      const to = from + random.below(140);
      expectRead(text, log, 60, from, to, random.below(3) === 0 ? random.below(50) : undefined);
    }
  });

  it("reads text that is one long literal of escapes without backtracking trouble", () => {
    const log: Stored[] = [
      { at: 1, data: '\\"'.repeat(100_000) },
      { at: 2, data: "x".repeat(256 * 1024), signature: "s" },
      { at: 3, data: "é\\".repeat(50_000) },
    ];
    expectRead(log.map((transaction) => encodeItem(transaction, transaction.signature)).join(","), log, 0, 0, 3);
  });

  it("reads rows an earlier version packed inside SQLite (bytes as hex) as they were stored", () => {
    // As SqliteStore's one-time packing writes them: json_array(at, json_object('hex', hex(data)), signature).
    const text = '[5,"a\\u0001b"],[6,{"hex":"00FF10"},"sig"],[7,""]';
    const run = readChunk(text, 0, 0, 10);
    expect(run.at).toEqual([5, 6, 7]);
    expect(run.data.map(fromWireData)).toEqual(["a\u0001b", Uint8Array.of(0, 255, 16), ""]);
    expect(run.signatures[1]).toBe("sig");
    expect(run.bytes).toEqual(run.data.map(encodedDataBytes));
  });

  it("scans what encodeItem writes without parsing it; only rows in another form are parsed", () => {
    const parse = vi.spyOn(JSON, "parse");
    for (let round = 0; round < 20; round++) {
      const log = randomLog(1 + random.below(200));
      readChunk(log.map((transaction) => encodeItem(transaction, transaction.signature)).join(","), 0, 0, log.length);
    }
    expect(parse).not.toHaveBeenCalled(); // a scan that gave up on some form would fall back to JSON.parse
    readChunk('[5,{"hex":"00FF10"}]', 0, 0, 1);
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it("decodes the bytes only of the transactions it returns: those it skips are not read as base64", () => {
    const parse = vi.spyOn(JSON, "parse");
    // The first item's base64 is not base64: decoding it would fail, and the scan would fall back to JSON.parse.
    const text = `[1,["not base64!"]],${encodeItem({ at: 2, data: Uint8Array.of(1, 2, 3) }, undefined)},${encodeItem({ at: 3, data: "text" }, "sig")}`;
    const run = readChunk(text, 0, 1, 3);
    expect(parse).not.toHaveBeenCalled();
    expect(run.at).toEqual([2, 3]);
    expect(run.data.map(fromWireData)).toEqual([Uint8Array.of(1, 2, 3), "text"]);
    expect(run.signatures[1]).toBe("sig");
  });

  it("reads an empty chunk as no transactions", () => {
    expect(readChunk("", 3, 0, 10).at).toEqual([]);
  });
});
