// A tab creates a document while cut off after its agent was made a reader: the relay refuses the creation
// when it is back. Once the agent may write again, another tab of the agent (same local store) takes the
// document in and gets it stored. The first tab hears of it only as content fanned out, with the header:
// its refusal no longer stands, and the presence it set there waiting reaches the others.
import { expect, it } from "vitest";
import { createIdentity } from "../../../client/identity.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { until } from "../../support/wait.ts";
import { CUT_OFF_URL, GROUP, harnessPerTest, settle } from "./group-harness.ts";

const setup = harnessPerTest();

async function creationRefusedThenStoredByAnotherTab() {
  const { relay, client, cutOff } = setup();
  const alice = await client({ name: "alice" });
  const aliceGroup = alice.group(GROUP);
  await aliceGroup.createMembers().synced();
  const bob = createIdentity();
  await aliceGroup.setRole(bob.agent, "writer");
  const store = new MemoryLocalStore();
  const first = await client({ name: "first", identity: bob, store, url: CUT_OFF_URL });
  const firstGroup = first.group(GROUP);
  await firstGroup.openAll();

  const back = cutOff(first);
  await aliceGroup.setRole(bob.agent, "reader");
  const made = firstGroup.create();
  relay.name(made.id, "made");
  made.presence.set("here");
  back();
  await until(() => firstGroup.refused().length === 1, 2_000);
  expect(firstGroup.refused()[0]).toMatchObject({ wholeDocument: true, error: { code: "forbidden" } });

  await aliceGroup.setRole(bob.agent, "writer");
  await until(() => firstGroup.role === "writer", 2_000);
  relay.transcript();
  const second = await client({ name: "second", identity: bob, store });
  await second.group(GROUP).openAll();
  await until(() => made.relayKnown.header, 2_000);
  return { relay, aliceGroup, first, firstGroup, made };
}

it("the refusal of the creation is lifted: nothing is held back, synced() resolves and later writes are stored", async () => {
  const { relay, first, firstGroup, made } = await creationRefusedThenStoredByAnotherTab();
  // The second tab sends the header; the first hears it fanned out, and nothing else of it.
  expect(relay.transcript().filter((line) => / (content|known) made/.test(line) && !line.endsWith("load"))).toEqual([
    expect.stringMatching(/^c\d+ -> relay \| content made \+header$/),
    expect.stringMatching(/^relay -> c\d+ \| known made \{\} ack$/),
    expect.stringMatching(/^relay -> c\d+ \| content made \+header$/),
  ]);
  expect(firstGroup.refused()).toEqual([]);
  await made.synced();
  made.append("after");
  await made.synced();
  expect(relay.store.knownState(made.id)).toEqual({ header: true, sessions: { [first.session]: 1 } });
});

it("the presence set there while the relay lacked the document reaches the others", async () => {
  const { aliceGroup, made } = await creationRefusedThenStoredByAnotherTab();
  await settle();
  const aliceDoc = await aliceGroup.open(made.id);
  await settle();
  expect([...aliceDoc.presence.peers.values()].map((peer) => peer.state)).toEqual(["here"]);
});
