// A device whose clock is off: the relay refuses times more than MAX_CLOCK_AHEAD_MS ahead of its own
// (bad_time), and the SDK stamps its writes by the relay's clock once it has heard it, so such a device's
// writes are taken and sort where they were made. Against the real relay (startRelay: workerd, its own clock).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createClient, createIdentity } from "../../../client/index.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { MAX_CLOCK_AHEAD_MS, RELAY_CLOCK_SLACK_MS } from "../../../protocol/index.ts";
import { RelayClock } from "../../../client/relay-clock.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { until } from "../../support/wait.ts";
import { harness } from "./group-harness.ts";

let relay: LocalRelay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(() => relay?.stop());

/** Date.now as a device two days fast reads it, while `run` runs. */
async function twoDaysFast<T>(run: (realNow: () => number) => Promise<T>): Promise<T> {
  const realNow = Date.now.bind(Date);
  const clock = vi.spyOn(Date, "now").mockImplementation(() => realNow() + MAX_CLOCK_AHEAD_MS * 2);
  try {
    return await run(realNow);
  } finally {
    clock.mockRestore();
  }
}

describe("a device whose clock runs two days ahead", () => {
  it("writes by the relay's clock once connected: acked, and stamped within a minute of the relay's time", async () => {
    const realNow = Date.now.bind(Date);
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      const clock = vi.spyOn(Date, "now").mockImplementation(() => realNow() + MAX_CLOCK_AHEAD_MS * 2);
      try {
        const group = client.group("clock-ahead");
        await until(() => group.status === "live", 10_000);
        const doc = group.create();
        doc.append("written now");
        await doc.synced();
        const [written] = doc.transactions();
        expect(Math.abs(written!.at - realNow())).toBeLessThan(60_000);
        expect(group.refused()).toEqual([]);
      } finally {
        clock.mockRestore();
      }
      // A fresh reader holds it as written.
      const reader = await createClient({ url: relay.url, identity: createIdentity() });
      try {
        const [listed] = (await reader.group("clock-ahead").openAll()).map((doc) => doc.transactions().map((transaction) => transaction.data));
        expect(listed).toEqual(["written now"]);
      } finally {
        await reader.close();
      }
    } finally {
      await client.close();
    }
  });
});

describe("a device two days fast, its relay's time heard by one group", () => {
  it("stamps a group opened later by it from that group's first write, before its own socket is welcomed", async () => {
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      await twoDaysFast(async (realNow) => {
        const first = client.group("clock-first");
        await until(() => first.status === "live", 10_000);
        const later = client.group("clock-later");
        const doc = later.create();
        doc.append("before its welcome");
        await doc.synced();
        expect(Math.abs(doc.transactions()[0]!.at - realNow())).toBeLessThan(60_000);
      });
    } finally {
      await client.close();
    }
  });

  it("writes on, at the relay's time, after discarding a write stamped by the device's clock before any relay was heard (bad_time)", async () => {
    const identity = createIdentity();
    const store = new MemoryLocalStore();
    const before = await createClient({ url: relay.url, identity, store });
    const doc = before.group("clock-discard").create();
    doc.append("written with the right time");
    await doc.synced();
    await before.close();
    const restarted = await createClient({ url: relay.url, identity, store });
    try {
      await twoDaysFast(async (realNow) => {
        const group = restarted.group("clock-discard");
        const held = await group.open(doc.id); // from the store, before the socket's welcome
        held.append("stamped two days ahead");
        await expect(held.synced()).rejects.toMatchObject({ code: "bad_time" });
        await group.discardRefused(held);
        held.append("after the discard");
        await held.synced();
        expect(held.transactions().map((transaction) => transaction.data)).toEqual(["written with the right time", "after the discard"]);
        // Stamped by the relay's time: the discarded write no longer pushes it a day ahead.
        expect(Math.abs(held.transactions()[1]!.at - realNow())).toBeLessThan(60_000);
      });
    } finally {
      await restarted.close();
    }
  });
});

