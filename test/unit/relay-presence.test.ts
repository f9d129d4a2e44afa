// Transcript tests of presence in the relay core and its driver (worker/core/presence.ts): the rate budget
// over time, and presence cleared whichever way a peer goes (cut off by the relay, a dead socket).
import { describe, expect, it } from "vitest";
import { PRESENCE_BURST, PRESENCE_UPDATES_PER_SECOND, encodeMessage, type ClientMessage } from "../../protocol/index.ts";
import { transactions } from "../support/identity.ts";
import { NOW, alice, bob, carol, doc1, nothingKnown, scenario, writer } from "./relay-transcript.ts";

/** Alice wrote doc1; Bob and Carol loaded it. */
async function threeReaders() {
  const setup = scenario();
  const { connect, send, transcript } = setup;
  await connect("alice", alice);
  await connect("bob", bob);
  await connect("carol", carol);
  await send("alice", writer(alice, doc1)(transactions(1), { header: true }));
  await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
  await send("carol", { type: "load", doc: doc1.id, known: nothingKnown });
  transcript();
  return setup;
}

describe("presence in the relay core", () => {
  it("spends a budget of PRESENCE_BURST at once, then PRESENCE_UPDATES_PER_SECOND; one rate_limited per run of drops", async () => {
    const { relay, transcript } = await threeReaders();
    const presence = async (state: number, now: number) =>
      relay.dispatch({ type: "frame", peer: "bob", frame: encodeMessage({ type: "presence", doc: doc1.id, state } as ClientMessage), now });
    for (let i = 0; i < PRESENCE_BURST; i++) await presence(i, NOW);
    transcript();
    await presence(100, NOW);
    await presence(101, NOW + 1);
    // One message's worth comes back after 1/rate seconds.
    await presence(102, NOW + 1000 / PRESENCE_UPDATES_PER_SECOND);
    await presence(103, NOW + 1000 / PRESENCE_UPDATES_PER_SECOND);
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> bob | error rate_limited doc1 retryAfter=1 "over 20 presence messages a second: dropped until the rate falls (the state shown before stands)"
      relay -> alice | presence doc1 [bob=102]
      relay -> carol | presence doc1 [bob=102]
      relay -> bob | error rate_limited doc1 retryAfter=1 "over 20 presence messages a second: dropped until the rate falls (the state shown before stands)""
    `);
  });

  it("a peer the relay cuts off, or whose socket dies, is gone for the readers", async () => {
    const { relay, send, transcript, transport } = await threeReaders();
    await send("alice", { type: "presence", doc: doc1.id, state: "a" });
    await send("bob", { type: "presence", doc: doc1.id, state: "b" });
    transcript();
    // A frame that does not decode: Alice is refused and closed, and her presence goes with her.
    await relay.dispatch({ type: "frame", peer: "alice", frame: "not json", now: NOW });
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -> alice | error bad_frame "frame is not valid JSON"
      relay -x alice | close 1007 bad_frame
      relay -> bob | presence doc1 [alice gone]
      relay -> carol | presence doc1 [alice gone]"
    `);
    // Bob's socket fails when Carol's state is fanned out to him.
    transport.failing.add("bob");
    await send("carol", { type: "presence", doc: doc1.id, state: "c" });
    expect(transcript()).toMatchInlineSnapshot(`
      "carol -> relay | presence doc1 "c"
      relay -x bob | close 1011 send failed
      relay -> carol | presence doc1 [bob gone]"
    `);
  });
});
