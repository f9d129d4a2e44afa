// IndexedDbLocalStore in a real browser (Debian's Chromium, headless, through playwright-core) against the real
// relay (workerd via weft/dev's startRelay), when its database name is one the app already uses: the app's
// database is refused with words that name the store, and a database upgraded, deleted or cleared under a
// live client closes its group with one clear error, leaving no promise waiting.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { browserBundle } from "../../scripts/bundle-size.ts";
import { CHROMIUM, HAS_CHROMIUM, launchChromium, openPage, startPageServer, within, type PageServer } from "./page-server.ts";


type PageGlobals = {
  weft: typeof import("../../client/index.ts");
  live?: { client: import("../../client/index.ts").Client; errors: string[] };
};

/** How a promise in the page ended, as text: "resolved", "rejected <name>: <message>", or "waiting" after `ms`. */
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

/** In the page: a client on IndexedDbLocalStore(`name`) whose group is live with one document synced. */
function startLiveClient(page: Page, url: string, name: string) {
  return page.evaluate(
    async ({ url, name }) => {
      const w = window as unknown as PageGlobals;
      const { createClient, createIdentity, IndexedDbLocalStore } = w.weft;
      const client = await createClient({ url, identity: createIdentity(), store: new IndexedDbLocalStore(name) });
      const errors: string[] = [];
      const group = client.group("clash");
      group.onError((error) => errors.push(`${error.name}: ${error.message}`));
      const doc = group.create();
      doc.append("before");
      await doc.synced();
      w.live = { client, errors };
    },
    { url, name },
  );
}

/** In the page: what the live client's group does now, each promise bounded: a write, synced(), a new group, close(). */
function liveClientNow(page: Page) {
  return page.evaluate(async () => {
    const { client, errors } = (window as unknown as PageGlobals).live!;
    const outcome = (promise: Promise<unknown>): Promise<Outcome> =>
      Promise.race([
        promise.then(
          () => "resolved",
          (error: Error) => `rejected ${error.name}: ${error.message}`,
        ),
        new Promise<Outcome>((resolve) => setTimeout(() => resolve("waiting"), 5_000)),
      ]);
    const group = client.group("clash");
    let write: Outcome;
    try {
      group.docs[0]!.append("after");
      write = "appended";
    } catch (error) {
      write = `threw ${(error as Error).name}: ${(error as Error).message}`;
    }
    const synced = await outcome(group.synced());
    const another = await outcome(client.group("another").ready);
    const status = group.status;
    const closed = await outcome(client.close());
    return { write, synced, another, status, closed, errors };
  });
}

describe.skipIf(!HAS_CHROMIUM)(`IndexedDbLocalStore on a database the app uses, in headless Chromium (${CHROMIUM})`, () => {
  let relay: LocalRelay;
  let pages: PageServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    relay = await startRelay();
    pages = await startPageServer(await browserBundle());
    browser = await launchChromium();
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

  it("lets the app upgrade the database Weft has open, and closes the group with one error naming the store; nothing waits", async () => {
    await startLiveClient(page, relay.url, "clash");
    const upgrade = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const request = indexedDB.open("clash", 2);
          request.onblocked = () => resolve("blocked");
          request.onsuccess = () => (request.result.close(), resolve("opened"));
          request.onerror = () => resolve(`failed: ${request.error?.message}`);
        }),
    );
    expect(upgrade).toBe("opened");

    const after = await within(30_000, "the live client", liveClientNow(page));
    const named = /IndexedDbLocalStore: another connection to the IndexedDB database "clash" opened it at version 2, so Weft closed its own .*database name of its own/;
    expect(after.errors).toHaveLength(1);
    expect(after.errors[0]).toMatch(named);
    expect(after.write).toMatch(/^threw ClosedError: group clash is closed: /);
    expect(after.write).toMatch(named);
    expect(after.synced).toBe("resolved"); // "before" was synced; nothing after it could be written
    expect(after.another).toMatch(/^rejected ClosedError: group another is closed: /);
    expect(after.status).toBe("closed");
    expect(after.closed).toBe("resolved");
    expect(pageErrors).toEqual([]);
  });

  it("closes the group with one error naming the store when the site's data is cleared", async () => {
    await startLiveClient(page, relay.url, "cleared");
    // What "Clear site data" does: the browser closes every connection to the origin's databases.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Storage.clearDataForOrigin", { origin: pages.url, storageTypes: "indexeddb" });

    const after = await within(30_000, "the live client", liveClientNow(page));
    const named = /IndexedDbLocalStore: the browser closed the IndexedDB database "cleared"/;
    expect(after.errors).toHaveLength(1);
    expect(after.errors[0]).toMatch(named);
    expect(after.write).toMatch(named);
    expect(after.another).toMatch(named);
    expect(after.closed).toBe("resolved");
    expect(pageErrors).toEqual([]);
  });
});
