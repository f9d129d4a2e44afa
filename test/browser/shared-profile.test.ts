// End to end (issue 9, item 1) in a real browser: two tabs of one app on one browser profile (two pages of
// one Chromium context share IndexedDB and Web Locks) write into one document at the same time through the
// real relay (`wrangler dev`). Each tab leases its own session, so the relay keeps both tabs' writes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, exportIdentity, type Client } from "../../client/index.ts";
import type { DocId, SessionId } from "../../protocol/index.ts";
import { browserBundle } from "../../scripts/bundle-size.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";
import { CHROMIUM, HAS_CHROMIUM, launchChromium, openPage, startPageServer, within, type PageServer } from "./page-server.ts";

const GROUP = "shared-profile";
const DB_NAME = "weft-shared-profile";
const PER_TAB = 500;

// What a page holds on `window` (see page-server.ts); callbacks passed to page.evaluate use only these.
type PageGlobals = { weft: typeof import("../../client/index.ts"); tab: { client: Client } };
type TabSetup = { url: string; secret: string; group: string; dbName: string; doc: DocId };
type TabResult = { session: SessionId; atRelayWhenSynced: unknown[] };

/** Starts the tab's client on the profile's IndexedDB; returns the session it leased. */
function startTab(page: Page, setup: TabSetup): Promise<SessionId> {
  return page.evaluate(async ({ url, secret, dbName }) => {
    const w = window as unknown as PageGlobals;
    const client = await w.weft.createClient({ url, identity: w.weft.importIdentity(secret), store: new w.weft.IndexedDbLocalStore(dbName) });
    w.tab = { client };
    return client.session;
  }, setup);
}

/**
 * Appends `count` transactions in small bursts, waits for doc.synced(), and at that moment asks the relay,
 * through a second client with an empty in-memory store, how much of the tab's session it holds.
 */
