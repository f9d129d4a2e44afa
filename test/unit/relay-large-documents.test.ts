// Transcript tests of the relay at the size limits: big documents, big directories, many sessions. Every
// frame the relay sends must be one the SDK's decoder accepts, or the client cannot sync at all.
import { describe, expect, it } from "vitest";
import {
  MAX_DOCS_PER_DIR_FRAME,
  MAX_FRAME_BYTES,
  OPEN_SLICE_DOCS,
  MAX_SESSIONS_PER_FRAME,
  MAX_TRANSACTIONS_PER_FRAME,
  OPEN_SLICE_ROWS,
  LOAD_SLICE_ROWS,
  LOAD_FIRST_EVENT_ROWS,
  decodeServerFrame,
  type ServerMessage,
} from "../../protocol/index.ts";
import { signedChunk, testAgent, testHeader, transactions } from "../support/identity.ts";
import { GROUP, alice, bob, doc1, nothingKnown, scenario, writer } from "./relay-transcript.ts";

const decodedFrames = (frames: { text: string }[]): ServerMessage[] =>
  frames.flatMap((frame) => {
    const decoded = decodeServerFrame(frame.text);
    if (!decoded.ok) throw new Error(`the client would refuse this frame: ${decoded.code}: ${decoded.reason}`);
    return decoded.message;
  });

