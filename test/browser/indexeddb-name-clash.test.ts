// IndexedDbLocalStore in a real browser (Debian's Chromium, headless, through playwright-core) against the real
// relay (workerd via weft/dev's startRelay), when its database name is one the app already uses: the app's
// database is refused with words that name the store.
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { browserBundle } from "../../scripts/bundle-size.ts";
import { openPage, startPageServer, within, type PageServer } from "./page-server.ts";

const CHROMIUM = "/usr/bin/chromium";
// Without the background-networking flags Chromium tries outside hosts at start; this machine has no route to them.
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

type PageGlobals = { weft: typeof import("../../client/index.ts") };

/** How a promise in the page ended, as text: "resolved", or "rejected <name>: <message>". */
type Outcome = string;

/** In the page: the app makes its own database `name` at `version`, with a "todos" store, and closes it. */
function makeAppDatabase(page: Page, name: string, version: number) {
  return page.evaluate(
    ({ name, version }) =>
      new Promise<void>((resolve, reject) => {
        const request = indexedDB.open(name, version);
        request.onupgradeneeded = () => request.result.createObjectStore("todos").put("buy milk", 1);
        request.onsuccess = () => (request.result.close(), resolve());
        request.onerror = () => reject(request.error);
      }),
    { name, version },
  );
}

/** In the page: createClient on IndexedDbLocalStore(`name`): how it ended. */
function createClientOn(page: Page, url: string, name: string): Promise<Outcome> {
  return page.evaluate(
    async ({ url, name }) => {
      const { createClient, createIdentity, IndexedDbLocalStore } = (window as unknown as PageGlobals).weft;
      try {
        const client = await createClient({ url, identity: createIdentity(), store: new IndexedDbLocalStore(name) });
        await client.close();
        return "resolved";
      } catch (error) {
        return `rejected ${(error as Error).name}: ${(error as Error).message}`;
      }
    },
    { url, name },
  );
}

describe.skipIf(!existsSync(CHROMIUM))(`IndexedDbLocalStore on a database the app uses, in headless Chromium (${CHROMIUM})`, () => {
  let relay: LocalRelay;
  let pages: PageServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    relay = await startRelay();
    pages = await startPageServer(await browserBundle());
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  }, 60_000);

  beforeEach(async () => {
    await context?.close();
    context = await browser.newContext(); // a fresh profile: no database of an earlier test
    page = await openPage(context, pages.url, pageErrors);
    page.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await relay?.stop();
  });

  it.each([3, 1])("refuses the app's database at version %i with a TypeError naming the store and saying to give Weft its own name", async (version) => {
    await makeAppDatabase(page, "appdb", version);
    const outcome = await within(15_000, "createClient", createClientOn(page, relay.url, "appdb"));
    expect(outcome).toMatch(/^rejected TypeError: IndexedDbLocalStore: the IndexedDB database "appdb" .*give IndexedDbLocalStore a database name of its own/);
    expect(pageErrors).toEqual([]);
  });
});
