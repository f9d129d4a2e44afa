// The SDK in a real browser (Debian's Chromium, headless, through playwright-core) against the real relay
// (`wrangler dev`): the browser bundle of weft/client loads as an ES module, keeps documents in IndexedDB,
// follows the browser's offline/online events, and syncs with a Node client of the same SDK.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity, type Client, type Doc, type Status } from "../../client/index.ts";
import type { DocId, SessionId } from "../../protocol/index.ts";
import { browserBundle } from "../../scripts/bundle-size.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";
import { CHROMIUM, HAS_CHROMIUM, launchChromium, startPageServer, within, type PageServer } from "./page-server.ts";

const GROUP = "browser";
const DB_NAME = "weft-test";
const ONLINE = 200;
const OFFLINE = 50;

// What the page holds on `window`. Callbacks passed to page.evaluate run in the page: they may use only
// their arguments and these globals, never a binding imported by this file.
type PageGlobals = {
  weft: typeof import("../../client/index.ts");
  offlineReady: Promise<void>;
  app: { client: Client; doc: Doc; statuses: Status[] };
  statusAtOffline?: Status;
};
type PageSetup = { url: string; secret: string; group: string; dbName: string; doc?: DocId };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await sleep(20);
  }
}

/** Loads the page and waits until the SDK is imported and the service worker can serve the page offline. */
async function loadPage(page: Page, url?: string): Promise<void> {
  if (url) await page.goto(url);
  else await page.reload();
  await page.waitForFunction(() => "weft" in window);
  await within(10_000, "service worker", page.evaluate(() => (window as unknown as PageGlobals).offlineReady));
}

/**
 * Creates the page's client on IndexedDB with the identity from the test, and creates or opens the document.
 * Backoff is pinned to 120 s, so within these tests a reconnect can only come from the browser's `online` event.
 */
function startPageClient(page: Page, setup: PageSetup) {
  return page.evaluate(async ({ url, secret, group, dbName, doc: existing }) => {
    const w = window as unknown as PageGlobals;
    const { createClient, importIdentity, IndexedDbLocalStore } = w.weft;
    const client = await createClient({
      url,
      identity: importIdentity(secret),
      store: new IndexedDbLocalStore(dbName),
      backoff: { baseMs: 120_000, capMs: 120_000 },
      random: () => 1,
    });
    const statuses: Status[] = [];
    const weftGroup = client.group(group);
    weftGroup.onStatus((status) => statuses.push(status));
    const started = performance.now();
    const doc = existing ? await weftGroup.open(existing) : weftGroup.create({ meta: { title: "from the browser" } });
    const openMs = performance.now() - started;
    w.app = { client, doc, statuses };
    return { agent: client.identity.agent, session: client.session, doc: doc.id, openMs, onLine: navigator.onLine };
  }, setup);
}

/** What the page's document holds, read in the page. */
function pageView(page: Page) {
  return page.evaluate(() => {
    const { client, doc, statuses } = (window as unknown as PageGlobals).app;
    return {
      status: client.group(doc.header!.group).status,
      statuses,
      own: doc.sessionTransactions(client.session).map((transaction) => transaction.data),
      all: doc.transactions().map((transaction) => transaction.data),
      hasUnsynced: doc.hasUnsynced,
    };
  });
}

const expected = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

