// What the browser tests share: headless Chromium started as each of them starts it, and their page served on
// 127.0.0.1: an HTML page that imports the SDK's browser bundle as an ES module, and a service worker that
// caches both, so the page loads again with the network off, as an offline-first app's page would. It counts
// the requests that reach it, to tell a cached load from a fetch.
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { browserBundle } from "../../scripts/bundle-size.ts";

/** Debian's Chromium (playwright-core downloads none); the browser tests are skipped where it is missing. */
export const CHROMIUM = "/usr/bin/chromium";
export const HAS_CHROMIUM = existsSync(CHROMIUM);
// Without the background-networking flags Chromium tries outside hosts at start; this machine has no route to them.
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

/** Headless Chromium as every browser test starts it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

export const BUNDLE_PATH = "/weft.js";

// The SDK becomes `window.weft`; `window.offlineReady` settles once the service worker controls the page.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>weft in a browser</title>
<script type="module">
  import * as weft from "${BUNDLE_PATH}";
  window.weft = weft;
  window.offlineReady = navigator.serviceWorker.register("/sw.js").then(() =>
    navigator.serviceWorker.controller ? undefined : new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true })),
  );
</script>
`;

// Cache first for this origin's GETs; WebSockets never pass through a service worker.
const SERVICE_WORKER = `
self.addEventListener("install", (event) => {
  self.skipWaiting();
  event.waitUntil(caches.open("weft-page").then((cache) => cache.addAll(["/", "${BUNDLE_PATH}"])));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET" || new URL(event.request.url).origin !== self.location.origin) return;
  event.respondWith(caches.match(event.request).then((hit) => hit ?? fetch(event.request)));
});
`;

export type PageServer = {
  url: string;
  /** Requests that reached this server (not answered by the service worker's cache). */
  readonly requests: number;
  close(): Promise<void>;
};

export async function startPageServer(bundle: Uint8Array): Promise<PageServer> {
  let requests = 0;
  const server: Server = createServer((request, response) => {
    requests++;
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    const send = (type: string, body: string | Uint8Array) => {
      response.writeHead(200, { "content-type": type, "cache-control": "no-store" });
      response.end(body);
    };
    if (path === "/") return send("text/html; charset=utf-8", PAGE);
    if (path === BUNDLE_PATH) return send("text/javascript; charset=utf-8", bundle);
    if (path === "/sw.js") return send("text/javascript; charset=utf-8", SERVICE_WORKER);
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** page.evaluate has no timeout of its own: a promise in the page that never settles must fail the test. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A new page (a tab) of `context` at `url`, once the SDK is imported as `window.weft`; its uncaught errors go to `pageErrors`. */
export async function openPage(context: BrowserContext, url: string, pageErrors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${error.name}: ${error.message}`));
  await page.goto(url);
  await page.waitForFunction(() => "weft" in window);
  return page;
}

/** What most browser tests run against: a relay in memory, the page server with the SDK's bundle, and Chromium. */
export type BrowserRig = { relay: LocalRelay; pages: PageServer; browser: Browser };

/** Starts the three; what started is stopped again if a later one fails. */
export async function startBrowserRig(): Promise<BrowserRig> {
  const relay = await startRelay();
  let pages: PageServer | undefined;
  try {
    pages = await startPageServer(await browserBundle());
    return { relay, pages, browser: await launchChromium() };
  } catch (error) {
    await pages?.close();
    await relay.stop();
    throw error;
  }
}

/** Stops what of a rig started, the browser first. */
export async function stopBrowserRig(rig: Partial<BrowserRig>): Promise<void> {
  await rig.browser?.close();
  await rig.pages?.close();
  await rig.relay?.stop();
}