function writeInTab(page: Page, setup: TabSetup, name: string, count: number): Promise<TabResult> {
  return page.evaluate(async ({ url, group, doc: id, name, count }) => {
    const w = window as unknown as PageGlobals;
    const { client } = w.tab;
    const doc = await client.group(group).open(id);
    for (let i = 0; i < count; i++) {
      doc.append(`${name}-${i}`);
      if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await doc.synced();
    const checker = await w.weft.createClient({ url, identity: w.weft.createIdentity() });
    const view = await checker.group(group).open(id);
    const atRelayWhenSynced = view.sessionTransactions(client.session).map((transaction) => transaction.data);
    await checker.close();
    return { session: client.session, atRelayWhenSynced };
  }, { ...setup, name, count });
}

/** A live tab and another of the same agent on one profile; the live tab created `doc` and the relay holds it. */
async function liveTabWithDoc(browser: Browser, pages: PageServer, relayUrl: string, pageErrors: string[], dbName: string, title: string) {
  const identity = createIdentity();
  const context = await browser.newContext();
  const [live, other] = [await openPage(context, pages.url, pageErrors), await openPage(context, pages.url, pageErrors)];
  const setup: TabSetup = { url: relayUrl, secret: exportIdentity(identity), group: GROUP, dbName, doc: "" as DocId };
  await startTab(live, setup);
  const doc = await live.evaluate(async ({ group, title }) => {
    const created = (window as unknown as PageGlobals).tab.client.group(group).create({ meta: { title } });
    created.append("from the live tab");
    await created.synced();
    return created.id;
  }, { group: GROUP, title });
  return { context, live, other, setup, doc };
}

/** The other tab, unable to reach the relay, writes twice into `doc` (saved in the profile's IndexedDB); its session. */
async function writeCutOff(page: Page, setup: TabSetup, doc: DocId, last: string): Promise<SessionId> {
  const session = await startTab(page, { ...setup, url: "http://127.0.0.1:9", doc });
  await page.evaluate(async ({ group, doc: id, last }) => {
    const same = await (window as unknown as PageGlobals).tab.client.group(group).open(id);
    same.append("written cut off");
    same.append(last);
    await new Promise((resolve) => setTimeout(resolve, 300)); // saved in IndexedDB by then
  }, { group: GROUP, doc, last });
  return session;
}

/** What the live tab holds of `session` once the relay holds two of its writes, pushed by the live tab. */
function pushedByLiveTab(live: Page, doc: DocId, session: SessionId, what: string): Promise<unknown[]> {
  return within(15_000, what, live.evaluate(async ({ group, doc: id, session }) => {
    const held = await (window as unknown as PageGlobals).tab.client.group(group).open(id);
    while ((held.relayKnown.sessions[session] ?? 0) < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    return held.sessionTransactions(session).map((transaction) => transaction.data);
  }, { group: GROUP, doc, session }));
}

const expected = (name: string) => Array.from({ length: PER_TAB }, (_, i) => `${name}-${i}`);

describe.skipIf(!HAS_CHROMIUM)(`two tabs on one browser profile (${CHROMIUM}) against wrangler dev`, () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-browser-shared-"));
  let relay: RelayProcess;
  let pages: PageServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    relay = await startRelay({ persistTo });
    pages = await startPageServer(await browserBundle());
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await relay?.kill();
    rmSync(persistTo, { recursive: true, force: true });
  });

  it(`each tab appends ${PER_TAB} to one document at once; the relay and a fresh client hold all ${2 * PER_TAB}, each once`, { timeout: 90_000 }, async () => {
    const identity = createIdentity();
    const creator = await createClient({ url: relay.url, identity });
    const created = creator.group(GROUP).create({ meta: { title: "two tabs" } });
    await created.synced();
    await creator.close();
    const setup: TabSetup = { url: relay.url, secret: exportIdentity(identity), group: GROUP, dbName: DB_NAME, doc: created.id };

    const context = await browser.newContext(); // one profile: the two pages share IndexedDB and Web Locks
    const tabs = [await openPage(context, pages.url, pageErrors), await openPage(context, pages.url, pageErrors)];
    const sessions = await within(15_000, "createClient in both tabs", Promise.all(tabs.map((tab) => startTab(tab, setup))));
    expect(sessions[0]).not.toBe(sessions[1]);

    const [a, b] = await within(60_000, "appends and synced() in both tabs", Promise.all([writeInTab(tabs[0]!, setup, "a", PER_TAB), writeInTab(tabs[1]!, setup, "b", PER_TAB)]));
    expect(a.atRelayWhenSynced).toEqual(expected("a"));
    expect(b.atRelayWhenSynced).toEqual(expected("b"));

    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const read = await reader.group(GROUP).open(created.id);
    const all = read.transactions().map((transaction) => transaction.data);
    expect(all).toHaveLength(2 * PER_TAB);
    expect([...all].sort()).toEqual([...expected("a"), ...expected("b")].sort());
    expect(read.sessionTransactions(a.session).map((transaction) => transaction.data)).toEqual(expected("a"));
    expect(read.sessionTransactions(b.session).map((transaction) => transaction.data)).toEqual(expected("b"));
    await reader.close();

    // Closing the first tab gives its session up (the browser drops its Web Lock); a tab opened next takes it.
    await tabs[0]!.close();
    const next = await context.newPage();
    await next.goto(pages.url);
    await next.waitForFunction(() => "weft" in window);
    // The browser drops a closed page's locks shortly after, not necessarily before close() returns.
    await within(10_000, "the closed tab's lock released", next.evaluate(async (session) => {
      while ((await navigator.locks.query()).held?.some((lock) => lock.name?.endsWith(session))) await new Promise((resolve) => setTimeout(resolve, 20));
    }, a.session));
    expect(await within(15_000, "createClient in a new tab", startTab(next, setup))).toBe(a.session);
    // The profile's IndexedDB, which both tabs saved into at once, holds both tabs' writes, each once.
    const local = await next.evaluate(async ({ dbName, group, doc }) => {
      const store = new (window as unknown as PageGlobals).weft.IndexedDbLocalStore(dbName);
      const stored = (await store.loadGroup(group)).find((entry) => entry.id === doc);
      await store.close();
      return Object.fromEntries(Object.entries(stored?.sessions ?? {}).map(([session, log]) => [session, log.map((transaction) => transaction.data)]));
    }, setup);
    expect(local).toEqual({ [a.session]: expected("a"), [b.session]: expected("b") });
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it("a tab that goes away with writes unsent (cut off, closed without close()) hands them to the live tab, which pushes them", { timeout: 60_000 }, async () => {
    const { context, live, other: cutOff, setup, doc } = await liveTabWithDoc(browser, pages, relay.url, pageErrors, `${DB_NAME}-handoff`, "handed over");
    // The other tab cannot reach the relay; it writes into the document from the profile's IndexedDB and leaves.
    const cutSession = await writeCutOff(cutOff, setup, doc, "then the tab went away");
    await cutOff.goto("about:blank");

    const pushed = await pushedByLiveTab(live, doc, cutSession, "the live tab pushing the other tab's writes");
    expect(pushed).toEqual(["written cut off", "then the tab went away"]);

    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const read = await reader.group(GROUP).open(doc);
    expect(read.sessionTransactions(cutSession).map((transaction) => transaction.data)).toEqual(["written cut off", "then the tab went away"]);
    await reader.close();
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it("a tab reloaded beside a live one takes its own session back each time: watching it does not hold its lock", { timeout: 60_000 }, async () => {
    const identity = createIdentity();
    const dbName = `${DB_NAME}-reload`;
    const context = await browser.newContext();
    const [live, reloaded] = [await openPage(context, pages.url, pageErrors), await openPage(context, pages.url, pageErrors)];
    const setup: TabSetup = { url: relay.url, secret: exportIdentity(identity), group: GROUP, dbName, doc: "" as DocId };
    await startTab(live, setup);
    const first = await startTab(reloaded, setup);
    const sessions: SessionId[] = [];
    for (let reload = 0; reload < 4; reload++) {
      // Half the time the live tab is busy as the other reloads: it is granted the leaving tab's lock it waits
      // for, and gives it back only once its main thread is free. That must not keep the session from its tab.
      const busy = reload % 2 === 1 ? live.evaluate(() => { const until = Date.now() + 1_000; while (Date.now() < until); }) : Promise.resolve();
      await reloaded.reload();
      await reloaded.waitForFunction(() => "weft" in window);
      sessions.push(await startTab(reloaded, setup));
      await busy;
    }
    expect(sessions).toEqual(sessions.map(() => first));
    expect(pageErrors).toEqual([]);
    await context.close();
  });

  it("a tab whose lock the browser lets go, with writes unsent and no word (a crash), hands them over too: the live tab pushes them", { timeout: 60_000 }, async () => {
    const { context, live, other: crashing, setup, doc } = await liveTabWithDoc(browser, pages, relay.url, pageErrors, `${DB_NAME}-crash`, "left by a crash");
    const crashedSession = await writeCutOff(crashing, setup, doc, "then the tab crashed");
    // What a crash does to the session's Web Locks, and nothing else: they go, and no one is told.
    await crashing.evaluate(async (session) => {
      for (const name of [`weft-session:${session}`, `weft-alive:${session}`]) await navigator.locks.request(name, { steal: true }, async () => {});
    }, crashedSession);

    const pushed = await pushedByLiveTab(live, doc, crashedSession, "the live tab pushing the crashed tab's writes");
    expect(pushed).toEqual(["written cut off", "then the tab crashed"]);
    expect(pageErrors).toEqual([]);
    await context.close();
  });

});
