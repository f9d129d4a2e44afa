// Two clients of one agent on one local store (two tabs): one is cut off, writes, and closes; the other is
// live. The writes the closed one left saved but unsent reach the relay through the live one at once,
// instead of waiting for the next client to load the group (a reload, maybe days later).
import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { countOf, docIdOf, newHeader, type AgentId } from "../../../protocol/index.ts";
import { createIdentity } from "../../../client/identity.ts";
import { IndexedDbLocalStore } from "../../../client/storage/indexeddb-store.ts";
import { holdAlive, tellLeased } from "../../../client/storage/session-watch.ts";
import type { LocalStore, StoredDoc } from "../../../client/storage/local-store.ts";
import { ClosedError } from "../../../client/errors.ts";
import { MemoryLocalStore } from "../../../client/storage/memory-store.ts";
import { fakeWebLocks } from "../../support/web-locks.ts";
import { until } from "../../support/wait.ts";
import { CUT_OFF_URL, GROUP, harnessPerTest, settle, statusOf } from "./group-harness.ts";

const setup = harnessPerTest();
const CUT_OFF = "http://cut-off.test";

/** The id of a document no client ever created (`createdAt` tells several apart). */
const neverId = (agent: AgentId, createdAt = 1) => docIdOf(newHeader({ group: GROUP, kind: "json", creator: agent, createdAt }));

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
  /** A tab of a new agent on a new device's store (`url`: where it connects); tabs at CUT_OFF reach nothing. */
  async function liveTab(url?: string) {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const tab = tabs();
    const identity = createIdentity();
    const live = await client({ name: "live", identity, store: tab(), ...(url ? { url } : {}) });
    /** Another tab of the agent, cut off, creates a document with one write, saved and unsent. */
    const createdCutOff = async () => {
      const cutOff = await client({ name: "cut", identity, store: tab(), url: CUT_OFF });
      const created = cutOff.group(GROUP).create();
      created.append("one");
      return { cutOff, created };
    };
    return { relay, client, tab, identity, live, group: live.group(GROUP), createdCutOff };
  }

  it("writes a closed tab left unsent into a document the live tab holds are pushed by the live tab", async () => {
    const { relay, client, tab, identity, live } = await liveTab();
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
    const { relay, group, createdCutOff } = await liveTab();
    await group.openAll();
    const { cutOff, created } = await createdCutOff();
    await cutOff.close();

    await until(() => relay.store.knownState(created.id).sessions[cutOff.session] === 1, 5_000);
    expect(relay.store.knownState(created.id).header).toBe(true);
    expect(group.docs.map((held) => held.id)).toContain(created.id);
  });

  it("a live tab that holds neither the document nor the whole group leaves it to the next client that loads the group", async () => {
    const { relay, client, tab, identity, live, createdCutOff } = await liveTab();
    await live.group(GROUP).ready;
    const { cutOff, created } = await createdCutOff();
    await cutOff.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(relay.store.knownState(created.id).header).toBe(false);
    expect(live.group(GROUP).docs).toEqual([]);

    // The next client of the group loads it from the store and pushes it.
    const next = await client({ name: "next", identity, store: tab() });
    await next.group(GROUP).open(created.id);
    await until(() => relay.store.knownState(created.id).sessions[cutOff.session] === 1, 5_000);
  });

  it("a live tab that holds neither asks open() for a document a closed tab created unsent: it is read from the store, offline too, and pushed", async () => {
    const { relay, group, createdCutOff } = await liveTab(CUT_OFF_URL);
    await group.ready;
    const { cutOff, created } = await createdCutOff();
    await cutOff.close();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the announcement arrives
    relay.unreachable.add(new URL(CUT_OFF_URL).host);
    group.connection.drop();
    const opened = await group.open(created.id, { signal: AbortSignal.timeout(2_000) }); // offline
    expect(opened.transactions().map((transaction) => transaction.data)).toEqual(["one"]);
    relay.unreachable.delete(new URL(CUT_OFF_URL).host);
    group.reconnectNow();
    await until(() => relay.store.knownState(created.id).sessions[cutOff.session] === 1, 5_000);
  });

  it("a tab asks open() for a document another tab, still open but cut off, created: the relay has none, so it is read from the store and pushed", async () => {
    const { relay, identity, group, createdCutOff } = await liveTab();
    await statusOf(group, "live");
    const { cutOff, created } = await createdCutOff();
    await settle(); // saved
    await new Promise((resolve) => setTimeout(resolve, 50));
    const opened = await group.open(created.id, { signal: AbortSignal.timeout(2_000) });
    expect(opened.transactions().map((transaction) => transaction.data)).toEqual(["one"]);
    await until(() => relay.store.knownState(created.id).sessions[cutOff.session] === 1, 5_000);
    // An id no client of the device has is still unknown.
    await expect(group.open(neverId(identity.agent))).rejects.toMatchObject({ code: "unknown_doc" });
  });

  it("a document another agent created unsent in the same store is not this agent's to sync: synced() resolves, and its creator syncs it later", async () => {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const tab = tabs();
    const other = await client({ name: "other", store: tab(), url: CUT_OFF });
    const created = other.group(GROUP).create();
    created.append("by the other agent");
    await other.close();

    const live = await client({ name: "live", store: tab() });
    const group = live.group(GROUP);
    await group.openAll();
    await group.synced({ signal: AbortSignal.timeout(2_000) });
    expect(group.unsentDocs()).toEqual([]);

    relay.unreachable.delete(new URL(CUT_OFF).host);
    const again = await client({ name: "other again", identity: other.identity, store: tab() });
    await again.group(GROUP).synced({ signal: AbortSignal.timeout(2_000) });
    expect(relay.store.knownState(created.id)).toMatchObject({ header: true, sessions: { [other.session]: 1 } });
  });
});

