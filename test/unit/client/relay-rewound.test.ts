// Transcript tests of the client core against a relay that went back in time: a group restored from a backup
// (docs/deploy.md), or an in-memory relay restarted empty. A load's answer or a correction naming less than
// the client recorded lowers its record, and it resends from there; `unknown_doc` for a document this agent
// created sends the header and the own writes again. Nothing loops: on a healthy relay a load's answer that
// raced with a push settles after one correction, and what cannot be given back is not pushed again and again.
import { describe, expect, it } from "vitest";
import type { Content, DocId, ServerMessage, SessionCounts } from "../../../protocol/index.ts";
import { hasUnsynced } from "../../../client/core/doc-state.ts";
import type { CoreEffect } from "../../../client/core/effects.ts";
import { PUSH_BATCH } from "../../../client/core/push.ts";
import { testHeader, transactions } from "../../support/identity.ts";
import { ack, alice, bob, coreScenario, doc1, knownLoad } from "./core-transcript.ts";

const correction = (doc: DocId, sessions: SessionCounts, header = true): ServerMessage & { type: "known" } => ({ type: "known", doc, header, sessions, reason: "correction" });
const unknownDoc = (doc: DocId): ServerMessage & { type: "error" } => ({ type: "error", code: "unknown_doc", message: "send the header with the first content of a document", doc });
const contents = (effects: CoreEffect[]) => effects.filter((effect) => effect.type === "send" && effect.message.type === "content");
const sentContents = (effects: CoreEffect[]): Content[] => effects.flatMap((effect) => (effect.type === "send" && effect.message.type === "content" ? [effect.message] : []));

/**
 * A relay holding `count` of alice's doc1 that answers her pushed frames in order, as relay-core.ts does: an
 * ack when a frame follows what it holds, else a correction with its count. The core pushes after each
 * answer; this runs until nothing is in flight (or throws past 100 frames). Returns the frames answered.
 */
function exchange(core: ReturnType<typeof coreScenario>, count: number, inFlight: Content[]): { pushed: number; count: number } {
  let pushed = 0;
  for (let frame = inFlight.shift(); frame; frame = inFlight.shift()) {
    if (++pushed > 100) throw new Error("the client keeps pushing");
    const chunk = frame.sessions[alice.session]!;
    if (chunk.after !== count) core.relay(correction(doc1.id, { [alice.session]: count }));
    else core.relay(ack(doc1.id, { [alice.session]: (count += chunk.transactions.length) }));
    inFlight.push(...sentContents(core.pump()));
  }
  return { pushed, count };
}

/** Alice's core with doc1 holding `count` own transactions (saved), connected, its load answered with all of them. */
function syncedWriter(count: number) {
  const core = coreScenario();
  core.start([{ id: doc1.id, header: doc1.header, sessions: { [alice.session]: transactions(count) } }]);
  core.connect();
  core.relay(knownLoad(doc1.id, true, { [alice.session]: count }));
  core.pump();
  core.transcript();
  return core;
}

