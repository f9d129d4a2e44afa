// Transcript tests of presence in the relay core and its driver (worker/core/presence.ts): the rate budget
// over time, and presence cleared whichever way a peer goes (cut off by the relay, a dead socket).
import { describe, expect, it } from "vitest";
import { PRESENCE_BURST, PRESENCE_SILENT_MS, PRESENCE_UPDATES_PER_SECOND, encodeMessage, type ClientMessage } from "../../protocol/index.ts";
import { transactions } from "../support/identity.ts";
import { NOW, alice, aliceTwo, bob, carol, doc1, nothingKnown, scenario, writer } from "./relay-transcript.ts";

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

  it("a reader told of a peer in the frame that finds the peer's socket dead hears it leave too", async () => {
    // Bob shows presence in doc1, then his socket dies (the runtime has not said so yet). Carol connects and,
    // in one frame, loads doc1 and shows her own presence: the load's snapshot tells her of Bob, and her
    // presence goes to Bob's dead socket, which the relay finds as it sends the frame's answers. Carol
    // is subscribed to doc1 only once the frame is done: Bob's leaving must reach her all the same.
    const setup = scenario();
    const { connect, send, transcript, transport } = setup;
    await connect("alice", alice);
    await connect("bob", bob);
    await send("alice", writer(alice, doc1)(transactions(1), { header: true }));
    await send("bob", { type: "load", doc: doc1.id, known: nothingKnown });
    await send("bob", { type: "presence", doc: doc1.id, state: "b" });
    await connect("carol", carol);
    transcript();
    transport.failing.add("bob");
    await send("carol", {
      type: "batch",
      messages: [
        { type: "load", doc: doc1.id, known: nothingKnown },
        { type: "presence", doc: doc1.id, state: "c" },
      ],
    });
    const lines = transcript().split("\n");
    const toCarol = lines.filter((line) => line.startsWith("relay -> carol") && line.includes("presence"));
    expect(lines).toContain("relay -x bob | close 1011 send failed");
    expect(toCarol).toEqual(["relay -> carol | presence doc1 [bob=\"b\"]", "relay -> carol | presence doc1 [bob gone]"]);
  });

  it("closes a peer that promised pings and went PRESENCE_SILENT_MS without a frame or a ping; one that pings, talks or never promised stays", async () => {
    const { relay, send, connect, transcript, transport, fireDueAlarms } = scenario();
    const frameAt = (peer: string, message: ClientMessage, now: number) => relay.dispatch({ type: "frame", peer, frame: encodeMessage(message), now });
    await connect("alice", alice, { pings: true });
    await connect("bob", bob, { pings: true });
    await connect("carol", carol, { pings: true });
    await connect("old", aliceTwo); // a client of an earlier release: pings only after silence
    await send("alice", writer(alice, doc1)(transactions(1), { header: true }));
    for (const peer of ["bob", "carol", "old"]) await send(peer, { type: "load", doc: doc1.id, known: nothingKnown });
    transcript();
    transport.alarms.splice(0); // the handshakes' deadlines: all four said hello

    for (const peer of ["alice", "bob", "carol", "old"]) await send(peer, { type: "presence", doc: doc1.id, state: peer });
    transcript();
    // Watched from its first presence on: one alarm asked for each peer that promised pings.
    expect(transport.alarms).toEqual([NOW + PRESENCE_SILENT_MS, NOW + PRESENCE_SILENT_MS, NOW + PRESENCE_SILENT_MS]);

    // Bob sends a frame 20 s later; the runtime answered Carol's ping 30 s later (the object never saw it).
    await frameAt("bob", { type: "dir" }, NOW + 20_000);
    transport.pings.set("carol", NOW + 30_000);
    transcript();
    expect(await fireDueAlarms(NOW + PRESENCE_SILENT_MS - 1)).toBe(0);
    expect(await fireDueAlarms(NOW + PRESENCE_SILENT_MS)).toBe(1);
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -x alice | close 1001 no frame or ping in 90 s
      relay -> bob | presence doc1 [alice gone]
      relay -> carol | presence doc1 [alice gone]
      relay -> old | presence doc1 [alice gone]"
    `);
    // The next alarm: when Bob would have been silent that long.
    expect(transport.alarms).toEqual([NOW + 20_000 + PRESENCE_SILENT_MS]);

    await fireDueAlarms(NOW + 20_000 + PRESENCE_SILENT_MS);
    expect(transcript()).toMatchInlineSnapshot(`
      "relay -x bob | close 1001 no frame or ping in 90 s
      relay -> carol | presence doc1 [bob gone]
      relay -> old | presence doc1 [bob gone]"
    `);
    expect(transport.alarms).toEqual([NOW + 30_000 + PRESENCE_SILENT_MS]);

    // Carol stops showing presence: nobody is watched, and the alarm is not asked for again.
    await frameAt("carol", { type: "presence", doc: doc1.id }, NOW + 60_000);
    transcript();
    await fireDueAlarms(NOW + 30_000 + PRESENCE_SILENT_MS);
    expect(transcript()).toBe("");
    expect(transport.alarms).toEqual([]);
  });
});