describe("a document created two days fast before any relay was heard", () => {
  it("is refused whole (bad_time); once discarded, its Doc's calls settle at once with unknown_doc, and the group writes on", async () => {
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      await twoDaysFast(async () => {
        const group = client.group("clock-discard-whole");
        const doc = group.create();
        doc.append("stamped two days ahead");
        await expect(doc.synced()).rejects.toMatchObject({ code: "bad_time" });
        expect(group.refused().map((refused) => refused.wholeDocument)).toEqual([true]);
        await group.discardRefused(doc);
        await expect(doc.synced()).rejects.toMatchObject({ name: "LocalRefusalError", code: "unknown_doc" });
        expect(() => doc.append("again")).toThrow(expect.objectContaining({ code: "unknown_doc" }));
        const next = group.create();
        next.append("at the relay's time");
        await next.synced();
        await group.synced();
      });
    } finally {
      await client.close();
    }
  });
});

describe("a device whose clock changes after the relay's was heard", () => {
  /** A client live in a group, its device's clock reading `offset` ms off while it connected. */
  async function connectedWithClockOff(offset: number, group: string) {
    const realNow = Date.now.bind(Date);
    const off = vi.spyOn(Date, "now").mockImplementation(() => realNow() + offset);
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    await until(() => client.group(group).status === "live", 10_000);
    return { client, realNow, clockSetRight: () => off.mockRestore() };
  }

  it("set back (a clock that ran fast put right): writes are stamped by the relay's time as heard", async () => {
    const { client, realNow, clockSetRight } = await connectedWithClockOff(MAX_CLOCK_AHEAD_MS * 3, "clock-set-back");
    try {
      clockSetRight();
      const doc = client.group("clock-set-back").create();
      doc.append("after the clock was set back");
      await doc.synced();
      expect(Math.abs(doc.transactions()[0]!.at - realNow())).toBeLessThan(60_000);
    } finally {
      clockSetRight();
      await client.close();
    }
  });

  it("set forward three days (a clock set wrong, or put right): stamped at most a day, less the slack, past the relay's time, and taken", async () => {
    const { client, realNow, clockSetRight } = await connectedWithClockOff(-MAX_CLOCK_AHEAD_MS * 3, "clock-set-forward");
    try {
      const group = client.group("clock-set-forward");
      const doc = group.create();
      await doc.synced();
      let reconnects = 0;
      group.onStatus((status) => void (status === "connecting" && reconnects++));
      clockSetRight(); // taken for a sleep, but only so far as the relay takes
      doc.append("three days ahead by the wall clock");
      await doc.synced();
      const at = doc.transactions()[0]!.at;
      expect(at).toBeGreaterThan(realNow() + MAX_CLOCK_AHEAD_MS - RELAY_CLOCK_SLACK_MS - 60_000);
      expect(at).toBeLessThanOrEqual(realNow() + MAX_CLOCK_AHEAD_MS - RELAY_CLOCK_SLACK_MS);
      expect(reconnects).toBe(0);
      expect(group.refused()).toEqual([]);
    } finally {
      clockSetRight();
      await client.close();
    }
  });

  it("set forward three days while the relay was down: the writes made offline reach the relay once it is back, with those made after", async () => {
    const persistTo = mkdtempSync(join(tmpdir(), "weft-clock-"));
    let own = await startRelay({ persistTo });
    const port = Number(new URL(own.url).port);
    const client = await createClient({ url: own.url, identity: createIdentity(), backoff: { baseMs: 50, capMs: 200 } });
    const realNow = Date.now.bind(Date);
    const forward = vi.spyOn(Date, "now").mockImplementation(realNow);
    try {
      const group = client.group("clock-offline");
      const doc = group.create();
      doc.append("online");
      await doc.synced();
      await own.stop();
      await until(() => group.status !== "live", 10_000);
      forward.mockImplementation(() => realNow() + MAX_CLOCK_AHEAD_MS * 3);
      doc.append("typed offline");
      own = await startRelay({ persistTo, port });
      await doc.synced();
      doc.append("typed after reconnecting");
      await doc.synced();
      expect(group.refused()).toEqual([]);
      const reader = await createClient({ url: own.url, identity: createIdentity() });
      try {
        const copy = await reader.group("clock-offline").open(doc.id);
        expect(copy.transactions().map((transaction) => transaction.data)).toEqual(["online", "typed offline", "typed after reconnecting"]);
      } finally {
        await reader.close();
      }
    } finally {
      forward.mockRestore();
      await client.close();
      await own.stop();
      rmSync(persistTo, { recursive: true, force: true });
    }
  });

  it("after the device slept (its wall clock went on, the monotonic clock did not): stamped by how far the wall clock went", async () => {
    const client = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      const group = client.group("clock-slept");
      const doc = group.create();
      await doc.synced();
      const realNow = Date.now.bind(Date);
      const sleep = 10 * 60 * 60 * 1000;
      const woken = vi.spyOn(Date, "now").mockImplementation(() => realNow() + sleep);
      try {
        doc.append("after waking");
        expect(Math.abs(doc.transactions()[0]!.at - (realNow() + sleep))).toBeLessThan(60_000);
      } finally {
        woken.mockRestore();
      }
    } finally {
      await client.close();
    }
  });
});