describe("a relay restored from an older backup", () => {
  it("a correction naming less than was acked: the writes the relay lost go up again and synced() settles", () => {
    const core = syncedWriter(3);
    core.append(doc1.id, "four");
    core.pump();
    core.relay(correction(doc1.id, { [alice.session]: 1 }));
    core.pump();
    core.relay(ack(doc1.id, { [alice.session]: 4 }));
    expect(contents(core.pump())).toEqual([]);
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | append doc1 "four"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "store | saved doc1",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=3 n=1",
        "relay -> c | known doc1 {alice:1} correction",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:1}",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=1 n=3",
        "relay -> c | known doc1 {alice:4} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:4}",
        "shell | push doc1",
      ]
    `);
  });

  it("a load's answer naming less than was acked: the client resends without a new write", () => {
    const core = syncedWriter(3);
    core.feed({ type: "down" });
    core.connect();
    core.relay(knownLoad(doc1.id, true, { [alice.session]: 1 }));
    core.pump();
    core.relay(ack(doc1.id, { [alice.session]: 3 }));
    expect(contents(core.pump())).toEqual([]);
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | down",
        "socket | hello sent",
        "c -> relay | load doc1 {alice:3}",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc1 {alice:1} load",
        "c | status live",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:1}",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=1 n=2",
        "relay -> c | known doc1 {alice:3} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:3}",
        "shell | push doc1",
      ]
    `);
  });

  it("corrections of pushes sent before the resend: everything goes up, and the exchange ends", () => {
    const core = syncedWriter(3);
    for (let i = 0; i < 2 * PUSH_BATCH; i++) core.append(doc1.id, `w-${i}`);
    const inFlight = sentContents(core.pump());
    expect(inFlight.map((frame) => frame.sessions[alice.session]!.after)).toEqual([3, 3 + PUSH_BATCH]);
    // The relay went back to 1 transaction: both frames in flight are corrected, the second after the resend left.
    const { pushed, count } = exchange(core, 1, inFlight);
    expect(count).toBe(3 + 2 * PUSH_BATCH);
    expect(core.state.docs.get(doc1.id)!.relay.sessions[alice.session]).toBe(count);
    expect(hasUnsynced(core.state.docs.get(doc1.id)!, alice.session)).toBe(false);
    // The two corrected frames, and for each correction one resend of the tail from 1 (three frames): the
    // second resend is answered by corrections naming the whole count, which ask for nothing more.
    expect(pushed).toBeLessThanOrEqual(2 + 2 * 3);
  });

  it("a relay that lost what the own session's snapshot stands for is not pushed to again and again", () => {
    const core = coreScenario();
    const covers = { [alice.session]: 2 };
    const snapshot = { doc: doc1.id, session: alice.session, covers, data: "{}", signature: "A".repeat(86) };
    // A full frame's worth after the snapshot: it would leave at once, in flight or not.
    core.start([{ id: doc1.id, header: doc1.header, sessions: { [alice.session]: transactions(PUSH_BATCH, "after") }, snapshot: { snapshot, bases: covers, baseHashes: {} } }]);
    core.connect();
    core.relay(knownLoad(doc1.id, true, { [alice.session]: 1 }));
    expect(exchange(core, 1, sentContents(core.pump())).pushed).toBe(0);
    core.append(doc1.id, "more");
    expect(exchange(core, 1, sentContents(core.pump())).pushed).toBe(0);
  });

  it("a relay that lost what the own session's snapshot stands for: the writes after it are told lost once, and synced() rejects until it holds them", () => {
    const core = coreScenario();
    const covers = { [alice.session]: 2 };
    const snapshot = { doc: doc1.id, session: alice.session, covers, data: "{}", signature: "A".repeat(86) };
    core.start([{ id: doc1.id, header: doc1.header, sessions: { [alice.session]: transactions(1, "after") }, snapshot: { snapshot, bases: covers, baseHashes: {} } }]);
    core.connect();
    core.pump();
    core.transcript();
    core.relay(knownLoad(doc1.id, true, { [alice.session]: 1 }));
    core.pump();
    core.append(doc1.id, "more");
    core.pump();
    core.relay(knownLoad(doc1.id, true, { [alice.session]: 1 }));
    core.pump();
    const told = core.transcript().filter((line) => /report|synced/.test(line));
    expect(told).toEqual(["c | report internal doc1", "c | synced:doc1 rejects internal"]);
    expect(core.state.docs.get(doc1.id)!.behindSnapshot?.message).toMatch(/^internal: the relay holds 1 of this client's writes to .*, fewer than the 2 of the snapshot .*: the 1 write made after the snapshot cannot go up/);
    // Another device of the agent gave the relay the rest: what follows goes up, and the error is gone.
    core.relay(knownLoad(doc1.id, true, { [alice.session]: 2 }));
    expect(sentContents(core.pump()).map((content) => content.sessions[alice.session]?.after)).toEqual([2]);
    expect(core.state.docs.get(doc1.id)!.behindSnapshot).toBeUndefined();
  });

  it("a snapshot covering more of the own session than the store holds (the store behind the relay's copy): told once, synced() rejects, nothing counted as stored", () => {
    const core = coreScenario();
    core.start([{ id: doc1.id, header: doc1.header, sessions: { [alice.session]: transactions(2, "kept") } }]);
    core.connect();
    core.pump();
    core.append(doc1.id, "written since");
    core.pump();
    core.transcript();
    // The relay answers the load as relay-core does: the snapshot (it stands for alice's 5), then what it holds.
    const snapshot = { type: "snapshot" as const, doc: doc1.id, session: bob.session, covers: { [alice.session]: 5 }, data: "{}", signature: "A".repeat(86) };
    for (let answer = 0; answer < 2; answer++) {
      core.feed({ type: "snapshotReceived", snapshot, verified: true });
      core.relay(knownLoad(doc1.id, true, { [alice.session]: 5 }));
      core.pump();
    }
    expect(core.transcript().filter((line) => /report|synced/.test(line))).toEqual(["c | report internal doc1", "c | synced:doc1 rejects internal"]);
    const doc = core.state.docs.get(doc1.id)!;
    expect(doc.storeBehind?.message).toMatch(/^internal: the local store holds 3 of this client's writes to .*, fewer than the relay's snapshot covers \(5\): .*the 3 writes it holds past what the relay confirmed, and any made here from now on, cannot go up/);
    expect(doc.storeBehind?.name).toBe("LocalStoreError");
    expect(hasUnsynced(doc, alice.session)).toBe(true);
  });

  it("a store that kept such a snapshot says so at the next start, before the relay answers, and counts only what it had confirmed", () => {
    const core = coreScenario();
    const snapshot = { doc: doc1.id, session: bob.session, covers: { [alice.session]: 5 }, data: "{}", signature: "A".repeat(86) };
    core.start([{ id: doc1.id, header: doc1.header, sessions: { [alice.session]: transactions(3, "kept") }, snapshot: { snapshot, bases: {}, baseHashes: {} }, relayHeld: { header: true, sessions: { [alice.session]: 2 } } }]);
    expect(core.transcript().filter((line) => /report|synced/.test(line))).toEqual(["c | report internal doc1", "c | synced:doc1 rejects internal"]);
    const doc = core.state.docs.get(doc1.id)!;
    expect(doc.storeBehind?.message).toMatch(/the local store holds 3 of this client's writes to .*, fewer than the relay's snapshot covers \(5\): .*the 1 write it holds past what the relay confirmed/);
    expect(hasUnsynced(doc, alice.session)).toBe(true);
  });
});

