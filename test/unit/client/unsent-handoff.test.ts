// Two clients of one agent on one local store (two tabs): one is cut off, writes, and closes; the other is
// live. The writes the closed one left saved but unsent reach the relay through the live one at once,
// instead of waiting for the next client to load the group (a reload, maybe days later).
import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { countOf } from "../../../protocol/index.ts";
import { createIdentity } from "../../../client/identity.ts";
import { IndexedDbLocalStore } from "../../../client/storage/indexeddb-store.ts";
import type { LocalStore } from "../../../client/storage/local-store.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { fakeWebLocks } from "../../support/web-locks.ts";
import { until } from "../../support/wait.ts";
import { GROUP, harnessPerTest } from "./group-harness.ts";

const setup = harnessPerTest();
const CUT_OFF = "http://cut-off.test";

/** Each call is another tab's store on the same device. */
const stores: { name: string; tabs: () => () => LocalStore }[] = [
  { name: "MemoryLocalStore (one instance shared)", tabs: () => ((shared) => () => shared)(new MemoryLocalStore()) },
  {
    name: "IndexedDbLocalStore (an instance per tab)",
    tabs: () => {
      const factory = new IDBFactory();
      const locks = fakeWebLocks();
      return () => new IndexedDbLocalStore("weft-handoff", factory, locks);
    },
  },
];

describe.each(stores)("$name", ({ tabs }) => {
  it("writes a closed tab left unsent into a document the live tab holds are pushed by the live tab", async () => {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const tab = tabs();
    const identity = createIdentity();
    const live = await client({ name: "live", identity, store: tab() });
    const doc = live.group(GROUP).create();
    doc.append("from the live tab");
    await doc.synced();

    const cutOff = await client({ name: "cut", identity, store: tab(), url: CUT_OFF });
    const same = await cutOff.group(GROUP).open(doc.id);
    same.append("written cut off");
    same.append("and closed");
    expect(same.hasUnsynced).toBe(true);
    await cutOff.close();

    await until(() => countOf(doc.relayKnown, cutOff.session) === 2, 5_000);
    expect(relay.store.knownState(doc.id)).toEqual({ header: true, sessions: { [live.session]: 1, [cutOff.session]: 2 } });
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["from the live tab", "written cut off", "and closed"]);
  });

  it("a document a closed tab created unsent is taken in and pushed by a live tab that opened the whole group", async () => {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const tab = tabs();
    const identity = createIdentity();
    const live = await client({ name: "live", identity, store: tab() });
    const group = live.group(GROUP);
    await group.openAll();

    const cutOff = await client({ name: "cut", identity, store: tab(), url: CUT_OFF });
    const created = cutOff.group(GROUP).create({ meta: { title: "made cut off" } });
    created.append("one");
    await cutOff.close();

    await until(() => relay.store.knownState(created.id).sessions[cutOff.session] === 1, 5_000);
    expect(relay.store.knownState(created.id).header).toBe(true);
    expect(group.docs.map((held) => held.id)).toContain(created.id);
  });

  it("a live tab that holds neither the document nor the whole group leaves it to the next client that loads the group", async () => {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const tab = tabs();
    const identity = createIdentity();
    const live = await client({ name: "live", identity, store: tab() });
    await live.group(GROUP).ready;
    const cutOff = await client({ name: "cut", identity, store: tab(), url: CUT_OFF });
    const created = cutOff.group(GROUP).create();
    created.append("one");
    await cutOff.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(relay.store.knownState(created.id).header).toBe(false);
    expect(live.group(GROUP).docs).toEqual([]);

    // The next client of the group loads it from the store and pushes it.
    const next = await client({ name: "next", identity, store: tab() });
    await next.group(GROUP).open(created.id);
    await until(() => relay.store.knownState(created.id).sessions[cutOff.session] === 1, 5_000);
  });
});
