// Frames the relay sends stay inside the protocol's own limits, whatever was stored: size and session count.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, MAX_SESSIONS_PER_AGENT_PER_DOCUMENT, MAX_SESSIONS_PER_FRAME, batchFrame, encodeForBatch, type ClientMessage, MAX_TRANSACTION_BYTES, utf8Length } from "../../protocol/index.ts";
import { testAgent, testHeader } from "../support/identity.ts";
import { SessionWriter, closeAll, connect, emptyKnown, sqlRows, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(61);
const bob = testAgent(62);

describe("frame limits on what the relay sends", () => {
  it("a load of transactions full of JSON-escaped characters stays under MAX_FRAME_BYTES", async () => {
    const group = uniqueGroup("limits-escape");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    const log = new SessionWriter(alice, id);
    const data = "\u0001".repeat(60_000);
    expect(utf8Length(data)).toBeLessThan(MAX_TRANSACTION_BYTES);
    for (let i = 0; i < 4; i++) {
      const frame = log.content([{ at: i, data }], i === 0 ? header : undefined);
      expect(utf8Length(JSON.stringify(frame))).toBeLessThan(MAX_FRAME_BYTES); // each write is legal
      a.send(frame);
      expect(await a.next("known")).toMatchObject({ reason: "ack", sessions: { [alice.session]: i + 1 } });
    }

    const b = await connect(group, bob);
    b.send({ type: "load", doc: id, known: emptyKnown });
    await b.sync();
    const sizes = b.received.map((frame) => frame.bytes);
    await Promise.all([a.close(), b.close()]);
    expect(b.undecodable).toEqual([]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_FRAME_BYTES);
  });

  it("a document with more than MAX_SESSIONS_PER_FRAME sessions can still be acked, loaded and listed", async () => {
    const group = uniqueGroup("limits-sessions");
    const { id, header } = testHeader(alice, group);
    const a = await connect(group, alice);
    // Two agents' sessions: one agent may write at most MAX_SESSIONS_PER_AGENT_PER_DOCUMENT of them.
    const writers = Array.from({ length: MAX_SESSIONS_PER_FRAME + 1 }, (_, i) => new SessionWriter(testAgent(i % 2 === 0 ? 61 : 63, `s-${String(i).padStart(6, "0")}`), id));
    const frame = (list: SessionWriter[]) => ({
      type: "content",
      doc: id,
      sessions: Object.fromEntries(list.map((writer) => [writer.session, writer.append([{ at: 1, data: "x" }])])),
    });
    const c = await connect(group, testAgent(63));
    a.send({ ...frame(writers.filter((_, i) => i % 2 === 0).slice(0, 250)), header });
    a.send(frame(writers.filter((_, i) => i % 2 === 0).slice(250)));
    await a.sync();
    c.send(frame(writers.filter((_, i) => i % 2 === 1)));
    await c.sync();
    await c.close();
    // All 1,001 sessions were stored: the writes themselves are legal.
    expect(await sqlRows(group, "SELECT count(*) AS n FROM sessions")).toEqual([{ n: MAX_SESSIONS_PER_FRAME + 1 }]);

    const b = await connect(group, bob);
    b.send({ type: "load", doc: id, known: emptyKnown });
    b.send({ type: "dir" });
    await b.sync();
    await Promise.all([a.close(), b.close()]);
    expect(a.undecodable).toEqual([]); // the third ack lists 1,001 sessions
    expect(b.undecodable).toEqual([]); // so do the load's `known` and the `dir` entry
  }, 30_000);

  it("one agent may write at most MAX_SESSIONS_PER_AGENT_PER_DOCUMENT sessions of a document: its next new one is refused whole, another agent's is not", async () => {
    const group = uniqueGroup("limits-agent-sessions");
    const { id, header } = testHeader(alice, group);
    const [a, b] = [await connect(group, alice), await connect(group, bob)];
    const sessionsOf = (count: number, from: number) => Array.from({ length: count }, (_, i) => new SessionWriter(testAgent(61, `many-${String(from + i).padStart(6, "0")}`), id));
    const frame = (list: SessionWriter[], extra = {}) => ({
      type: "content",
      doc: id,
      sessions: Object.fromEntries(list.map((writer) => [writer.session, writer.append([{ at: 1, data: "x" }])])),
      ...extra,
    });
    a.send(frame(sessionsOf(MAX_SESSIONS_PER_AGENT_PER_DOCUMENT - 1, 0), { header }));
    expect(await a.next("known")).toMatchObject({ reason: "ack" });
    // Two new ones where one fits: the message is refused whole.
    a.send(frame(sessionsOf(2, 5_000)));
    expect(await a.next("error")).toMatchObject({ code: "too_many_sessions", doc: id });
    expect(await sqlRows(group, "SELECT count(*) AS n FROM sessions")).toEqual([{ n: MAX_SESSIONS_PER_AGENT_PER_DOCUMENT - 1 }]);
    a.send(frame(sessionsOf(1, 6_000)));
    expect(await a.next("known")).toMatchObject({ reason: "ack" });
    a.send(frame(sessionsOf(1, 7_000)));
    expect(await a.next("error")).toMatchObject({ code: "too_many_sessions", doc: id });
    // An existing session goes on, and another agent's new session is taken.
    const first = sessionsOf(1, 0)[0]!;
    first.append([{ at: 1, data: "x" }]);
    a.send(frame([first]));
    expect(await a.next("known")).toMatchObject({ reason: "ack" });
    b.send(new SessionWriter(bob, id).content([{ at: 2, data: "bob" }]));
    expect(await b.next("known")).toMatchObject({ reason: "ack", sessions: { [bob.session]: 1 } });
    // In one frame, each message is judged by what the ones before it leave: bob's 999 fit, his next does not.
    const bobs = (count: number, from: number) => Array.from({ length: count }, (_, i) => new SessionWriter(testAgent(62, `many-${String(from + i).padStart(6, "0")}`), id));
    b.sendRaw(batchFrame([frame(bobs(MAX_SESSIONS_PER_AGENT_PER_DOCUMENT - 1, 0)), frame(bobs(1, 5_000))].map((message) => encodeForBatch(message as ClientMessage))));
    expect(await b.next("known")).toMatchObject({ reason: "ack" });
    expect(await b.next("error")).toMatchObject({ code: "too_many_sessions", doc: id });
    await Promise.all([a.close(), b.close()]);
  }, 60_000);
});
