// A page whose origin's storage is full (IndexedDB over its quota): a save fails and the app hears why, and
// once the page reloads, the group opens from what the device holds, what the page kept in localStorage at
// its end included, rather than wait for space. Once there is space again, everything reaches the relay.
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity, type Client, type Doc } from "../../client/index.ts";
import type { LocalRelay } from "../../dev/start-relay.ts";
import { CHROMIUM, HAS_CHROMIUM, startBrowserRig, stopBrowserRig, openPage, within, type PageServer } from "./page-server.ts";

const GROUP = "storage-full";
const DB_NAME = "weft-storage-full";
const PASTE = 200_000;

type PageGlobals = { weft: typeof import("../../client/index.ts"); tab: { client: Client; doc: Doc; errors: string[] } };
type TabSetup = { url: string; secret: string; doc: string };

/** Starts the tab's client on the profile's IndexedDB and opens the document (at most 15 s); what onError hears goes to `errors`. */
function startTab(page: Page, setup: TabSetup): Promise<void> {
  return page.evaluate(async ({ url, secret, doc, group, dbName }) => {
    const w = window as unknown as PageGlobals;
    const client = await w.weft.createClient({ url, identity: w.weft.importIdentity(secret), store: new w.weft.IndexedDbLocalStore(dbName) });
    const errors: string[] = [];
    client.group(group).onError((error) => errors.push(`${error.name}: ${error.message}`));
    w.tab = { client, doc: await client.group(group).open(doc as never, { signal: AbortSignal.timeout(15_000) }), errors };
  }, { ...setup, group: GROUP, dbName: DB_NAME });
}

describe.skipIf(!HAS_CHROMIUM)(`a page whose storage is full (${CHROMIUM})`, () => {
  let relay: LocalRelay;
  let pages: PageServer;
  let browser: Browser;
  let context: BrowserContext;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ({ relay, pages, browser } = await startBrowserRig());
  });

  afterAll(async () => {
    await context?.close();
    await stopBrowserRig({ relay, pages, browser });
  });

  it("says the storage is full, opens again after a reload from what it holds, and sends everything once there is space", { timeout: 90_000 }, async () => {
    const identity = createIdentity();
    const creator = await createClient({ url: relay.url, identity });
    const created = creator.group(GROUP).create();
    created.append("before the storage filled");
    await created.synced();
    await creator.close();
    const setup: TabSetup = { url: relay.url, secret: exportIdentity(identity), doc: created.id };

    context = await browser.newContext();
    const page = await openPage(context, pages.url, pageErrors);
    const cdp: CDPSession = await context.newCDPSession(page);
    // Room for the client's start (its session lease, the document), not for the paste below.
    await page.evaluate(() => (window as unknown as { offlineReady: Promise<void> }).offlineReady);
    const { usage } = await page.evaluate(() => navigator.storage.estimate());
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: pages.url, quotaSize: (usage ?? 0) + 200_000 });
    await within(15_000, "start the tab", startTab(page, setup));

    // Two pastes too large for what is left (random, so that Chromium cannot compress them): their save fails, and the app is told why.
    const paste = Array.from({ length: PASTE }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join("");
    await page.evaluate((paste) => {
      const { doc } = (window as unknown as PageGlobals).tab;
      doc.append(paste);
      doc.append(paste);
    }, paste);
    await page.waitForFunction(() => (window as unknown as PageGlobals).tab.errors.length > 0, undefined, { timeout: 15_000 });
    const told = await page.evaluate(() => (window as unknown as PageGlobals).tab.errors);
    expect(told[0]).toMatch(/^LocalStoreError: internal: saving doc_\S+ locally failed: the device's storage is full/);

    // Reloaded with the storage still full: the document opens, the paste in it.
    await page.reload();
    await page.waitForFunction(() => "weft" in window);
    await within(20_000, "open the document again while the storage is full", startTab(page, setup));
    const held = await page.evaluate(() => (window as unknown as PageGlobals).tab.doc.transactions().map((transaction) => String(transaction.data).length));
    expect(held).toEqual(["before the storage filled".length, PASTE, PASTE]);

    // Space again: the paste reaches the relay once.
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: pages.url });
    await within(30_000, "synced() once there is space", page.evaluate(() => (window as unknown as PageGlobals).tab.doc.synced()));
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      const read = await reader.group(GROUP).open(created.id);
      expect(read.transactions().map((transaction) => String(transaction.data).length)).toEqual(["before the storage filled".length, PASTE, PASTE]);
    } finally {
      await reader.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
