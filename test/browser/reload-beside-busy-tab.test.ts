// Writes appended right before a page reloads, in the same task, while another tab of the app on the same
// profile is writing (its saves keep IndexedDB busy): each is saved before the page goes, and reaches the
// relay once the reloaded page (or the other tab) pushes it. A page that goes saves what it holds unsaved
// at `pagehide`, not behind the saves already under way.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity, type Client, type Doc } from "../../client/index.ts";
import type { LocalRelay } from "../../dev/start-relay.ts";
import { CHROMIUM, HAS_CHROMIUM, startBrowserRig, stopBrowserRig, openPage, within, type PageServer } from "./page-server.ts";

const GROUP = "reload-beside-busy-tab";
const DB_NAME = "weft-reload-beside-busy-tab";
const RELOADS = 20;
const PER_RELOAD = 3;

type PageGlobals = { weft: typeof import("../../client/index.ts"); tab: { client: Client; doc: Doc } };
type TabSetup = { url: string; secret: string; doc: string };

/** Starts the tab's client on the profile's IndexedDB, the document open. */
function startTab(page: Page, setup: TabSetup): Promise<void> {
  return page.evaluate(async ({ url, secret, doc, group, dbName }) => {
    const w = window as unknown as PageGlobals;
    const client = await w.weft.createClient({ url, identity: w.weft.importIdentity(secret), store: new w.weft.IndexedDbLocalStore(dbName) });
    w.tab = { client, doc: await client.group(group).open(doc as never) };
  }, { ...setup, group: GROUP, dbName: DB_NAME });
}

describe.skipIf(!HAS_CHROMIUM)(`a page reloaded right after appending, beside a busy tab (${CHROMIUM})`, () => {
  let relay: LocalRelay;
  let pages: PageServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    ({ relay, pages, browser } = await startBrowserRig());
  });

  afterAll(() => stopBrowserRig({ relay, pages, browser }));

  it(`keeps every write appended in the task that reloads it (${RELOADS} reloads): the relay gets each once`, { timeout: 120_000 }, async () => {
    const identity = createIdentity();
    const creator = await createClient({ url: relay.url, identity });
    const created = creator.group(GROUP).create();
    await created.synced();
    await creator.close();
    const setup: TabSetup = { url: relay.url, secret: exportIdentity(identity), doc: created.id };

    const context = await browser.newContext();
    const busy = await openPage(context, pages.url, pageErrors);
    await startTab(busy, setup);
    // The busy tab writes three transactions every 10 ms for the whole test.
    await busy.evaluate(() => {
      const w = window as unknown as PageGlobals & { writing: number };
      let n = 0;
      w.writing = setInterval(() => {
        for (let j = 0; j < 3; j++) w.tab.doc.append(`busy-${n++}`);
      }, 10) as unknown as number;
    });

    const reloading = await openPage(context, pages.url, pageErrors);
    const appended: string[] = [];
    for (let round = 0; round < RELOADS; round++) {
      await within(15_000, "start the reloading tab", startTab(reloading, setup));
      const batch = Array.from({ length: PER_RELOAD }, (_, k) => `reloaded-${round}-${k}`);
      appended.push(...batch);
      // Appended and reloaded in one task: nothing of the SDK runs between the appends and the page going.
      await reloading.evaluate((batch) => {
        const w = window as unknown as PageGlobals;
        for (const data of batch) w.tab.doc.append(data);
        location.reload();
      }, batch).catch(() => {}); // the reload may end the evaluation
      await reloading.waitForLoadState("load");
      await reloading.waitForFunction(() => "weft" in window);
    }
    await within(15_000, "start the reloading tab", startTab(reloading, setup));
    await busy.evaluate(() => clearInterval((window as unknown as { writing: number }).writing));
    await within(30_000, "synced() in both tabs", Promise.all([busy, reloading].map((page) => page.evaluate(() => (window as unknown as PageGlobals).tab.doc.synced()))));

    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      const read = await reader.group(GROUP).open(created.id);
      const held = read.transactions().map((transaction) => String(transaction.data)).filter((data) => data.startsWith("reloaded-"));
      expect(appended.filter((data) => !held.includes(data))).toEqual([]);
      expect(held).toHaveLength(appended.length);
    } finally {
      await reader.close();
      await context.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