describe("a tab that crashes with writes unsent (IndexedDbLocalStore: its Web Lock is all the browser lets go)", () => {
  it("a live tab holding the document reads them from the store once the crashed tab's lock goes, and pushes them", async () => {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const factory = new IDBFactory();
    const locks = fakeWebLocks();
    const tab = () => new IndexedDbLocalStore("weft-crash", factory, locks);
    const identity = createIdentity();
    const live = await client({ name: "live", identity, store: tab() });
    const doc = live.group(GROUP).create();
    doc.append("from the live tab");
    await doc.synced();

    // Started after the live tab: its lease is told, and watched from then on.
    const crashing = await client({ name: "crashing", identity, store: tab(), url: CUT_OFF });
    const same = await crashing.group(GROUP).open(doc.id);
    same.append("written cut off");
    await settle(); // saved
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(relay.store.knownState(doc.id).sessions[crashing.session]).toBeUndefined();
    // The browser lets the crashed tab's locks go; it says nothing.
    for (const name of [`weft-session:${crashing.session}`, `weft-alive:${crashing.session}`]) locks.crash(name);
    await until(() => relay.store.knownState(doc.id).sessions[crashing.session] === 1, 5_000);
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["from the live tab", "written cut off"]);
  });
});

describe("a tab reloaded while the live tab is busy, then crashing", () => {
  it("is watched in its new page too: the live tab pushes what each page's crash left", async () => {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const factory = new IDBFactory();
    const locks = fakeWebLocks();
    const identity = createIdentity();
    const live = await client({ name: "live", identity, store: new IndexedDbLocalStore("weft-reload-crash", factory, locks) });
    const doc = live.group(GROUP).create();
    doc.append("from the live tab");
    await doc.synced();
    // A tab cut off writes into the document; its session is S.
    const tab = await client({ name: "tab", identity, store: new IndexedDbLocalStore("weft-reload-crash", factory, locks), url: CUT_OFF });
    const written = await tab.group(GROUP).open(doc.id);
    written.append("before the reload");
    await settle();
    const session = tab.session;
    // It reloads: the page goes (its lease first), and the new page takes S back and says so. The live tab,
    // busy, hears that before it is granted the old page's alive lock. (The new page is played here by the
    // store's own calls: in one realm, the SDK would not lease S twice.)
    locks.crash(`weft-session:${session}`);
    const watch = { locks, aliveName: (held: typeof session) => `weft-alive:${held}`, pool: async () => [session], channel: "weft-leases:weft-reload-crash" };
    holdAlive(watch, session);
    tellLeased(watch, identity.agent, session);
    await new Promise((resolve) => setTimeout(resolve, 20));
    locks.crash(`weft-alive:${session}`);
    await until(() => relay.store.knownState(doc.id).sessions[session] === 1, 5_000);
    // The new page writes (the tab's client plays it: same session, same store) and crashes in turn.
    written.append("after the reload");
    await settle();
    locks.crash(`weft-alive:${session}`);
    await until(() => relay.store.knownState(doc.id).sessions[session] === 2, 5_000);
  });
});

