// Frames the relay sends stay inside the protocol's own limits, whatever was stored: size and session count.
import { afterEach, describe, expect, it } from "vitest";
import { MAX_FRAME_BYTES, MAX_SESSIONS_PER_FRAME, MAX_TRANSACTION_BYTES, utf8Length } from "../../protocol/index.ts";
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
    const writers = Array.from({ length: MAX_SESSIONS_PER_FRAME + 1 }, (_, i) => new SessionWriter(testAgent(61, `s-${String(i).padStart(6, "0")}`), id));
    const frame = (list: SessionWriter[]) => ({
      type: "content",
      doc: id,
      sessions: Object.fromEntries(list.map((writer) => [writer.session, writer.append([{ at: 1, data: "x" }])])),
    });
    a.send({ ...frame(writers.slice(0, 500)), header });
    a.send(frame(writers.slice(500, 1_000)));
    a.send(frame(writers.slice(1_000)));
    await a.sync();
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
});
