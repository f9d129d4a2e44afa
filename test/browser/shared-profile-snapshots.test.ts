// Snapshots in a real browser with two tabs on one profile (issue 13): both tabs add items to one document
// of a list app through the real relay (weft/dev's startRelay), saving into the same IndexedDB; one tab
// snapshots the list halfway and keeps adding while the snapshot is on its way. After both tabs reload,
// a tab started again without the relay holds every item once, from the snapshot on.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity, type Client } from "../../client/index.ts";
import type { LocalRelay } from "../../dev/start-relay.ts";
import type { DocId, SessionId } from "../../protocol/index.ts";
import { CHROMIUM, HAS_CHROMIUM, startBrowserRig, stopBrowserRig, openPage, within, type PageServer } from "./page-server.ts";

const GROUP = "shared-profile-snapshots";
const DB_NAME = "weft-shared-profile-snapshots";
const PER_TAB = 200;

// What a page holds on `window` (see page-server.ts); callbacks passed to page.evaluate use only these.
type PageGlobals = { weft: typeof import("../../client/index.ts"); tab: { client: Client } };
type TabSetup = { url: string; secret: string; group: string; dbName: string; doc: DocId };
type TabResult = { session: SessionId; snapshotCovers?: Record<SessionId, number> };

/** Starts the tab's client on the profile's IndexedDB (at `url`: the relay, or nothing listening). */
function startTab(page: Page, setup: TabSetup): Promise<SessionId> {
  return page.evaluate(async ({ url, secret, dbName }) => {
    const w = window as unknown as PageGlobals;
    const client = await w.weft.createClient({ url, identity: w.weft.importIdentity(secret), store: new w.weft.IndexedDbLocalStore(dbName) });
    w.tab = { client };
    return client.session;
  }, setup);
}

/**
 * Adds `count` items (`{"add": name, "note": …}`, the list app's transactions) in small bursts. With
 * `snapshot`, halfway, once it holds some of the other tab's items, it snapshots the list (the JSON list
 * of item names) and goes on adding while the snapshot is on its way. Resolves once all is synced.
 */
function writeInTab(page: Page, setup: TabSetup, name: string, count: number, snapshot: boolean): Promise<TabResult> {
  return page.evaluate(async ({ group, doc: id, name, count, snapshot }) => {
    const { client } = (window as unknown as PageGlobals).tab;
    const doc = await client.group(group).open(id);
    const write = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        doc.append(JSON.stringify({ add: `${name}-${i}`, note: "n".repeat(100) }));
        if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 0));
      }
    };
    if (!snapshot) {
      await write(0, count);
      await doc.synced();
      return { session: client.session };
    }
    await write(0, count / 2);
    await doc.synced();
    while (!doc.transactions().some((transaction) => transaction.session !== client.session)) await new Promise((resolve) => setTimeout(resolve, 20));
    const items = doc.transactions().map((transaction) => (JSON.parse(transaction.data as string) as { add: string }).add);
    const taking = doc.snapshot(JSON.stringify(items.sort()));
    await write(count / 2, count);
    await taking;
    await doc.synced();
    return { session: client.session, snapshotCovers: doc.lastSnapshotted?.covers };
  }, { ...setup, name, count, snapshot });
}

/** What the tab's client holds of the document: the snapshot it starts from, how many transactions after it, and every item. */
function heldInTab(page: Page, setup: TabSetup) {
  return page.evaluate(async ({ group, doc: id }) => {
    const { client } = (window as unknown as PageGlobals).tab;
    const doc = await client.group(group).open(id);
    const fromSnapshot = doc.heldSnapshot ? (JSON.parse(doc.heldSnapshot.data as string) as string[]) : [];
    const after = doc.transactions().map((transaction) => (JSON.parse(transaction.data as string) as { add: string }).add);
    return { covers: doc.heldSnapshot?.covers, transactions: after.length, items: [...fromSnapshot, ...after].sort() };
  }, setup);
}

const items = (name: string) => Array.from({ length: PER_TAB }, (_, i) => `${name}-${i}`);

describe.skipIf(!HAS_CHROMIUM)(`two tabs on one browser profile (${CHROMIUM}), one snapshotting while both write`, () => {
  let relay: LocalRelay;
  let pages: PageServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ({ relay, pages, browser } = await startBrowserRig());
  });

  afterAll(() => stopBrowserRig({ relay, pages, browser }));

  it(`each tab adds ${PER_TAB} items, one snapshots halfway; after a reload, a tab without the relay holds every item once from the snapshot on`, { timeout: 90_000 }, async () => {
    const identity = createIdentity();
    const creator = await createClient({ url: relay.url, identity });
    const created = creator.group(GROUP).create({ meta: { title: "a list" } });
    await created.synced();
    await creator.close();
    const setup: TabSetup = { url: relay.url, secret: exportIdentity(identity), group: GROUP, dbName: DB_NAME, doc: created.id };

    const context = await browser.newContext(); // one profile: the two pages share IndexedDB and Web Locks
    const tabs = [await openPage(context, pages.url, pageErrors), await openPage(context, pages.url, pageErrors)];
    await within(15_000, "createClient in both tabs", Promise.all(tabs.map((tab) => startTab(tab, setup))));
    const [a, b] = await within(60_000, "adds, a snapshot and synced() in both tabs", Promise.all([writeInTab(tabs[0]!, setup, "a", PER_TAB, true), writeInTab(tabs[1]!, setup, "b", PER_TAB, false)]));
    expect(a.session).not.toBe(b.session);
    const covers = a.snapshotCovers!;
    expect(covers[a.session]).toBeGreaterThanOrEqual(PER_TAB / 2);
    expect(covers[b.session]).toBeGreaterThan(0);
    const covered = Object.values(covers).reduce((sum, count) => sum + count, 0);

    // Both tabs close their clients, as an app does on pagehide: close() lets the saves under way finish
    // (a snapshot's promise resolves when the relay stored it; the tab saves it to IndexedDB right after).
    // Then they reload; one starts again with no relay listening (port 9): IndexedDB alone holds the list.
    for (const tab of tabs) {
      await tab.evaluate(() => (window as unknown as PageGlobals).tab.client.close());
      await tab.reload();
      await tab.waitForFunction(() => "weft" in window);
    }
    await within(15_000, "createClient after the reload", startTab(tabs[0]!, { ...setup, url: "http://127.0.0.1:9" }));
    const held = await within(15_000, "open from IndexedDB", heldInTab(tabs[0]!, setup));
    expect(held.covers).toEqual(covers);
    expect(held.transactions).toBe(2 * PER_TAB - covered);
    expect(held.items).toEqual([...items("a"), ...items("b")].sort());

    // The other tab starts with the relay and converges on the same list, with nothing refused.
    await within(15_000, "createClient online after the reload", startTab(tabs[1]!, setup));
    const online = await within(15_000, "open online", heldInTab(tabs[1]!, setup));
    expect(online.items).toEqual(held.items);
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