describe("a tab that leaves in good order costs the other tabs no read of the whole store", () => {
  /** A tab's IndexedDbLocalStore whose reads of a group (after the group's start) are counted, and whose saves can be held up. */
  class CountedStore extends IndexedDbLocalStore {
    reads = 0;
    holdSaves = false;
    override loadGroup(group: string): Promise<StoredDoc[]> {
      this.reads++;
      return super.loadGroup(group);
    }
    override save(...args: Parameters<IndexedDbLocalStore["save"]>): ReturnType<IndexedDbLocalStore["save"]> {
      return this.holdSaves ? new Promise(() => {}) : super.save(...args);
    }
  }

  /** A page as the client sees one in a browser (`document`, `pagehide`), for the length of `run`. */
  async function inAPage(run: (hide: () => void) => Promise<void>): Promise<void> {
    const page = globalThis as { document?: unknown; addEventListener?: unknown; removeEventListener?: unknown };
    const listeners = new Set<() => void>();
    Object.assign(page, { document: {}, addEventListener: (_: string, listener: () => void) => listeners.add(listener), removeEventListener: (_: string, listener: () => void) => listeners.delete(listener) });
    try {
      await run(() => listeners.forEach((listener) => listener()));
    } finally {
      delete page.document;
      delete page.addEventListener;
      delete page.removeEventListener;
    }
  }

  /** Two tabs of one agent on one device, both live and holding one document. */
  async function twoTabs(client: ReturnType<typeof setup>["client"]) {
    const factory = new IDBFactory();
    const locks = fakeWebLocks();
    const identity = createIdentity();
    const liveStore = new CountedStore("weft-leaving", factory, locks);
    const live = await client({ name: "live", identity, store: liveStore });
    const doc = live.group(GROUP).create();
    doc.append("from the live tab");
    await doc.synced();
    const leavingStore = new CountedStore("weft-leaving", factory, locks);
    const leaving = await client({ name: "leaving", identity, store: leavingStore });
    const same = await leaving.group(GROUP).open(doc.id);
    await settle();
    const readsBefore = liveStore.reads;
    return { factory, locks, live, liveStore, doc, leaving, leavingStore, same, readsAfter: () => liveStore.reads - readsBefore };
  }

  /** Long enough for a lock let go to reach the watcher, and for a late word of a clean leaving to come. */
  const watchersDone = () => new Promise((resolve) => setTimeout(resolve, 400));

  it("closed with client.close(): the other tab reads nothing", async () => {
    const { client } = setup();
    const { leaving, readsAfter } = await twoTabs(client);
    await leaving.close();
    await watchersDone();
    expect(readsAfter()).toBe(0);
  });

  it("its page hidden with every write saved, then its locks let go: the other tab reads nothing", async () => {
    const { client } = setup();
    await inAPage(async (hide) => {
      const { locks, leaving, same, readsAfter } = await twoTabs(client);
      same.append("saved and sent");
      await same.synced();
      hide();
      for (const name of [`weft-session:${leaving.session}`, `weft-alive:${leaving.session}`]) locks.crash(name);
      await watchersDone();
      expect(readsAfter()).toBe(0);
    });
  });

  it("its page hidden with a save under way: the other tab reads the store once the locks go, as after a crash", async () => {
    const { client } = setup();
    await inAPage(async (hide) => {
      const { locks, leaving, leavingStore, readsAfter } = await twoTabs(client);
      leavingStore.holdSaves = true;
      // A document the other tab does not hold: hearing it announced costs that tab no read.
      leaving.group(GROUP).create().append("its save never finishes");
      await settle();
      hide();
      for (const name of [`weft-session:${leaving.session}`, `weft-alive:${leaving.session}`]) locks.crash(name);
      await until(() => readsAfter() > 0, 2_000);
    });
  });

  it("a tab that crashes right after another left in good order is still read for", async () => {
    const { client } = setup();
    const { factory, locks, live, leaving, readsAfter } = await twoTabs(client);
    await leaving.close();
    await watchersDone();
    // It takes the session the other left (the oldest free one of the pool).
    const crashing = await client({ name: "crashing", identity: live.identity, store: new CountedStore("weft-leaving", factory, locks) });
    expect(crashing.session).toBe(leaving.session);
    await settle();
    for (const name of [`weft-session:${crashing.session}`, `weft-alive:${crashing.session}`]) locks.crash(name);
    await until(() => readsAfter() > 0, 2_000);
  });
});