describe.skipIf(!HAS_CHROMIUM)(`the SDK in headless Chromium (${CHROMIUM}) against wrangler dev`, () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-browser-"));
  const identity = createIdentity();
  let relay: RelayProcess;
  let proxy: Proxy;
  let pages: PageServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Uncaught exceptions and unhandled rejections in the page: an SDK error thrown in an event handler lands here. */
  const pageErrors: string[] = [];
  let nodeClient: Client;
  let view: Doc;
  let docId: DocId;
  let session: SessionId;

  beforeAll(async () => {
    relay = await startRelay({ persistTo });
    // The page reaches the relay through this proxy, which the offline test takes down (see there why).
    proxy = await startProxy({ port: relay.port });
    pages = await startPageServer(await browserBundle());
    browser = await launchChromium();
    context = await browser.newContext();
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
    await loadPage(page, pages.url);
    nodeClient = await createClient({ url: relay.url, identity: createIdentity() });
  });

  afterAll(async () => {
    nodeClient?.close();
    await browser?.close();
    await pages?.close();
    await proxy?.close();
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it(`writes ${ONLINE} transactions in the browser that a Node client reads in order`, { timeout: 60_000 }, async () => {
    const started = await startPageClient(page, { url: proxy.url, secret: exportIdentity(identity), group: GROUP, dbName: DB_NAME });
    expect(started.agent).toBe(identity.agent); // the identity the test handed in, not a new one
    expect(started.session.startsWith(`${identity.agent}~`)).toBe(true);
    docId = started.doc;
    session = started.session as SessionId;

    const status = await within(20_000, "doc.synced() in the page", page.evaluate(async (count) => {
      const { client, doc } = (window as unknown as PageGlobals).app;
      for (let i = 0; i < count; i++) doc.append(`online-${i}`);
      await doc.synced();
      return client.group(doc.header!.group).status;
    }, ONLINE));
    expect(status).toBe("live");

    view = await within(15_000, "open in Node", nodeClient.group(GROUP).open(docId));
    expect(view.header?.meta).toEqual({ title: "from the browser" });
    expect(view.sessionTransactions(session).map((transaction) => transaction.data)).toEqual(expected("online", ONLINE));
    expect(view.transactions().map((transaction) => transaction.data)).toEqual(expected("online", ONLINE));
    expect(pageErrors).toEqual([]);
  });

  it(`goes offline on the browser's event, keeps ${OFFLINE} writes in IndexedDB across a reload, and sends them when online`, { timeout: 60_000 }, async () => {
    expect(docId, "the first test created the document").toBeDefined();
    const connectionsBefore = proxy.connections;
    await page.evaluate(() => {
      const w = window as unknown as PageGlobals;
      // Registered after the SDK's own listener, so it sees the status the SDK left behind.
      addEventListener("offline", () => (w.statusAtOffline = w.app.client.group(w.app.doc.header!.group).status), { once: true });
    });

    // Chromium's offline emulation fires `offline` and refuses new connections, 127.0.0.1 included
    // (net::ERR_INTERNET_DISCONNECTED), but leaves an open WebSocket open and silent: only the SDK closes it.
    // It is not airtight: while a reload commits, the old document gets `online` then `offline` within a few
    // ms, and a WebSocket opened in that gap reaches the network. So the path to the relay is cut for real
    // too, but only once the SDK has reacted to the event, so the cut cannot be what took it offline.
    await context.setOffline(true);
    await page.waitForFunction(() => (window as unknown as PageGlobals).statusAtOffline !== undefined);
    expect(await page.evaluate(() => [navigator.onLine, (window as unknown as PageGlobals).statusAtOffline])).toEqual([false, "offline"]);
    proxy.down();

    // Offline writes; wait until a second store on the same database reads them back, as the reload will.
    await within(15_000, "offline writes saved in IndexedDB", page.evaluate(async ({ count, dbName }) => {
      const { weft, app } = window as unknown as PageGlobals;
      for (let i = 0; i < count; i++) app.doc.append(`offline-${i}`);
      const reader = new weft.IndexedDbLocalStore(dbName);
      try {
        const total = app.doc.sessionTransactions(app.client.session).length;
        for (;;) {
          const stored = (await reader.loadGroup(app.doc.header!.group)).find((doc) => doc.id === app.doc.id);
          if (stored?.sessions[app.client.session]?.length === total) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await reader.close();
      }
    }, { count: OFFLINE, dbName: DB_NAME }));

    // A new page load with the network off: the service worker serves the page and the bundle.
    const requestsBefore = pages.requests;
    await loadPage(page);
    expect(pages.requests).toBe(requestsBefore);

    const reopened = await within(10_000, "open from IndexedDB", startPageClient(page, { url: proxy.url, secret: exportIdentity(identity), group: GROUP, dbName: DB_NAME, doc: docId }));
    expect(reopened).toMatchObject({ agent: identity.agent, session, doc: docId, onLine: false });
    // The role the relay last said, kept in IndexedDB: what it does not allow would be refused at once.
    expect(await page.evaluate(() => (window as unknown as PageGlobals).app.client.group((window as unknown as PageGlobals).app.doc.header!.group).role)).toBe("writer");
    let seen = await pageView(page);
    expect(seen.own).toEqual([...expected("online", ONLINE), ...expected("offline", OFFLINE)]);
    expect(seen.hasUnsynced).toBe(true);
    // Its first connection attempt fails, and nothing written offline reached the relay.
    await page.waitForFunction(() => (window as unknown as PageGlobals).app.statuses.includes("offline"));
    seen = await pageView(page);
    expect(seen.statuses).toEqual(["connecting", "offline"]);
    expect(view.sessionTransactions(session)).toHaveLength(ONLINE);

    // Back online: the SDK reconnects at once (its next backoff retry is 120 s away) and pushes the offline writes.
    proxy.restore();
    const onlineAt = Date.now();
    await context.setOffline(false);
    await within(15_000, "doc.synced() after the online event", page.evaluate(() => (window as unknown as PageGlobals).app.doc.synced()));
    const reconnectMs = Date.now() - onlineAt;
    expect(reconnectMs).toBeLessThan(10_000);
    seen = await pageView(page);
    expect(seen.statuses).toEqual(["connecting", "offline", "connecting", "authenticating", "syncing", "live"]);
    expect(proxy.connections).toBe(connectionsBefore + 1);

    await until(() => view.sessionTransactions(session).length === ONLINE + OFFLINE);
    expect(view.sessionTransactions(session).map((transaction) => transaction.data)).toEqual([...expected("online", ONLINE), ...expected("offline", OFFLINE)]);

    // And the other way, over the reconnected socket: a write from Node arrives live in the browser.
    view.append("from-node");
    await page.waitForFunction(() => (window as unknown as PageGlobals).app.doc.transactions().some((transaction) => transaction.data === "from-node"));
    seen = await pageView(page);
    expect(seen.all).toEqual(view.transactions().map((transaction) => transaction.data));
    expect(pageErrors).toEqual([]);
  });

  it("sends bytes from the browser that a Node client reads as the same bytes, keeps them in IndexedDB, and receives bytes as a Uint8Array", { timeout: 60_000 }, async () => {
    expect(docId, "the first test created the document").toBeDefined();
    const bytesDoc = await within(20_000, "bytes appended in the page", page.evaluate(async ({ group, dbName }) => {
      const { weft, app } = window as unknown as PageGlobals;
      const doc = app.client.group(group).create({ kind: "bytes" });
      doc.append(Uint8Array.from({ length: 300 }, (_, i) => i & 0xff));
      doc.append("text");
      await doc.synced();
      const reader = new weft.IndexedDbLocalStore(dbName);
      try {
        for (;;) {
          const stored = (await reader.loadGroup(group)).find((held) => held.id === doc.id)?.sessions[app.client.session];
          if (stored?.length === 2) {
            const first = stored[0]!.data;
            return { id: doc.id, storedKind: first instanceof Uint8Array ? "Uint8Array" : typeof first, storedBytes: Array.from(first as Uint8Array) };
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await reader.close();
      }
    }, { group: GROUP, dbName: DB_NAME }));
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    expect(bytesDoc.storedKind).toBe("Uint8Array");
    expect(bytesDoc.storedBytes).toEqual(Array.from(bytes));

    const nodeView = await within(15_000, "open in Node", nodeClient.group(GROUP).open(bytesDoc.id as DocId));
    expect(nodeView.transactions().map((transaction) => transaction.data)).toEqual([bytes, "text"]);

    nodeView.append(Uint8Array.of(0xca, 0xfe));
    await nodeView.synced();
    const received = await within(15_000, "bytes from Node in the page", page.evaluate(async ({ group, id }) => {
      const { app } = window as unknown as PageGlobals;
      const doc = await app.client.group(group).open(id);
      for (;;) {
        const last = doc.transactions()[2]?.data;
        if (last !== undefined) return { kind: last instanceof Uint8Array ? "Uint8Array" : typeof last, bytes: Array.from(last as Uint8Array) };
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }, { group: GROUP, id: bytesDoc.id }));
    expect(received).toEqual({ kind: "Uint8Array", bytes: [0xca, 0xfe] });
    expect(pageErrors).toEqual([]);
  });
});
