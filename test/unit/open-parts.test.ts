// Opening a group in parts by id range (protocol/open-parts.ts): every part fits a frame and passes the
// relay's schema, the parts cover every id once, and the relay answers them as one open.
import { describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, decodeClientMessage, encodeMessage, openParts, utf8Length, type DocId, type KnownState } from "../../protocol/index.ts";
import { testHeader, transactions } from "../support/identity.ts";
import { GROUP, alice, bob, scenario, writer } from "./relay-transcript.ts";

const fakeId = (n: number) => `doc_${n.toString(36).padStart(43, "0")}` as DocId;

describe("open in parts", () => {
  it("splits 20,000 held documents into parts under the frame limit that cover each id once", () => {
    const known: Record<DocId, KnownState> = {};
    for (let i = 0; i < 20_000; i++) known[fakeId(i)] = { header: true, sessions: { [alice.session]: i % 7 } };
    expect(utf8Length(encodeMessage({ type: "open", known }))).toBeGreaterThan(MAX_FRAME_BYTES);
    const parts = openParts(known);
    expect(parts.length).toBeGreaterThan(1);
    const seen: DocId[] = [];
    parts.forEach((part, index) => {
      const frame = encodeMessage(part);
      expect(utf8Length(frame)).toBeLessThan(MAX_FRAME_BYTES);
      expect(decodeClientMessage(frame).ok).toBe(true);
      expect(part.after).toBe(index === 0 ? undefined : parts[index - 1]!.through);
      expect(part.through === undefined).toBe(index === parts.length - 1);
      seen.push(...(Object.keys(part.known) as DocId[]));
    });
    expect(seen).toEqual(Object.keys(known).sort());
    expect(openParts({})).toEqual([{ type: "open", known: {} }]);
  });

  it("the relay answers the parts as one open: exactly what the client lacks, then one opened", async () => {
    const { connect, send, transport } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const docs = Array.from({ length: 12 }, (_, i) => testHeader(alice, GROUP, `part-${i}`)).sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const doc of docs) await send("alice", writer(alice, doc)(transactions(2), { header: true }));
    // Bob holds every other document whole; the rest he has never seen.
    const held: Record<DocId, KnownState> = {};
    docs.forEach((doc, i) => {
      if (i % 2 === 0) held[doc.id] = { header: true, sessions: { [alice.session]: 2 } };
    });
    transport.lines.length = 0;
    for (const part of openParts(held, 120)) await send("bob", part);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const toBob = transport.lines.filter((line) => line.startsWith("relay -> bob"));
    const contentFor = docs.filter((doc) => toBob.some((line) => line.includes("content") && line.includes(doc.id.slice(0, 12))));
    expect(contentFor.map((doc) => doc.id)).toEqual(docs.filter((_, i) => i % 2 === 1).map((doc) => doc.id));
    expect(toBob.filter((line) => line.includes("| known "))).toHaveLength(12);
    expect(toBob.filter((line) => line.includes("opened"))).toEqual([expect.stringContaining("opened docs=12")]);
  });
});
