// The SDK's Group against the real relay core: create, open, sync, reconnect, as transcripts.
import { describe, expect, it } from "vitest";
import { statusOf, harnessPerTest } from "./group-harness.ts";

const setup = harnessPerTest();

describe("a group against the relay core", () => {
  it("creates a document, pushes it after the load, and is live once acked", async () => {
    const { relay, client } = setup();
    const alice = await client({ name: "alice" });
    const group = alice.group("g1");
    await statusOf(group, "live");
    const doc = group.create();
    relay.name(doc.id, "doc1");
    doc.append("one");
    await group.synced();
    expect(relay.transcript()).toEqual([
      "relay -> c1 | challenge",
      "c1 -> relay | hello",
      "relay -> c1 | welcome role=writer",
      "c1 -> relay | load doc1 {}",
      "relay -> c1 | known doc1 (no header) {} load",
      "c1 -> relay | content doc1 +header alice after=0 n=1",
      "relay -> c1 | known doc1 {alice:1} ack",
    ]);
  });
});