describe("a document holding a time far past what the relay takes (stored before it refused such times)", () => {
  it("is still written: new writes are stamped as far ahead as the relay takes, not after that time, and acked", async () => {
    const { client, closeAll } = harness(); // a relay in this process: its clock is Date.now too
    try {
      const realNow = Date.now.bind(Date);
      const early = await client();
      const group = early.group("g1");
      const doc = group.create();
      const ahead = vi.spyOn(Date, "now").mockImplementation(() => realNow() + MAX_CLOCK_AHEAD_MS * 3);
      try {
        doc.append("from three days ahead"); // the relay's clock is ahead too: taken
        await doc.synced();
      } finally {
        ahead.mockRestore();
      }
      const later = await client();
      const held = await later.group("g1").open(doc.id);
      held.append("written today");
      await held.synced();
      expect(later.group("g1").refused()).toEqual([]);
      expect(held.transactions().map((transaction) => transaction.data)).toEqual(["written today", "from three days ahead"]);
    } finally {
      closeAll();
    }
  });
});

describe("a membership log holding a time far past what the relay takes (stored before it refused such times)", () => {
  it("still takes an admin's changes, right after that time", async () => {
    const { client, closeAll } = harness(); // a relay in this process: its clock is Date.now too
    try {
      const realNow = Date.now.bind(Date);
      const identity = createIdentity();
      const alice = await client({ identity });
      const group = alice.group("g1");
      const ahead = vi.spyOn(Date, "now").mockImplementation(() => realNow() + MAX_CLOCK_AHEAD_MS * 3);
      try {
        const log = group.createMembers();
        await group.setRole(createIdentity().agent, "writer");
        await log.synced();
      } finally {
        ahead.mockRestore();
      }
      const again = (await client({ identity })).group("g1");
      const bob = createIdentity().agent;
      await again.setRole(bob, "reader");
      expect((await again.members()).get(bob)).toBe("reader");
      expect(again.refused()).toEqual([]);
    } finally {
      closeAll();
    }
  });
});

describe("the relay's clock as a client runs it on", () => {
  /** Date.now and performance.now moved by `wall` and `monotonic` ms from here on. */
  function clocksMoved(wall: number, monotonic: number) {
    const realNow = Date.now.bind(Date);
    const realMonotonic = performance.now.bind(performance);
    const spies = [vi.spyOn(Date, "now").mockImplementation(() => realNow() + wall), vi.spyOn(performance, "now").mockImplementation(() => realMonotonic() + monotonic)];
    return { restore: () => spies.forEach((spy) => spy.mockRestore()) };
  }

  it("takes the wall clock's advance past the monotonic one for a sleep, up to a day less the slack; after a refused time, only the monotonic clock's until heard again", () => {
    const clock = new RelayClock();
    const relayNow = Date.now() - 5_000;
    clock.heard(relayNow);
    const slept = clocksMoved(10 * 60 * 60 * 1000, 0);
    try {
      expect(clock.now() - relayNow).toBeGreaterThanOrEqual(10 * 60 * 60 * 1000);
      expect(clock.now() - relayNow).toBeLessThan(10 * 60 * 60 * 1000 + 1_000);
    } finally {
      slept.restore();
    }
    const setForward = clocksMoved(MAX_CLOCK_AHEAD_MS * 3, 0);
    try {
      expect(clock.now() - relayNow).toBeGreaterThanOrEqual(MAX_CLOCK_AHEAD_MS - RELAY_CLOCK_SLACK_MS);
      expect(clock.now() - relayNow).toBeLessThan(MAX_CLOCK_AHEAD_MS - RELAY_CLOCK_SLACK_MS + 1_000);
      clock.distrustWall();
      expect(clock.now() - relayNow).toBeLessThan(1_000);
      clock.heard(relayNow + 2_000);
      expect(clock.now() - relayNow - 2_000).toBeGreaterThanOrEqual(0);
      expect(clock.now() - relayNow - 2_000).toBeLessThan(1_000);
    } finally {
      setForward.restore();
    }
  });
});
