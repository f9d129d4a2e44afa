// The SDK's push pacing against the relay core in this process, as transcripts: a stream of appends goes
// out as one frame per interval, and a wall clock set back (NTP, a laptop waking) does not stall it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_TRANSACTIONS_PER_FRAME } from "../../../protocol/index.ts";
import { harnessPerTest, settle, statusOf } from "./group-harness.ts";

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
