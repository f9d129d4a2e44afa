// The SDK's push pacing against the relay core in this process, as transcripts: a stream of appends goes
// out as one frame per interval, and a wall clock set back (NTP, a laptop waking) does not stall it; a
// burst goes MAX_IN_FLIGHT_BYTES at a time over the group's documents.
import { afterEach, describe, expect, it, vi } from "vitest";
import { CHUNK_TARGET_BYTES, MAX_IN_FLIGHT_BYTES, MAX_TRANSACTIONS_PER_FRAME } from "../../../protocol/index.ts";
import { bobMadeBy, harnessPerTest, settle, statusOf } from "./group-harness.ts";
import { until } from "../../support/wait.ts";

const setup = harnessPerTest();
const INTERVAL_MS = 200;

afterEach(() => {
  vi.useRealTimers();
});

/** alice's paced client, live, with doc1 created and stored, and the transcript so far taken. */
async function pacedDoc() {
  const { relay, client } = setup();
  const alice = await client({ name: "alice", pushIntervalMs: INTERVAL_MS });
  const group = alice.group("g1");
  await statusOf(group, "live");
  const doc = group.create();
  relay.name(doc.id, "doc1");
  await doc.synced();
  relay.transcript();
  return { relay, doc };
}

describe("push pacing", () => {
  it("sends the first append at once and gathers the next ones into one frame when the interval ends", async () => {
    const { relay, doc } = await pacedDoc();
    doc.append("a");
    await doc.synced();
    for (const data of ["b", "c", "d"]) {
      doc.append(data);
      await settle(2);
    }
    await doc.synced();
    expect(relay.transcript()).toEqual([
      "c1 -> relay | content doc1 alice after=0 n=1",
      "relay -> c1 | known doc1 {alice:1} ack",
      "c1 -> relay | content doc1 alice after=1 n=3",
      "relay -> c1 | known doc1 {alice:4} ack",
    ]);
  });

  it("keeps pacing on its own clock: a wall clock set back an hour does not hold a write back", { timeout: 10_000 }, async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    const { relay, doc } = await pacedDoc();
    doc.append("a");
    await doc.synced();
    relay.transcript();

    vi.setSystemTime(Date.now() - 3_600_000);
    doc.append("b");
    await doc.synced(); // with pacing on the wall clock, this would wait an hour
    expect(relay.transcript()).toEqual(["c1 -> relay | content doc1 alice after=1 n=1", "relay -> c1 | known doc1 {alice:2} ack"]);
  });

  it(`writes to several documents in one tick, more than ${MAX_TRANSACTIONS_PER_FRAME} transactions together, go in several frames and are all stored`, async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    const docs = [group.create(), group.create(), group.create()];
    await group.synced();
    const each = MAX_TRANSACTIONS_PER_FRAME / 2;
    for (const doc of docs) for (let i = 0; i < each; i++) doc.append(`t${i}`);
    await group.synced();
    for (const doc of docs) expect(relay.store.knownState(doc.id).sessions[alice.session]).toBe(each);
    expect(relay.transcript().join("\n")).not.toMatch(/error/);
    const counts = relay.frames.filter((frame) => frame.from !== "relay").map((frame) => frame.types.filter((type) => type === "content").length);
    expect(counts.filter((count) => count > 0).length).toBeGreaterThan(1);
  });
});

describe("bytes in flight over the group", () => {
  it("a burst over three documents goes MAX_IN_FLIGHT_BYTES at a time, the next once it is all but acked, and every write arrives once", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    const docs = [group.create(), group.create(), group.create()];
    docs.forEach((doc, i) => relay.name(doc.id, `d${i}`));
    await group.synced();
    relay.transcript();

    const CHARS = 40_000;
    const data = docs.map((_, d) => Array.from({ length: 40 }, (_, i) => `${d}.${i}:`.padEnd(CHARS, String(i % 10))));
    for (let i = 0; i < 40; i++) docs.forEach((doc, d) => doc.append(data[d]![i]!));
    await group.synced();

    // Replays the frames as they crossed: what was sent and not yet acked, in data characters.
    const pending = new Map<string, { end: number; chars: number }[]>(); // per document, its frames in flight
    let inFlight = 0;
    let most = 0;
    let sentWhileBusy = 0;
    let pushing = false; // the line before was a frame of the same push
    for (const line of relay.transcript()) {
      const sent = /^c1 -> relay \| content (d\d) alice after=(\d+) n=(\d+)/.exec(line);
      const ack = /^relay -> c1 \| known (d\d) \{alice:(\d+)\} ack/.exec(line);
      if (sent) {
        // A push starts only with little in flight; within it, frames follow one another up to the room.
        if (!pushing && inFlight > CHUNK_TARGET_BYTES / 4) sentWhileBusy++;
        pushing = true;
        const frame = { end: Number(sent[2]) + Number(sent[3]), chars: Number(sent[3]) * CHARS };
        pending.set(sent[1]!, [...(pending.get(sent[1]!) ?? []), frame]);
        inFlight += frame.chars;
        most = Math.max(most, inFlight);
        continue;
      }
      pushing = false;
      if (ack) {
        const frames = pending.get(ack[1]!) ?? [];
        for (const frame of frames) if (frame.end <= Number(ack[2])) inFlight -= frame.chars;
        pending.set(ack[1]!, frames.filter((frame) => frame.end > Number(ack[2])));
      }
    }
    expect(sentWhileBusy).toBe(0);
    expect(most).toBeGreaterThan(MAX_IN_FLIGHT_BYTES / 2); // the burst did fill the room
    expect(most).toBeLessThanOrEqual(MAX_IN_FLIGHT_BYTES + CHUNK_TARGET_BYTES);
    docs.forEach((doc, d) => expect(doc.transactions().map((transaction) => transaction.data)).toEqual(data[d]));
  });
});

describe("writes waiting for room when the writes in flight are refused", () => {
  it("are pushed (and refused in turn) rather than left waiting: every synced() settles", async () => {
    const { relay, client, aliceGroup, bobIdentity } = await bobMadeBy(setup(), "writer");
    const bob = await client({ identity: bobIdentity, name: "bob" });
    const group = bob.group("g1");
    await statusOf(group, "live");
    relay.transcript();

    // Bob writes about three times the room over twelve documents. Once the relay has acked some, Alice
    // makes him a reader (his frames in flight are refused) and then a writer again.
    const docs = Array.from({ length: 12 }, () => group.create());
    for (const doc of docs) for (let i = 0; i < 4; i++) doc.append(`${i}:`.padEnd(60_000, "b"));
    await until(() => relay.lines.some((line) => /^relay -> c2 \| known .* ack$/.test(line)), 5_000);
    await aliceGroup.setRole(bobIdentity.agent, "reader");
    await aliceGroup.setRole(bobIdentity.agent, "writer");

    // None is left waiting for room that the refused writes no longer take: each is acked or refused.
    const outcomes = await Promise.allSettled(docs.map((doc) => doc.synced({ signal: AbortSignal.timeout(5_000) })));
    const codes = outcomes.map((outcome) => (outcome.status === "rejected" ? ((outcome.reason as { code?: string; name?: string }).code ?? (outcome.reason as Error).name) : "synced"));
    expect(codes.filter((code) => code !== "synced" && code !== "forbidden")).toEqual([]);
    expect(codes).toContain("synced");
  });
});