describe("open() of a document the group does not hold reads the store only when the relay has none", () => {
  /** A memory store whose reads after the first (the group's start) can fail or hang, and are counted. */
  class ReadableStore extends MemoryLocalStore {
    reads = 0;
    then: "answer" | "fail" | "hang" = "answer";
    override loadGroup(group: string): Promise<StoredDoc[]> {
      if (++this.reads > 1 && this.then === "fail") return Promise.reject(new Error("disk gone"));
      if (this.reads > 1 && this.then === "hang") return new Promise(() => {});
      return super.loadGroup(group);
    }
  }

  /** A client on `store`, its group live. */
  async function liveGroup(client: ReturnType<typeof setup>["client"], store: LocalStore) {
    const live = await client({ name: "live", store });
    const group = live.group(GROUP);
    await statusOf(group, "live");
    return { live, group };
  }

  /** Bob, a writer of alice's group, live in one tab; another tab of his wrote into alice's document cut off, and closed. */
  async function closedTabWroteIntoAlices() {
    const { relay, client, cutOff, aliceGroup, bob, shared } = await alicesGroup("writer");
    const store = new MemoryLocalStore();
    const live = await client({ name: "bob-live", identity: bob, store });
    const group = live.group(GROUP);
    await statusOf(group, "live");
    const cut = await client({ name: "bob-cut", identity: bob, store, url: CUT_OFF_URL });
    const held = await cut.group(GROUP).open(shared.id);
    cutOff(cut);
    held.append("written cut off");
    await settle();
    await cut.close(); // announced unsent
    return { relay, aliceGroup, shared, group, cut };
  }

  it("a document another agent created on this device is not taken: the relay's unknown_doc stands", async () => {
    const { relay, client } = setup();
    relay.unreachable.add(new URL(CUT_OFF).host);
    const store = new MemoryLocalStore();
    const { group } = await liveGroup(client, store);
    const other = await client({ name: "other", store, url: CUT_OFF });
    const created = other.group(GROUP).create();
    created.append("the other agent's");
    await settle();
    await expect(group.open(created.id)).rejects.toMatchObject({ code: "unknown_doc" });
    expect(group.docs.map((doc) => doc.id)).not.toContain(created.id);
  });

  it("a store read that fails is told through onError, and the relay's answer stands", async () => {
    const { client } = setup();
    const store = new ReadableStore();
    const { live, group } = await liveGroup(client, store);
    const errors: string[] = [];
    group.onError((error) => errors.push(error.message));
    store.then = "fail";
    await expect(group.open(neverId(live.identity.agent))).rejects.toMatchObject({ code: "unknown_doc" });
    expect(errors).toEqual(["internal: reading the local store again failed: disk gone"]);
  });

  it("a store read that never answers: closing the group settles open() with its ClosedError", async () => {
    const { client } = setup();
    const store = new ReadableStore();
    const { live, group } = await liveGroup(client, store);
    store.then = "hang";
    const opening = group.open(neverId(live.identity.agent)).then(() => "opened", (error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    group.close();
    expect(await opening).toBeInstanceOf(ClosedError);
  });

  it("a document a closed tab wrote into unsent, deleted since: online, the relay's doc_deleted stands", async () => {
    const { aliceGroup, shared, group } = await closedTabWroteIntoAlices();
    await aliceGroup.delete(shared.id);
    await expect(group.open(shared.id)).rejects.toMatchObject({ code: "doc_deleted" });
  });

  it("a document the relay holds that a closed tab wrote into unsent: online, opened from the relay, and the closed tab's writes pushed", async () => {
    const { relay, shared, group, cut } = await closedTabWroteIntoAlices();
    const opened = await group.open(shared.id);
    await until(() => relay.store.knownState(shared.id).sessions[cut.session] === 1, 5_000);
    await until(() => opened.transactions().length === 2, 5_000);
    expect(opened.transactions().map((transaction) => transaction.data)).toEqual(["from alice", "written cut off"]);
  });

  it("opens of several unknown ids at once share one read of the store", async () => {
    const { client } = setup();
    const store = new ReadableStore();
    const { live, group } = await liveGroup(client, store);
    const ids = Array.from({ length: 20 }, (_, i) => neverId(live.identity.agent, i + 1));
    const outcomes = await Promise.all(ids.map((id) => group.open(id).then(() => "opened", (error: { code?: string }) => error.code)));
    expect(outcomes).toEqual(ids.map(() => "unknown_doc"));
    expect(store.reads).toBe(2); // the start's, and one for all twenty
  });
});

/** Alice's group with bob in it as `role`, and a document of alice's (only hers to read, with `readers`). */
async function alicesGroup(role: "admin" | "writer", readers?: "alice only") {
  const { relay, client, cutOff } = setup();
  relay.unreachable.add(new URL(CUT_OFF).host);
  const alice = await client({ name: "alice" });
  const aliceGroup = alice.group(GROUP);
  await aliceGroup.createMembers().synced();
  const bob = createIdentity();
  await aliceGroup.setRole(bob.agent, role);
  const shared = aliceGroup.create(readers ? { readers: [alice.identity.agent] } : {});
  shared.append("from alice");
  await shared.synced();
  return { relay, client, cutOff, aliceGroup, bob, shared };
}

/**
 * A tab of bob's, a writer, on `store` whose write the relay refused for a reason no role lifts (a quota):
 * held back until the app discards or retries it. The relay takes bob's writes again at once.
 */
async function tabWithRefusedWrite(store: LocalStore, data: string) {
  const { relay, client, cutOff: cutOffNow, aliceGroup, bob, shared } = await alicesGroup("writer");
  const tab = await client({ name: "bob-tab", identity: bob, store, url: CUT_OFF_URL });
  const tabGroup = tab.group(GROUP);
  const doc = await tabGroup.open(shared.id);
  relay.refuseContent = (message) => (message.doc === shared.id && tab.session in message.sessions ? "quota_exceeded" : undefined);
  doc.append(data);
  await expect(doc.synced()).rejects.toMatchObject({ code: "quota_exceeded" });
  relay.refuseContent = undefined;
  expect(tabGroup.role).toBe("writer");
  return { relay, client, cutOffNow, aliceGroup, bob, shared, tab, tabGroup, doc };
}

describe("writes another tab left unsent that the relay refuses (its agent was made a reader meanwhile)", () => {
  /** Bob's two tabs on one store: the cut-off one writes into alice's document and closes; bob is then a reader. */
  async function refusedTail() {
    const { relay, client, aliceGroup, bob, shared } = await alicesGroup("writer");

    const store = new MemoryLocalStore();
    const live = await client({ name: "bob-live", identity: bob, store });
    const group = live.group(GROUP);
    const doc = await group.open(shared.id);
    const heard: { data: unknown[]; sessions: string[]; code: string; whole: boolean }[] = [];
    group.onRefused((refused) => heard.push({ data: refused.transactions.map((transaction) => transaction.data), sessions: [...new Set(refused.transactions.map((transaction) => transaction.session))], code: (refused.error as { code: string }).code, whole: refused.wholeDocument }));
    const errors: string[] = [];
    group.onError((error) => void ("code" in error && errors.push(String(error.code))));

    const cutOff = await client({ name: "bob-cut", identity: bob, store, url: CUT_OFF });
    const same = await cutOff.group(GROUP).open(shared.id);
    same.append("cut off 1");
    same.append("cut off 2");
    await aliceGroup.setRole(bob.agent, "reader");
    await cutOff.close();
    await until(() => heard.length > 0, 5_000);
    return { relay, client, store, aliceGroup, bob, group, doc, heard, errors, cutOff };
  }

  it("are heard once through onRefused, listed by refused(), not pushed again on reconnect, and go up when retried", async () => {
    const { relay, aliceGroup, bob, group, doc, heard, errors, cutOff } = await refusedTail();
    expect(heard).toEqual([{ data: ["cut off 1", "cut off 2"], sessions: [cutOff.session], code: "forbidden", whole: false }]);
    expect(group.refused().map((refused) => refused.transactions.map((transaction) => transaction.data))).toEqual([["cut off 1", "cut off 2"]]);
    expect(doc.refused).toBe(true);
    await doc.synced(); // no own writes are held back

    group.connection.drop();
    group.reconnectNow();
    await statusOf(group, "live");
    await settle();
    expect(heard).toHaveLength(1);
    expect(errors.filter((code) => code === "forbidden")).toHaveLength(1);

    await aliceGroup.setRole(bob.agent, "writer");
    group.retryRefused(doc);
    await until(() => relay.store.knownState(doc.id).sessions[cutOff.session] === 2, 5_000);
    expect(doc.refused).toBe(false);
    expect(group.refused()).toEqual([]);
  });

  it("discardRefused() forgets them in this client; the store keeps them for the next client that loads the group", async () => {
    const { client, store, bob, group, doc } = await refusedTail();
    await group.discardRefused(doc);
    expect(doc.refused).toBe(false);
    expect(group.refused()).toEqual([]);
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["from alice"]);

    const next = await client({ name: "bob-next", identity: bob, store });
    const nextGroup = next.group(GROUP);
    await nextGroup.open(doc.id);
    await until(() => nextGroup.refused().length > 0, 5_000);
    expect(nextGroup.refused()[0]!.transactions.map((transaction) => transaction.data)).toEqual(["cut off 1", "cut off 2"]);
  });

  it("discarding a tab's own refused writes keeps what another tab saved into the same document", async () => {
    const { client, cutOff: cutOffNow, aliceGroup, bob, shared } = await alicesGroup("writer");
    const store = new MemoryLocalStore();
    const live = await client({ name: "bob-live", identity: bob, store, url: CUT_OFF_URL });
    const group = live.group(GROUP);
    const doc = await group.open(shared.id);
    const cutOff = await client({ name: "bob-cut", identity: bob, store, url: CUT_OFF });
    (await cutOff.group(GROUP).open(shared.id)).append("saved by the cut-off tab");
    await settle();

    // Made a reader while the live tab is offline for a moment: it writes as the writer it last heard it was.
    const reconnect = cutOffNow(live);
    await aliceGroup.setRole(bob.agent, "reader");
    doc.append("refused");
    reconnect();
    await expect(doc.synced()).rejects.toMatchObject({ code: "forbidden" });
    await group.discardRefused(doc);
    const [stored] = await store.loadGroup(GROUP);
    expect(stored!.sessions[live.session] ?? []).toEqual([]);
    expect(stored!.sessions[cutOff.session]!.map((transaction) => transaction.data)).toEqual(["saved by the cut-off tab"]);

    // The cut-off tab closes: the live tab takes its write in from the store, and it is refused and listed there.
    await cutOff.close();
    await until(() => group.refused().length > 0, 5_000);
    expect(group.refused()[0]!.transactions.map((transaction) => [transaction.data, transaction.session])).toEqual([["saved by the cut-off tab", cutOff.session]]);
  });

  it("a discard cuts the session in the store in one step: another tab never finds the document missing meanwhile", async () => {
    const calls: string[] = [];
    const store = new (class extends MemoryLocalStore {
      override async remove(...args: Parameters<MemoryLocalStore["remove"]>) {
        calls.push("remove");
        return super.remove(...args);
      }
      override async cutSession(...args: Parameters<MemoryLocalStore["cutSession"]>) {
        calls.push("cutSession");
        return super.cutSession(...args);
      }
    })();
    const { tab, tabGroup, doc } = await tabWithRefusedWrite(store, "refused");
    await tabGroup.discardRefused(doc);
    expect(calls).toEqual(["cutSession"]);
    expect((await store.loadGroup(GROUP))[0]!.sessions[tab.session] ?? []).toEqual([]);
  });

  it("a save under way when refused writes are discarded does not count the next writes as saved: they reach the store", async () => {
    let release = () => {};
    let slow = false;
    const store = new (class extends MemoryLocalStore {
      override async save(...args: Parameters<MemoryLocalStore["save"]>) {
        const saved = super.save(...args);
        if (slow) await new Promise<void>((resolve) => (release = resolve));
        return saved;
      }
    })();
    const { tab, tabGroup, doc } = await tabWithRefusedWrite(store, "refused");

    slow = true;
    doc.append("typed while refused"); // its save is under way...
    await settle();
    const discarded = tabGroup.discardRefused(doc); // ...when the app discards
    await settle();
    slow = false;
    release();
    await discarded;
    doc.append("next");
    await doc.synced(); // only what is saved locally is pushed: the store holds it by now
    expect((await store.loadGroup(GROUP))[0]!.sessions[tab.session]!.map((transaction) => transaction.data)).toEqual(["next"]);
  });

  it("a tab's refused writes that another tab then got stored are kept when it discards its refused writes, and its next write is stored", async () => {
    // The relay refuses the tab's write.
    const store = new MemoryLocalStore();
    const { relay, client, bob, shared, tab, tabGroup, doc } = await tabWithRefusedWrite(store, "refused, then stored");

    // The relay takes it now. Another tab starts on the store: it sends what the first tab's session holds past
    // what the relay has, and the relay stores it.
    const other = await client({ name: "bob-other", identity: bob, store });
    await other.group(GROUP).open(shared.id);
    await until(() => countOf(relay.store.knownState(shared.id), tab.session) === 1, 5_000);
    await until(() => !doc.refused, 5_000); // the first tab heard it stored: nothing of it is held back now
    await tabGroup.discardRefused(doc);
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["from alice", "refused, then stored"]);

    doc.append("next");
    await doc.synced();
    expect([...relay.store.readTransactions(shared.id, tab.session, 0, 2)].map((transaction) => transaction.data)).toEqual(["refused, then stored", "next"]);
  });

  it("a document refused whole holds back and lists the tails of the agent's other sessions with it", async () => {
    const { client, aliceGroup, bob, shared: secret } = await alicesGroup("admin", "alice only");

    // Bob, an admin, reads alice's document into his store; a tab of his, cut off, writes into it and stays open.
    const store = new MemoryLocalStore();
    const reader = await client({ name: "bob-admin", identity: bob, store });
    await reader.group(GROUP).open(secret.id);
    await reader.close();
    const first = await client({ name: "bob-cut", identity: bob, store, url: CUT_OFF });
    (await first.group(GROUP).open(secret.id)).append("written as an admin");
    await settle();
    await aliceGroup.setRole(bob.agent, "writer");

    // Another tab of bob's starts on the store: it may not read the document any more.
    const second = await client({ name: "bob-second", identity: bob, store });
    const group = second.group(GROUP);
    const heard: unknown[][] = [];
    group.onRefused((refused) => heard.push(refused.transactions.map((transaction) => transaction.data)));
    await expect(group.open(secret.id)).resolves.toBeDefined(); // held from before, as it was
    await until(() => heard.length > 0, 5_000);
    expect(heard).toEqual([["written as an admin"]]);
    expect(group.refused()[0]!.transactions.map((transaction) => [transaction.data, transaction.session])).toEqual([["written as an admin", first.session]]);
  });
});

