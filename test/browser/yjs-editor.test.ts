// examples/yjs-editor in headless Chromium (Debian's chromium through playwright-core) against the relay in
// workerd (startRelay): two people type into one text at once and converge, one goes offline and comes
// back, a reload restores from IndexedDB without the network, and the other one's cursor comes and goes.
// Each person is a browser context of their own (own IndexedDB, own identity), as two devices are.
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { startProxy, type Proxy } from "../support/proxy.ts";
import { REPO_ROOT } from "../support/scratch-app.ts";
import { serveFolder } from "../support/static-server.ts";
import { HAS_CHROMIUM, launchChromium } from "./page-server.ts";

/** Set to a path (docs/yjs-editor.png) to save the screenshot the README shows. */
const SCREENSHOT = process.env.WEFT_SCREENSHOT;

// What the example puts on `window.weftEditor` (see examples/yjs-editor/editor.js).
type EditorGlobals = {
  weftEditor: {
    docId: string;
    ytext: { toString(): string };
    view: { state: { doc: { toString(): string } } };
    provider: { status: string; synced: boolean };
    synced(): Promise<void>;
  };
};

/** Whether `part`'s characters appear in `whole` in the same order. */
const isSubsequence = (part: string, whole: string) => {
  let at = 0;
  for (const char of whole) if (char === part[at]) at++;
  return at === part.length;
};
const textOf = (page: Page) => page.evaluate(() => (window as unknown as EditorGlobals).weftEditor.ytext.toString());
/** What the editor shows: CodeMirror's document (the DOM's innerText drops spaces where a line wraps). */
const shownOf = (page: Page) => page.evaluate(() => (window as unknown as EditorGlobals).weftEditor.view.state.doc.toString());

