// Compressed frames in a real browser (Debian's Chromium, headless, through playwright-core) against the real
// relay (workerd via weft/dev's startRelay): the browser bundle offers deflate-raw, inflates the relay's
// compressed answer with the browser's DecompressionStream, and loads exactly what a Node client wrote.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { ANSWER_WINDOW_BYTES, type DocId } from "../../protocol/index.ts";
import { browserBundle } from "../../scripts/bundle-size.ts";
import { CHROMIUM, HAS_CHROMIUM, launchChromium, openPage, startPageServer, within, type PageServer } from "./page-server.ts";

const GROUP = "compressed";

type PageGlobals = { weft: typeof import("../../client/index.ts") };

/** Opens `doc` in a fresh client in the page; what it loaded and the bytes its socket received. */
function loadInPage(page: Page, url: string, doc: DocId, compression: boolean) {
  return page.evaluate(async ({ url, doc, group, compression }) => {
    const { createClient, createIdentity } = (window as unknown as PageGlobals).weft;
    const client = await createClient({ url, identity: createIdentity(), compression });
    try {
      const opened = await client.group(group).open(doc);
      return { data: opened.transactions().map((tx) => tx.data as string), bytesReceived: client.group(group).connection.bytesReceived };
    } finally {
      client.close();
    }
  }, { url, doc, group: GROUP, compression });
}

describe.skipIf(!HAS_CHROMIUM)(`compressed frames in headless Chromium (${CHROMIUM})`, () => {
  let relay: LocalRelay;
  let pages: PageServer;
  let browser: Browser;
  let page: Page;
  let writer: Client;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    relay = await startRelay();
    pages = await startPageServer(await browserBundle());
    browser = await launchChromium();
    page = await openPage(await browser.newContext(), pages.url, pageErrors);
    page.setDefaultTimeout(15_000);
    writer = await createClient({ url: relay.url, identity: createIdentity() });
  }, 60_000);

  afterAll(async () => {
    writer?.close();
    await browser?.close();
    await pages?.close();
    await relay?.stop();
  });

  it("loads a large document through compressed frames, exactly, in a fraction of the bytes", { timeout: 60_000 }, async () => {
    const doc = writer.group(GROUP).create({ kind: "json" });
    const written = Array.from({ length: 3_000 }, (_, i) => JSON.stringify({ op: "insert", pos: i, text: "k", client: 3918227512 }));
    for (const data of written) doc.append(data);
    await doc.synced();

    const compressed = await within(30_000, "load in the page", loadInPage(page, relay.url, doc.id, true));
    const plain = await within(30_000, "load in the page without compression", loadInPage(page, relay.url, doc.id, false));
    expect(compressed.data).toEqual(written);
    expect(plain.data).toEqual(written);
    expect(compressed.bytesReceived).toBeLessThan(plain.bytesReceived / 3);
    expect(pageErrors).toEqual([]);
  });

  it("loads a document of three windows of text, beyond ASCII too, exactly, in compressed frames that come to less than one window", { timeout: 60_000 }, async () => {
    // About 3.3 MB as built, a tenth of it compressed: within one window of what goes on the wire, so the
    // relay may send it all before the page has read any of it; the page inflates and applies it in order.
    const doc = writer.group(GROUP).create({ kind: "json" });
    const written = Array.from({ length: 30_000 }, (_, i) => `${i}: 你好, мир, café 😀 ${"x".repeat(70 + (i % 20))}`);
    for (const data of written) doc.append(data);
    await doc.synced();

    const loaded = await within(30_000, "load in the page", loadInPage(page, relay.url, doc.id, true));
    expect(loaded.data).toEqual(written);
    expect(loaded.bytesReceived).toBeLessThan(ANSWER_WINDOW_BYTES);
    expect(pageErrors).toEqual([]);
  });
});