describe.each(stores)("$name: a tab discards refused writes that another tab of its agent took in from the store", ({ tabs }) => {
  /** A tab of bob's whose write the relay refused for a reason no role lifts; the relay takes his writes again. */
  async function refusedWrite(data: string) {
    const storeOf = tabs();
    return { storeOf, ...(await tabWithRefusedWrite(storeOf(), data)) };
  }

  it("a tab that discards its refused writes before hearing that another tab got them stored takes them back, and its next write goes after them", async () => {
    const { relay, client, cutOffNow, aliceGroup, bob, shared, storeOf, tab, tabGroup, doc } = await refusedWrite("refused, then stored");

    // Cut off again, the tab does not hear the other tab get its refused write stored: it discards it and
    // writes again, at the index the relay now holds the discarded write at.
    const reconnect = cutOffNow(tab);
    const other = await client({ name: "bob-other", identity: bob, store: storeOf() });
    await other.group(GROUP).open(shared.id);
    await until(() => countOf(relay.store.knownState(shared.id), tab.session) === 1, 5_000);
    await tabGroup.discardRefused(doc);
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["from alice"]);
    doc.append("next");
    reconnect();
    await doc.synced();

    // The relay keeps what it stored first; the tab takes it back in and sends its own write after it.
    const stored = [...relay.store.readTransactions(shared.id, tab.session, 0, 3)].map((transaction) => transaction.data);
    expect(stored).toEqual(["refused, then stored", "next"]);
    expect(doc.transactions().map((transaction) => transaction.data)).toEqual(["from alice", "refused, then stored", "next"]);
    const reader = await client({ name: "alice-reader", identity: aliceGroup.identity });
    const fresh = await reader.group(GROUP).open(shared.id);
    expect(fresh.transactions().map((transaction) => transaction.data)).toEqual(["from alice", "refused, then stored", "next"]);
  });

  it("another tab that took in a write its tab then discarded and wrote over forgets it, and ends up with what the relay holds", async () => {
    const { relay, client, bob, shared, storeOf, tab, tabGroup, doc } = await refusedWrite("refused, then discarded");

    // Another tab, cut off, starts on the store and takes the refused write in; the first tab discards it and
    // writes again at its index, and the relay stores that.
    const other = await client({ name: "bob-other", identity: bob, store: storeOf(), url: CUT_OFF });
    const otherGroup = other.group(GROUP);
    const otherDoc = await otherGroup.open(shared.id);
    expect(otherDoc.transactions().map((transaction) => transaction.data)).toEqual(["from alice", "refused, then discarded"]);
    const removed: unknown[] = [];
    otherDoc.subscribe((change) => removed.push(...(change.removed ?? []).map((transaction) => transaction.data)));
    await tabGroup.discardRefused(doc);
    doc.append("written instead");
    await doc.synced();

    relay.unreachable.delete(new URL(CUT_OFF).host);
    other.reconnectNow();
    await otherDoc.synced();
    await statusOf(otherGroup, "live");
    // The first tab's cut reaches it across tabs (IndexedDB: a BroadcastChannel), maybe once it is live
    // again: it then asks the relay for its copy of the session from where the store differs.
    const data = () => otherDoc.transactions().map((transaction) => transaction.data);
    await until(() => data().includes("written instead"), 5_000);
    expect(data()).toEqual(["from alice", "written instead"]);
    expect(removed).toEqual(["refused, then discarded"]);
    expect([...relay.store.readTransactions(shared.id, tab.session, 0, 2)].map((transaction) => transaction.data)).toEqual(["written instead"]);
  });

  /**
   * A tab whose refused write another tab got stored discards it and writes again, then closes cut off; its
   * session restarts on the store, holding as many writes as the relay but another one at that index.
   */
  async function restartedOnForkedSession() {
    const { relay, client, cutOffNow, aliceGroup, bob, shared, storeOf, tab, tabGroup, doc } = await refusedWrite("refused, then stored");
    cutOffNow(tab); // and it never hears of the relay again
    const other = await client({ name: "bob-other", identity: bob, store: storeOf() });
    await other.group(GROUP).open(shared.id);
    await until(() => countOf(relay.store.knownState(shared.id), tab.session) === 1, 5_000);
    await tabGroup.discardRefused(doc);
    doc.append("written instead");
    await settle();
    await tab.close();
    const restarted = await client({ name: "bob-restarted", identity: bob, store: storeOf(), session: tab.session });
    const again = await restarted.group(GROUP).open(shared.id);
    /** What the relay stores of the session; the restarted tab and a fresh reader must both hold exactly that. */
    const storedEverywhere = async () => {
      const stored = [...relay.store.readTransactions(shared.id, tab.session, 0, 4)].map((transaction) => transaction.data);
      expect(again.transactions().map((transaction) => transaction.data)).toEqual(["from alice", ...stored]);
      const reader = await client({ name: "alice-reader", identity: aliceGroup.identity });
      expect((await reader.group(GROUP).open(shared.id)).transactions().map((transaction) => transaction.data)).toEqual(["from alice", ...stored]);
      return stored;
    };
    return { relay, shared, session: tab.session, again, storedEverywhere };
  }

  it("a tab restarted on its session after discarding, where another tab got the discarded write stored, moves its writes after it at its next push", async () => {
    const { again, storedEverywhere } = await restartedOnForkedSession();
    again.append("next");
    await again.synced();
    expect(await storedEverywhere()).toEqual(["refused, then stored", "written instead", "next"]);
  });

  it("a tab restarted on its session after discarding, where another tab got the discarded write stored, takes it in and stores its own after it without writing again", async () => {
    // As much as the relay holds, but another write: only the head the relay names tells them apart.
    const { relay, shared, session, again, storedEverywhere } = await restartedOnForkedSession();
    await until(() => countOf(relay.store.knownState(shared.id), session) === 2, 5_000);
    await again.synced();
    expect(await storedEverywhere()).toEqual(["refused, then stored", "written instead"]);
  });
});
