// Large updates as parts: split under the transaction limit, reassembled per session, applied whole or not at all.
import { describe, expect, it } from "vitest";
import { MAX_TRANSACTION_BYTES } from "../../../protocol/limits.ts";
import { MAX_PAYLOAD_BYTES, dataToPayload, payloadToData } from "../../../yjs/payload.ts";
import { UpdateAssembler, appliedThrough, decodeUpdatePayload, encodeUpdatePayloads, type DroppedParts } from "../../../yjs/update-frames.ts";

const bytes = (length: number, seed = 1) => Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

describe("splitting an update into payloads", () => {
  it("keeps a small update whole and splits a large one into parts that each fit", () => {
    expect(encodeUpdatePayloads(bytes(99), 100)).toHaveLength(1);
    const parts = encodeUpdatePayloads(bytes(1_000), 100);
    expect(parts.length).toBeGreaterThan(10);
    expect(parts.every((part) => part.length <= 100)).toBe(true);
    expect(parts.map((part) => decodeUpdatePayload(part).kind)).toEqual(parts.map(() => "part"));
  });

  it("fits a part of the largest size into one transaction, as bytes", () => {
    const parts = encodeUpdatePayloads(bytes(3 * MAX_PAYLOAD_BYTES), MAX_PAYLOAD_BYTES);
    expect(parts).toHaveLength(4);
    expect(parts.every((part) => payloadToData(part).byteLength <= MAX_TRANSACTION_BYTES)).toBe(true);
  });

  it("reads payloads written as base64 text, as weft/yjs wrote them before transaction data could be bytes", () => {
    const [payload] = encodeUpdatePayloads(bytes(1_000), MAX_PAYLOAD_BYTES);
    const written = Buffer.from(payload!).toString("base64");
    expect(Buffer.from(dataToPayload(written)!).equals(Buffer.from(payload!))).toBe(true);
  });
});

describe("reassembling parts", () => {
  it("gives nothing until the last part, then the whole update", () => {
    const update = bytes(1_000);
    const parts = encodeUpdatePayloads(update, 100);
    const assembler = new UpdateAssembler();
    const results = parts.map((part) => assembler.push("s1", part));
    expect(results.slice(0, -1).every((result) => result === undefined)).toBe(true);
    expect(results.at(-1)).toEqual(update);
    expect(assembler.incomplete).toBe(0);
  });

  it("keeps sessions apart: parts of two writers interleaved both complete", () => {
    const [one, two] = [bytes(500, 1), bytes(500, 2)];
    const [partsOne, partsTwo] = [encodeUpdatePayloads(one, 100), encodeUpdatePayloads(two, 100)];
    const assembler = new UpdateAssembler();
    const done: Uint8Array[] = [];
    partsOne.forEach((part, i) => {
      for (const result of [assembler.push("a", part), assembler.push("b", partsTwo[i]!)]) if (result) done.push(result);
    });
    expect(done).toEqual([one, two]);
  });

  it("drops an update left incomplete (a writer that crashed mid-save) when the writer's next update starts, and says so once per update", () => {
    const torn = encodeUpdatePayloads(bytes(1_000, 7), 100);
    const next = bytes(50, 9);
    const dropped: DroppedParts[] = [];
    const assembler = new UpdateAssembler((parts) => dropped.push(parts));
    torn.slice(0, 4).forEach((part, index) => expect(assembler.push("s1", part, 10 + index)).toBeUndefined());
    expect(dropped).toEqual([]);
    expect(assembler.push("s1", encodeUpdatePayloads(next, 100)[0]!, 14)).toEqual(next);
    expect(dropped).toMatchObject([{ session: "s1", index: 10, reason: expect.stringMatching(/only 4 of its 12 parts/) }]);
    // The rest of the torn update, should it come after all, is never applied half, and said once.
    torn.slice(4).forEach((part, index) => expect(assembler.push("s1", part, 15 + index)).toBeUndefined());
    expect(dropped).toMatchObject([{ index: 10 }, { session: "s1", index: 15, reason: expect.stringMatching(/part 5 of 12 of an update whose first part/) }]);
    expect(assembler.incomplete).toBe(0);
    // Once that update is over, the session's next update is assembled as usual.
    const after = encodeUpdatePayloads(bytes(300, 3), 100);
    expect(after.map((part) => assembler.push("s1", part)).at(-1)).toEqual(bytes(300, 3));
    expect(dropped).toHaveLength(2);
  });

  it("says how far a session is applied through a transaction: never into an update whose last part is not in", () => {
    const parts = encodeUpdatePayloads(bytes(300, 4), 100); // 4 parts, at indexes 5 to 8 of their session
    expect(parts.map((part, i) => appliedThrough(part, 5 + i))).toEqual([5, 5, 5, 9]);
    expect(appliedThrough(encodeUpdatePayloads(bytes(10), 100)[0], 3)).toBe(4);
    expect(appliedThrough(Uint8Array.of(9, 1), 3)).toBe(4); // no payload of this binding's: skipped, so applied
    expect(appliedThrough(undefined, 3)).toBe(4);
  });

  it("ignores payloads it did not write: empty, an unknown kind, a broken part header, text that is not base64", () => {
    const assembler = new UpdateAssembler();
    for (const payload of [new Uint8Array(0), Uint8Array.of(9, 1, 2), Uint8Array.of(1, 5, 2), Uint8Array.of(1, 0x80)]) {
      expect(assembler.push("s1", payload)).toBeUndefined();
    }
    expect(dataToPayload("not base64!")).toBeUndefined();
  });
});
