// A device whose clock is off: the relay refuses times more than MAX_CLOCK_AHEAD_MS ahead of its own
// (bad_time), and the SDK stamps its writes by the relay's clock once it has heard it, so such a device's
// writes are taken and sort where they were made. Against the real relay (startRelay: workerd, its own clock).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createClient, createIdentity } from "../../../client/index.ts";
import { MAX_CLOCK_AHEAD_MS } from "../../../protocol/index.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { until } from "../../support/wait.ts";

let relay: LocalRelay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(() => relay?.stop());

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