describe("large documents", () => {
  it("loads a large document as several content frames under MAX_FRAME_BYTES, then known", async () => {
    const { connect, send, transport, transcript, fireDueAlarms } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const write = writer(alice, doc1);
    const all = transactions(5000, "x".repeat(190)); // data of about 200 bytes each
    await send("alice", write(all.slice(0, 2000), { header: true }));
    await send("alice", write(all.slice(2000, 4000)));
    await send("alice", write(all.slice(4000)));
    transcript();
    transport.frames.length = 0;
    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    // The load streams LOAD_SLICE_ROWS transactions per slice, up to LOAD_FIRST_EVENT_ROWS at once, the
    // rest in alarm events: here none is needed.
    expect(await fireDueAlarms()).toBe(0);
    expect(transcript()).toMatchInlineSnapshot(`
      "bob -> relay | load doc1 (no header) {}
      relay -> bob | content doc1 +header alice after=0 n=451 unsigned
      relay -> bob | content doc1 alice after=451 n=451 unsigned
      relay -> bob | content doc1 alice after=902 n=450 unsigned
      relay -> bob | content doc1 alice after=1352 n=449 unsigned
      relay -> bob | content doc1 alice after=1801 n=199
      relay -> bob | content doc1 alice after=2000 n=449 unsigned
      relay -> bob | content doc1 alice after=2449 n=449 unsigned
      relay -> bob | mark
      relay -> bob | content doc1 alice after=2898 n=449 unsigned
      relay -> bob | content doc1 alice after=3347 n=449 unsigned
      relay -> bob | content doc1 alice after=3796 n=204
      relay -> bob | content doc1 alice after=4000 n=449 unsigned
      relay -> bob | content doc1 alice after=4449 n=449 unsigned
      relay -> bob | content doc1 alice after=4898 n=102
      relay -> bob | known doc1 {alice:5000} load
      bob -> relay | marked"
    `);
    const sizes = transport.frames.map((frame) => new TextEncoder().encode(frame.text).length);
    expect(sizes.length).toBeGreaterThan(2);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    const received = decodedFrames(transport.frames).flatMap((message) => (message.type === "content" ? (message.sessions[alice.session]?.transactions ?? []) : []));
    expect(received).toEqual(all);
  });

  it("lists a directory of more than MAX_DOCS_PER_DIR_FRAME documents in several dir frames", async () => {
    const { connect, send, transport } = scenario();
    await connect("alice", alice);
    const count = MAX_DOCS_PER_DIR_FRAME + 1;
    for (let i = 0; i < count; i++) {
      const { id, header } = testHeader(alice, GROUP, `nonce-${i}`);
      await send("alice", { type: "content", doc: id, header, sessions: {} });
    }
    transport.frames.length = 0;
    await send("alice", { type: "dir" });
    const dirs = decodedFrames(transport.frames).filter((message) => message.type === "dir");
    expect(dirs.map((message) => [message.docs.length, message.more])).toEqual([
      [MAX_DOCS_PER_DIR_FRAME, true],
      [1, false],
    ]);
    expect(new Set(dirs.flatMap((message) => message.docs.map((entry) => entry.id))).size).toBe(count);
  });

  it("answers a load of a document with more than MAX_SESSIONS_PER_FRAME sessions in frames a client decodes", { timeout: 30_000 }, async () => {
    const { connect, send, transport } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const chunks = Array.from({ length: MAX_SESSIONS_PER_FRAME + 1 }, (_, i) => {
      const who = testAgent(1, `device-${String(i).padStart(5, "0")}`);
      return [who.session, signedChunk(who, doc1.id, 0, transactions(1)).chunk] as const;
    });
    await send("alice", { type: "content", doc: doc1.id, header: doc1.header, sessions: Object.fromEntries(chunks.slice(0, MAX_SESSIONS_PER_FRAME)) });
    await send("alice", { type: "content", doc: doc1.id, sessions: Object.fromEntries(chunks.slice(MAX_SESSIONS_PER_FRAME)) });
    transport.frames.length = 0;
    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    const received = decodedFrames(transport.frames.filter((frame) => frame.peer === "bob"));
    expect(received.at(-1)).toMatchObject({ type: "known", reason: "load" });
  });

  it("an open streams a document longer than OPEN_SLICE_ROWS over several alarm events, like a load: a write between slices arrives once", async () => {
    const { connect, send, transport, fireDueAlarms, relay } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const write = writer(alice, doc1);
    const total = 2 * OPEN_SLICE_ROWS + 100;
    for (let sent = 0; sent < total; sent += MAX_TRANSACTIONS_PER_FRAME) {
      await send("alice", write(transactions(Math.min(MAX_TRANSACTIONS_PER_FRAME, total - sent), `t${sent}-`), { header: sent === 0 }));
    }
    transport.frames.length = 0;
    const bobReceived = () =>
      decodedFrames(transport.frames.filter((frame) => frame.peer === "bob")).flatMap((message) =>
        message.type === "content" ? (message.sessions[alice.session]?.transactions ?? []).map((transaction) => transaction.data) : [],
      );
    await send("bob", { type: "open", known: {} });
    // The first slice is bounded: the document is not all out, and the open is not done.
    expect(bobReceived()).toHaveLength(OPEN_SLICE_ROWS);
    await send("alice", write(transactions(1, "between-slices")));
    expect(await fireDueAlarms()).toBeGreaterThanOrEqual(2);
    const data = bobReceived();
    expect(data).toHaveLength(total + 1);
    expect(data.filter((text) => text === "between-slices-0")).toHaveLength(1);
    expect(data.at(-1)).toBe("between-slices-0");
    const messages = decodedFrames(transport.frames.filter((frame) => frame.peer === "bob"));
    expect(messages.filter((message) => message.type !== "content").map((message) => message.type)).toEqual(["known", "opened"]);
    expect(messages.find((message) => message.type === "known")).toMatchObject({ doc: doc1.id, sessions: { [alice.session]: total + 1 } });
    expect(relay.state.peers.has("bob")).toBe(true);
  });

  it("a load longer than its first event may send (LOAD_FIRST_EVENT_ROWS) goes on in an alarm event: a write between arrives once, after the rest", async () => {
    const { connect, send, transport, fireDueAlarms } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const write = writer(alice, doc1);
    const total = LOAD_FIRST_EVENT_ROWS + 2 * LOAD_SLICE_ROWS;
    for (let sent = 0; sent < total; sent += MAX_TRANSACTIONS_PER_FRAME) {
      await send("alice", write(transactions(Math.min(MAX_TRANSACTIONS_PER_FRAME, total - sent), `t${sent}-`), { header: sent === 0 }));
    }
    transport.frames.length = 0;
    const bobMessages = () => decodedFrames(transport.frames.filter((frame) => frame.peer === "bob"));
    const bobReceived = () => bobMessages().flatMap((message) => (message.type === "content" ? (message.sessions[alice.session]?.transactions ?? []).map((transaction) => transaction.data) : []));
    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    // Whole slices until the event's work is spent: more than one slice, not the whole document.
    const first = bobReceived().length;
    expect(first).toBeGreaterThanOrEqual(LOAD_FIRST_EVENT_ROWS);
    expect(first % LOAD_SLICE_ROWS).toBe(0);
    expect(first).toBeLessThan(total);
    await send("alice", write(transactions(1, "between-slices")));
    expect(await fireDueAlarms()).toBe(1);
    const data = bobReceived();
    expect(data).toHaveLength(total + 1);
    expect(data.filter((text) => text === "between-slices-0")).toHaveLength(1);
    expect(data.at(-1)).toBe("between-slices-0");
    expect(bobMessages().filter((message) => message.type === "known")).toEqual([expect.objectContaining({ doc: doc1.id, sessions: { [alice.session]: total + 1 }, reason: "load" })]);
  });

  it("opens a group of 300 small documents in a few batch frames, every message in order and under the limits", async () => {
    const { connect, send, transport, fireDueAlarms } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const doc = testHeader(alice, GROUP, `small-${i}`);
      ids.push(doc.id);
      await send("alice", writer(alice, doc)(transactions(2, `doc-${i}`), { header: true }));
    }
    transport.frames.length = 0;
    await send("bob", { type: "open", known: {} });
    // The open streams in slices of OPEN_SLICE_DOCS documents, the first now and the rest in alarm events.
    const bobFrames = () => transport.frames.filter((frame) => frame.peer === "bob");
    // Nothing continues by a timer (the object must stay able to hibernate): only the alarm goes on.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(decodedFrames(bobFrames()).some((message) => message.type === "opened")).toBe(false);
    await fireDueAlarms();
    const frames = bobFrames();
    // 601 messages (content and known per document, then opened) in a handful of frames, not 601.
    expect(frames.length).toBeLessThanOrEqual(5 + Math.ceil(300 / OPEN_SLICE_DOCS));
    for (const frame of frames) expect(new TextEncoder().encode(frame.text).length).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    const messages = decodedFrames(frames);
    expect(messages).toHaveLength(601);
    expect(messages.at(-1)).toMatchObject({ type: "opened", docs: 300 });
    ids.sort(); // in id order, so an open can come in parts by id range
    for (let i = 0; i < 300; i++) {
      expect(messages[2 * i]).toMatchObject({ type: "content", doc: ids[i] });
      expect(messages[2 * i + 1]).toMatchObject({ type: "known", doc: ids[i], reason: "load" });
    }
  });

  it("answers a load with its content and known in one frame", async () => {
    const { connect, send, transport } = scenario();
    await connect("alice", alice);
    await connect("bob", bob);
    await send("alice", writer(alice, doc1)(transactions(10), { header: true }));
    transport.frames.length = 0;
    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    expect(transport.frames).toHaveLength(1);
    expect(decodedFrames(transport.frames).map((message) => message.type)).toEqual(["content", "known"]);
  });
});
