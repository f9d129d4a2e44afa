// doc.transactions() as an app uses it: read again on every change, through the embedded relay (weft/dev).
// The view is extended from one change to the next rather than rebuilt, so this drives the case that
// needs a merge: writes made offline, older than what others wrote meanwhile, arriving late.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryLocalStore, createClient, createIdentity, type Doc, type DocTransaction } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { until } from "../support/wait.ts";

/** Where nothing listens: a client pointed here is offline. */
const NOWHERE = "http://127.0.0.1:9";

const inOrder = (a: DocTransaction, b: DocTransaction) => a.at - b.at || (a.session < b.session ? -1 : a.session > b.session ? 1 : a.index - b.index);
const sortedCopy = (transactions: readonly DocTransaction[]) => [...transactions].sort(inOrder);
const keys = (transactions: readonly DocTransaction[]) => transactions.map((t) => `${t.session} ${t.index} ${t.at} ${String(t.data)}`);

describe("doc.transactions() read on every change", () => {
  let relay: LocalRelay;
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(async () => {
    await relay?.stop();
  });

  it("stays in the replicas' order when offline writes older than others' arrive late; changing the array it gave throws", async () => {
    const alice = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = alice.group("ordered").create({ kind: "json", meta: {} });
    for (let i = 0; i < 30; i++) doc.append(`alice-${i}`);
    await doc.synced();

    // Bob's device loads the document into its store, then goes offline and writes.
    const bobIdentity = createIdentity();
    const bobStore = new MemoryLocalStore();
    const bobOnline = await createClient({ url: relay.url, identity: bobIdentity, store: bobStore });
    const loaded = await bobOnline.group("ordered").open(doc.id);
    await until(() => loaded.transactions().length === 30, 10_000);
    await bobOnline.group("ordered").synced();
    bobOnline.close();
    const bobOffline = await createClient({ url: NOWHERE, identity: bobIdentity, store: bobStore });
    const offline = await bobOffline.group("ordered").open(doc.id);
    for (let i = 0; i < 20; i++) offline.append(`bob-${i}`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // saved by the next flush
    bobOffline.close();

    // A reader that renders on every change, newest first, as an app might (reversing in place throws: the
    // array is shared with later calls until the document changes).
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const seen: Doc = await reader.group("ordered").open(doc.id);
    const unordered: string[] = [];
    const reversals: unknown[] = [];
    /** A second call in the same version gave another array (a render would see a change that is not). */
    const unstable: string[] = [];
    seen.subscribe(() => {
      const view = seen.transactions();
      if (keys(view).join("\n") !== keys(sortedCopy(view)).join("\n")) unordered.push(`at ${view.length}`);
      try {
        (view as DocTransaction[]).reverse();
      } catch (error) {
        reversals.push(error);
      }
      if (seen.transactions() !== view) unstable.push(`at ${view.length}`);
    });

    // Alice writes on (later times); then Bob's device comes back and pushes its older writes.
    await new Promise((resolve) => setTimeout(resolve, 5));
    for (let i = 30; i < 60; i++) doc.append(`alice-${i}`);
    await doc.synced();
    await until(() => seen.transactions().length === 60, 10_000);
    const bobBack = await createClient({ url: relay.url, identity: bobIdentity, store: bobStore });
    await (await bobBack.group("ordered").open(doc.id)).synced();
    await until(() => seen.transactions().length === 80, 10_000);

    // What the reader shows is what a client loading it all afresh shows, and every view was in order.
    const fresh = await createClient({ url: relay.url, identity: createIdentity() });
    const all = await fresh.group("ordered").open(doc.id);
    await until(() => all.transactions().length === 80, 10_000);
    expect(unordered).toEqual([]);
    expect(unstable).toEqual([]);
    expect(reversals.length).toBeGreaterThan(0);
    expect(reversals.every((error) => error instanceof TypeError)).toBe(true);
    expect(keys(seen.transactions())).toEqual(keys(all.transactions()));
    expect(keys(all.transactions())).toEqual(keys(sortedCopy(all.transactions())));
    // Bob's offline writes sit before Alice's later ones: they were merged in, not appended.
    const data = seen.transactions().map((t) => String(t.data));
    expect(data.indexOf("bob-19")).toBeLessThan(data.indexOf("alice-30"));
    expect(data.indexOf("bob-0")).toBeGreaterThan(data.indexOf("alice-29"));
    for (const client of [alice, reader, bobBack, fresh]) client.close();
  });
});