describe.skipIf(!HAS_CHROMIUM)("examples/yjs-editor in Chromium", () => {
  const site = mkdtempSync(join(tmpdir(), "weft-editor-"));
  let relay: LocalRelay;
  let proxy: Proxy;
  let server: { url: string; close(): Promise<void> };
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    cpSync(join(REPO_ROOT, "examples", "yjs-editor"), site, { recursive: true });
    // As an app that installed weft would bundle it; here weft/* are the repo's sources.
    await build({
      entryPoints: [join(REPO_ROOT, "examples", "yjs-editor", "editor.js")],
      outfile: join(site, "editor.bundle.js"),
      bundle: true,
      format: "esm",
      platform: "browser",
      logLevel: "warning",
      alias: { "weft/client": join(REPO_ROOT, "client", "index.ts"), "weft/yjs": join(REPO_ROOT, "yjs", "index.ts") },
    });
    relay = await startRelay();
    // The pages reach the relay through this proxy, which the offline test takes down: Chromium's offline
    // emulation leaves an open WebSocket open (see test/browser/browser.test.ts).
    proxy = await startProxy({ port: Number(new URL(relay.url).port) });
    server = await serveFolder(site);
    browser = await launchChromium();
  }, 60_000);

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
    proxy.restore();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await proxy?.close();
    await relay?.stop();
    rmSync(site, { recursive: true, force: true });
  });

  /** A person's browser (a context of its own) with the editor open on `doc`, or on a new document. */
  async function openEditor(name: string, doc?: string, context?: BrowserContext): Promise<Page> {
    if (!context) {
      context = await browser.newContext({ viewport: { width: 900, height: 560 } });
      contexts.push(context);
    }
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on("pageerror", (error) => pageErrors.push(`${name}: ${error.message}`));
    await page.goto(`${server.url}/?${new URLSearchParams({ relay: proxy.url, name, ...(doc ? { doc } : {}) })}`);
    await page.waitForFunction(() => "weftEditor" in window);
    return page;
  }

  const docIdOf = (page: Page) => page.evaluate(() => (window as unknown as EditorGlobals).weftEditor.docId);
  const statusOf = (page: Page) => page.locator("#status").getAttribute("data-status");
  const waitForText = (page: Page, check: string) =>
    page.waitForFunction((wanted) => (window as unknown as EditorGlobals).weftEditor.ytext.toString().includes(wanted), check);

  /** Types into the editor as a user does: a click at the end of the text, then keystrokes. */
  async function typeAtEnd(page: Page, text: string): Promise<void> {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type(text, { delay: 15 });
  }

  it("two people type into the same text at once and end with the same text", async () => {
    const ada = await openEditor("ada");
    const bob = await openEditor("bob", await docIdOf(ada));
    const [typedByAda, typedByBob] = ["ada types here. ", "bob types there. "];
    await Promise.all([typeAtEnd(ada, typedByAda), typeAtEnd(bob, typedByBob)]);
    const length = typedByAda.length + typedByBob.length;
    const holdsAll = (page: Page) => page.waitForFunction((total) => (window as unknown as EditorGlobals).weftEditor.ytext.toString().length === total, length);
    await Promise.all([holdsAll(ada), holdsAll(bob)]);
    const [a, b] = [await textOf(ada), await textOf(bob)];
    expect(a).toBe(b);
    // Where both typed at the same spot, Yjs interleaves the two runs; each one's keystrokes keep their order.
    expect(isSubsequence(typedByAda, a) && isSubsequence(typedByBob, a)).toBe(true);
    expect([await shownOf(ada), await shownOf(bob)]).toEqual([a, a]);
    expect(pageErrors).toEqual([]);
  });

  it("one goes offline, both keep editing, and once it is back both have every edit", async () => {
    const ada = await openEditor("ada");
    const bob = await openEditor("bob", await docIdOf(ada));
    await typeAtEnd(ada, "start. ");
    await waitForText(bob, "start.");

    await bob.context().setOffline(true);
    await bob.waitForFunction(() => document.querySelector("#status")?.getAttribute("data-status") === "disconnected");
    proxy.down();
    await typeAtEnd(bob, "bob offline. ");
    await typeAtEnd(ada, "ada online. ");
    expect(await textOf(ada)).not.toContain("bob offline.");

    proxy.restore();
    await bob.context().setOffline(false);
    await Promise.all([waitForText(ada, "bob offline."), waitForText(bob, "ada online.")]);
    expect(await textOf(ada)).toBe(await textOf(bob));
    expect(await shownOf(bob)).toBe(await textOf(bob));
    expect(await statusOf(bob)).toBe("connected");
    expect(pageErrors).toEqual([]);
  });

  it("shows who is here and the other person's cursor with their name, and removes both when that tab closes", async () => {
    const ada = await openEditor("ada");
    const bob = await openEditor("bob", await docIdOf(ada));
    await typeAtEnd(ada, "Notes for Thursday.\nAgenda: ");
    await typeAtEnd(bob, "budget, hiring");
    const bobsCursor = ada.locator(".cm-ySelectionCaret", { hasText: "bob" });
    await bobsCursor.waitFor();
    await ada.locator("#here li", { hasText: "bob" }).waitFor();
    expect(await ada.locator("#here li").allTextContents()).toEqual(["ada (you)", "bob"]);
    await bob.locator(".cm-ySelectionCaret", { hasText: "ada" }).waitFor();
    if (SCREENSHOT) {
      await bobsCursor.hover(); // shows the name above the caret
      await ada.screenshot({ path: SCREENSHOT });
    }

    await bob.close();
    await bobsCursor.waitFor({ state: "detached" });
    expect(await ada.locator("#here li").allTextContents()).toEqual(["ada (you)"]);
    expect(pageErrors).toEqual([]);
  });

  it("a reload without the network restores the text from IndexedDB", async () => {
    const ada = await openEditor("ada");
    await typeAtEnd(ada, "kept in IndexedDB. ");
    await ada.evaluate(() => (window as unknown as EditorGlobals).weftEditor.synced());
    await ada.waitForFunction(() => navigator.serviceWorker.controller !== null); // the page itself loads offline
    const before = await textOf(ada);

    await ada.context().setOffline(true);
    proxy.down();
    await ada.reload();
    await ada.waitForFunction(() => "weftEditor" in window);
    expect(await textOf(ada)).toBe(before);
    expect(await shownOf(ada)).toBe(before);
    expect(await statusOf(ada)).toBe("disconnected");
    expect(pageErrors).toEqual([]);
  });
});
