// Two tabs of one agent on one local store, and a document one of them removes from it while the other
// still holds it and writes into it: tab A created the document cut off after its agent was made a reader,
// the relay refused it whole, and A discarded it (the store forgets it); tab B, which took it in from the
// store, wrote into it meanwhile. B's writes must survive B's restart, and reach the relay once its agent may
// write again. The real SDK against the relay core in this process, on each kind of store two tabs share.
import { afterEach, describe, expect, it } from "vitest";
import type { Doc } from "../../../client/index.ts";
import { until } from "../../support/wait.ts";
import { deviceStores } from "./device-stores.ts";
import { CUT_OFF_URL, GROUP, bobMadeBy, harnessPerTest } from "./group-harness.ts";

const setup = harnessPerTest();
const TAB_B_URL = "http://cut-off-b.relay.test";
const { devices, removeFolders } = deviceStores("weft-removal");
afterEach(removeFolders);

const data = (doc: Doc | undefined) => doc?.transactions().map((transaction) => String(transaction.data)) ?? [];

describe.each(devices)("a document one tab removes from the store while another holds it ($name)", ({ tabs }) => {
  /**
   * Tab A, cut off after hearing it is a writer, creates a document once its agent was made a reader; tab B
   * starts cut off on the store and takes it in; `beforeDiscard` runs; A is refused and discards it.
   */
  async function discardedBesideTabB(beforeDiscard: (docB: Doc) => void) {
    const made = bobMadeBy(setup(), "writer");
    const { relay, client, aliceGroup, bobIdentity } = await made;
    const storeOf = tabs();
    const hostA = new URL(CUT_OFF_URL).host;
    const hostB = new URL(TAB_B_URL).host;
    const a = await client({ name: "bob-a", identity: bobIdentity, store: storeOf(), url: CUT_OFF_URL });
    await until(() => a.group(GROUP).role === "writer", 5_000);
    relay.unreachable.add(hostA);
    a.group(GROUP).connection.drop();
    await aliceGroup.setRole(bobIdentity.agent, "reader");
    const created = a.group(GROUP).create({});
    created.append("a-1");
    await until(() => a.group(GROUP).allSaved(), 5_000);

    relay.unreachable.add(hostB);
    const b = await client({ name: "bob-b", identity: bobIdentity, store: storeOf(), url: TAB_B_URL });
    const groupB = b.group(GROUP);
    void groupB.openAll().catch(() => {}); // answered once it is back
    await until(() => groupB.docs.some((doc) => doc.id === created.id), 5_000);
    const docB = groupB.docs.find((doc) => doc.id === created.id)!;
    beforeDiscard(docB);
    await until(() => groupB.allSaved(), 5_000);
    relay.unreachable.delete(hostA);
    a.reconnectNow();
    await expect(created.synced()).rejects.toMatchObject({ code: "forbidden" });
    expect(created.refusedWrites()?.wholeDocument).toBe(true);
    await a.group(GROUP).discardRefused(created);
    return { relay, client, aliceGroup, bobIdentity, storeOf, hostB, b, groupB, docB, id: created.id };
  }

  /** Tab B started again on the store, cut off: the document as it holds it then. */
  async function restartedB({ client, bobIdentity, storeOf, id }: Awaited<ReturnType<typeof discardedBesideTabB>>) {
    const again = await client({ name: "bob-b-again", identity: bobIdentity, store: storeOf(), url: TAB_B_URL });
    const groupAgain = again.group(GROUP);
    void groupAgain.openAll().catch(() => {});
    await until(() => groupAgain.docs.some((doc) => doc.id === id), 5_000);
    return { again, groupAgain, docAgain: groupAgain.docs.find((doc) => doc.id === id)! };
  }

  it("keeps what the other tab held there, saved before, once it is told: across its restart", async () => {
    const scene = await discardedBesideTabB((docB) => docB.append("b-0"));
    // B hears of the removal (announceUnsent) and saves all it holds of the document again.
    const probe = scene.storeOf();
    const deadline = Date.now() + 5_000;
    while (!(await probe.loadGroup(GROUP)).some((doc) => doc.id === scene.id)) {
      if (Date.now() > deadline) throw new Error("the store never held the document again");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await probe.close();
    await scene.b.close();
    const { docAgain } = await restartedB(scene);
    expect(data(docAgain)).toContain("b-0");
  });

  it("keeps the other tab's writes there across its restart, and sends them once its agent may write", async () => {
    const scene = await discardedBesideTabB(() => {});
    const { relay, aliceGroup, bobIdentity, hostB, b, groupB, docB, id } = scene;

    // B, still cut off and writing as a writer, writes into the document the store no longer holds.
    docB.append("b-1");
    await until(() => groupB.allSaved(), 5_000);
    await b.close();

    // Started again on the store, B holds its write.
    const { again, docAgain } = await restartedB(scene);
    expect(data(docAgain)).toContain("b-1");

    // Once bob may write, it reaches the relay.
    await aliceGroup.setRole(bobIdentity.agent, "writer");
    relay.unreachable.delete(hostB);
    again.reconnectNow();
    await until(() => docAgain.relayKnown.header && !docAgain.inFlight && !docAgain.hasUnsynced, 5_000);
    const atAlice = await aliceGroup.open(id);
    await until(() => data(atAlice).includes("b-1"), 5_000);
    expect(data(atAlice)).toContain("b-1");
  });
});
