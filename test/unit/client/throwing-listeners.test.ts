// An app listener that throws is called from inside the SDK's work (a status change, a frame applied, a
// close): the SDK finishes that work, every other listener is called, and the error surfaces after.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ClosedError } from "../../../client/index.ts";
import { listenerErrors } from "../../../client/listeners.ts";
import { until } from "../../support/wait.ts";
import { harnessPerTest, statusOf } from "./group-harness.ts";

const setup = harnessPerTest();
const report = listenerErrors.report;
let thrown: unknown[] = [];
beforeEach(() => {
  thrown = [];
  listenerErrors.report = (error) => void thrown.push(error);
});
afterEach(() => {
  listenerErrors.report = report;
});

describe("a listener that throws", () => {
  it("on a status change: the group still reconnects, and its writes reach the relay", async () => {
    const { relay, client } = setup();
    const alice = await client();
    const group = alice.group("g1");
    const statuses: string[] = [];
    group.onStatus((status) => {
      if (status === "offline") throw new Error("listener boom");
    });
    group.onStatus((status) => void statuses.push(status));
    await statusOf(group, "live");
    const doc = group.create();
    await doc.synced();
    relay.down = true;
    group.connection.drop();
    doc.append("while down");
    relay.down = false;
    await doc.synced({ signal: AbortSignal.timeout(5_000) });
    expect(statuses).toContain("offline"); // the listener after the throwing one heard it too
    expect(thrown).toEqual([expect.objectContaining({ message: "listener boom" })]);
  });

  it("on close: client.close() does not throw, and every pending promise settles with a ClosedError", async () => {
    const { relay, client } = setup();
    relay.down = true;
    const alice = await client();
    const group = alice.group("g1");
    group.onStatus((status) => {
      if (status === "closed") throw new Error("listener boom");
    });
    const pending = [group.directory(), group.openAll()].map((promise) => promise.then(() => "resolved", (error: unknown) => error));
    await expect(alice.close()).resolves.toBeUndefined();
    for (const outcome of await Promise.all(pending)) expect(outcome).toBeInstanceOf(ClosedError);
    expect(thrown).toHaveLength(1);
  });

  it("on a change: the rest of the frame is applied, and the view is the relay's", async () => {
    const { client } = setup();
    const [alice, bob] = [await client({ name: "alice" }), await client({ name: "bob" })];
    const written = alice.group("g1");
    const docs = Array.from({ length: 5 }, () => written.create());
    await written.synced();
    const read = bob.group("g1");
    const held = await read.openAll();
    for (const doc of held) doc.subscribe(() => {
      throw new Error("listener boom");
    });
    for (const doc of docs) doc.append("together"); // one tick: one frame to bob
    await until(() => held.every((doc) => doc.transactions().some((transaction) => transaction.data === "together")));
    expect(thrown.length).toBeGreaterThanOrEqual(5);
    // append() itself does not throw what a listener of its own change throws.
    const mine = held[0]!;
    expect(() => mine.append("from bob")).not.toThrow();
    await mine.synced();
  });

  it("on its first call, made by presence.subscribe itself: subscribe returns the function that stops it, and the error surfaces", async () => {
    const { client } = setup();
    const alice = await client();
    const doc = alice.group("g1").create();
    await doc.synced();
    const bob = await client();
    const bobDoc = await bob.group("g1").open(doc.id);
    let calls = 0;
    const stop = doc.presence.subscribe(() => {
      calls++;
      throw new Error("listener boom");
    });
    expect(calls).toBe(1);
    expect(thrown).toEqual([expect.objectContaining({ message: "listener boom" })]);
    stop();
    bobDoc.presence.set("bob is here");
    await until(() => doc.presence.peers.size === 1, 2_000);
    expect(calls).toBe(1);
  });
});