describe("on a healthy relay", () => {
  it("a load's answer that raced with a push settles after one correction", () => {
    const core = syncedWriter(3);
    core.feed({ type: "down" });
    core.connect(); // the load goes out first
    core.append(doc1.id, "four");
    core.pump(); // the push follows it
    // The relay answers the load, then the push; the client pushed again from the load's count meanwhile.
    core.relay(knownLoad(doc1.id, true, { [alice.session]: 3 }));
    core.pump();
    core.relay(ack(doc1.id, { [alice.session]: 4 }));
    core.relay(correction(doc1.id, { [alice.session]: 4 }));
    expect(contents(core.pump())).toEqual([]);
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | down",
        "socket | hello sent",
        "c -> relay | load doc1 {alice:3}",
        "relay -> c | welcome v=1 role=writer",
        "app | append doc1 "four"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "store | saved doc1",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=3 n=1",
        "relay -> c | known doc1 {alice:3} load",
        "c | status live",
        "c | flush doc1",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=3 n=1",
        "relay -> c | known doc1 {alice:4} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "relay -> c | known doc1 {alice:4} correction",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:4}",
        "shell | push doc1",
      ]
    `);
  });

  it("an ack never lowers what the relay is known to hold", () => {
    const core = syncedWriter(3);
    core.relay(ack(doc1.id, { [alice.session]: 1 }));
    expect(contents(core.pump())).toEqual([]);
    expect(core.state.docs.get(doc1.id)!.relay.sessions[alice.session]).toBe(3);
  });
});

describe("a relay that lost the document", () => {
  it("unknown_doc for a document this agent created: its header and every own write go up again, once", () => {
    const core = syncedWriter(2);
    core.append(doc1.id, "three");
    core.pump();
    core.append(doc1.id, "four");
    core.relay(unknownDoc(doc1.id));
    core.pump();
    // A second unknown_doc answers a push sent before the resend: nothing more goes.
    core.relay(unknownDoc(doc1.id));
    core.pump();
    core.relay(ack(doc1.id, { [alice.session]: 4 }));
    expect(contents(core.pump())).toEqual([]);
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "app | append doc1 "three"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "store | saved doc1",
        "shell | push doc1",
        "c -> relay | content doc1 alice after=2 n=1",
        "app | append doc1 "four"",
        "c | changed doc1 +1",
        "c | flush doc1",
        "relay -> c | error unknown_doc doc1 "send the header with the first content of a document"",
        "c | flush doc1",
        "store | saved doc1",
        "shell | push doc1",
        "c -> relay | content doc1 +header alice after=0 n=4",
        "relay -> c | error unknown_doc doc1 "send the header with the first content of a document"",
        "shell | push ",
        "relay -> c | known doc1 {alice:4} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:4}",
        "shell | push doc1",
      ]
    `);
  });

  it("a load's answer without the header, for a document this agent created: it is created again", () => {
    const core = syncedWriter(2);
    core.feed({ type: "down" });
    core.connect();
    core.relay(knownLoad(doc1.id, false));
    core.pump();
    core.relay(ack(doc1.id, { [alice.session]: 2 }));
    expect(contents(core.pump())).toEqual([]);
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | down",
        "socket | hello sent",
        "c -> relay | load doc1 {alice:2}",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known doc1 (no header) {} load",
        "c | status live",
        "c | flush doc1",
        "store | saved doc1: relay holds (no header) {alice:0}",
        "shell | push doc1",
        "c -> relay | content doc1 +header alice after=0 n=2",
        "relay -> c | known doc1 {alice:2} ack",
        "c | synced:doc1 resolves",
        "c | flush doc1",
        "store | saved doc1: relay holds {alice:2}",
        "shell | push doc1",
      ]
    `);
  });

  it("unknown_doc for a document another agent created: its writes are refused, held back and told once, its header never sent, nothing loops", () => {
    const theirs = testHeader(bob, "g1", "nonce-bob");
    const core = coreScenario();
    core.name(theirs.id, "bobdoc");
    core.start([{ id: theirs.id, header: theirs.header, sessions: { [alice.session]: transactions(1) } }]);
    core.connect();
    core.relay(knownLoad(theirs.id, true, { [alice.session]: 1 }));
    core.pump();
    core.transcript();
    core.feed({ type: "down" });
    core.connect();
    core.relay(knownLoad(theirs.id, false));
    core.pump();
    core.relay(unknownDoc(theirs.id));
    expect(contents(core.pump())).toEqual([]);
    core.append(theirs.id, "two");
    expect(contents(core.pump())).toEqual([]); // held back behind the refused write: nothing more goes
    expect(core.transcript()).toMatchInlineSnapshot(`
      [
        "socket | down",
        "socket | hello sent",
        "c -> relay | load bobdoc {alice:1}",
        "relay -> c | welcome v=1 role=writer",
        "relay -> c | known bobdoc (no header) {} load",
        "c | status live",
        "c | flush bobdoc",
        "store | saved bobdoc: relay holds (no header) {alice:0}",
        "shell | push bobdoc",
        "c -> relay | content bobdoc alice after=0 n=1",
        "relay -> c | error unknown_doc bobdoc "send the header with the first content of a document"",
        "c | synced:bobdoc rejects unknown_doc",
        "c | refused bobdoc n=1 unknown_doc",
        "c | report unknown_doc bobdoc",
        "shell | push ",
        "app | append bobdoc "two"",
        "c | changed bobdoc +1",
        "c | flush bobdoc",
        "store | saved bobdoc",
        "shell | push bobdoc",
      ]
    `);
  });
});
