// The package as an app gets it: `npm pack`, then `npm install <tarball>` (offline, from the npm cache) into a
// scratch app outside the repo, which imports it from Node 22 (ESM and require) and from the machine's Node 20
// (passing `ws`; npm installs it there with --engine-strict), typechecks against its declarations under three
// module resolutions and under `module: commonjs` (no @types/node: a browser app has none), and as a Node app
// whose lib has no DOM, and bundles it for browsers.
import { execFile, execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { build } from "esbuild";
import { build as viteBuild } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROWSER_BUNDLE_BUDGET_GZIPPED, browserBundle, gzippedSize } from "../../scripts/bundle-size.ts";
import { chromium } from "playwright-core";
import { createClient, createIdentity } from "../../client/index.ts";
import { PROTOCOL_VERSION, type DocId } from "../../protocol/index.ts";
import { startRelay } from "../../dev/start-relay.ts";
import { REPO_ROOT, installScratchApp, packWeft } from "../support/scratch-app.ts";
import { serveFolder } from "../support/static-server.ts";

const run = promisify(execFile);
const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
const CHROMIUM = "/usr/bin/chromium";
// The machine's own Node, if it is Node 20 (as on these machines): an app may run there, on a runtime with no global WebSocket.
const SYSTEM_NODE = "/usr/bin/node";
const systemNode20 = existsSync(SYSTEM_NODE) && execFileSync(SYSTEM_NODE, ["--version"], { encoding: "utf8" }).startsWith("v20.");
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

describe("the packed package, installed by an app", () => {
  const scratch = mkdtempSync(join(tmpdir(), "weft-pack-"));
  const app = join(scratch, "app");
  let files: string[] = [];

  beforeAll(async () => {
    const packed = await packWeft(scratch);
    files = packed.files;
    // The types a Worker app and a Node app have, the peer dependencies of weft/yjs, and the WebSocket a Node 20 app passes in.
    await installScratchApp(app, packed.tarball, ["@cloudflare/workers-types", "@types/node", "yjs", "y-protocols", "ws"]);
  }, 120_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** The app's own dev dependency for weft/dev; linked from the repo's node_modules rather than installed again (workerd is large). */
  const linkMiniflare = () => {
    const link = join(app, "node_modules", "miniflare");
    if (!existsSync(link)) symlinkSync(join(REPO_ROOT, "node_modules", "miniflare"), link, "dir");
  };

  it("ships dist/ (JavaScript, declarations, source maps) and the docs, nothing else", () => {
    // The README's links into docs/ (and its picture) resolve in the installed package too.
    expect(files.filter((path) => !path.startsWith("dist/"))).toEqual(["CHANGELOG.md", "LICENSE", "README.md", "docs/bindings.md", "docs/deploy.md", "docs/yjs-editor.png", "package.json"]);
    expect(files).toContain("dist/relay/worker.js");
    for (const entry of ["client/index", "client/node", "protocol/index", "dev/index", "tokens/index", "worker/library", "yjs/index"]) {
      expect(files).toEqual(expect.arrayContaining([`dist/${entry}.js`, `dist/${entry}.d.ts`, `dist/${entry}.js.map`]));
    }
    expect(files.filter((path) => /\.ts$/.test(path) && !path.endsWith(".d.ts"))).toEqual([]);
  });

  it("runs no script on install and pulls no dev tooling into the app", () => {
    const installed = JSON.parse(readFileSync(join(app, "node_modules", "weft", "package.json"), "utf8"));
    expect(Object.keys(installed.scripts ?? {}).filter((name) => /^(pre|post)?install$|^prepare$/.test(name))).toEqual([]);
    expect(installed.private).toBeUndefined();
    for (const tool of ["wrangler", "miniflare", "node", "workerd", "esbuild", "typescript"]) {
      expect(() => readFileSync(join(app, "node_modules", tool, "package.json"))).toThrow();
    }
  });

  it.skipIf(!systemNode20)("installs on the machine's Node 20 with --engine-strict: the package asks apps for Node ^20.19 || >=22.12, not the repo's tooling's Node 22", async () => {
    const node20App = join(scratch, "app-node20");
    mkdirSync(node20App);
    for (const file of ["package.json", "package-lock.json"]) cpSync(join(app, file), join(node20App, file));
    // npm's own shebang finds the system Node first on this PATH, so npm checks engines against Node 20.
    const env = { ...process.env, PATH: `${dirname(SYSTEM_NODE)}${delimiter}${process.env.PATH ?? ""}` };
    const { stderr } = await run("npm", ["ci", "--offline", "--engine-strict", "--no-audit", "--no-fund"], { cwd: node20App, env, timeout: 90_000 });
    expect(stderr).not.toContain("EBADENGINE");
    const installed = JSON.parse(readFileSync(join(node20App, "node_modules", "weft", "package.json"), "utf8"));
    expect(installed.engines).toEqual({ node: "^20.19.0 || >=22.12.0" });
    const { stdout } = await run(SYSTEM_NODE, ["-e", "console.log(process.version)"], { env, timeout: 10_000 });
    expect(stdout).toMatch(/^v20\./);
  });

  it("works from an ESM app on Node 22: creates a document offline and reads it back from the file store", async () => {
    writeFileSync(
      join(app, "main.mjs"),
      `import { createClient, createIdentity } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       import { PROTOCOL_VERSION, isSessionId } from "weft/protocol";
       const store = new FileLocalStore(new URL("./store", import.meta.url).pathname);
       // No relay listens on port 9: the document is created and saved offline.
       const client = await createClient({ url: "http://127.0.0.1:9", identity: createIdentity(), store });
       const doc = client.group("app").create({ meta: { from: "an app" } });
       doc.append("hello");
       await client.group("app").ready;
       await new Promise((resolve) => setTimeout(resolve, 50));
       client.close();
       const again = await createClient({ url: "http://127.0.0.1:9", identity: client.identity, store });
       const reopened = await again.group("app").open(doc.id);
       again.close();
       console.log(JSON.stringify({ v: PROTOCOL_VERSION, session: isSessionId(client.session), data: reopened.transactions().map((t) => t.data) }));`,
    );
    const { stdout } = await run(process.execPath, ["main.mjs"], { cwd: app, timeout: 30_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ v: PROTOCOL_VERSION, session: true, data: ["hello"] });
  });

  it("works from require() on Node 22", async () => {
    writeFileSync(
      join(app, "main.cjs"),
      `const { createIdentity, exportIdentity } = require("weft/client");
       const { FileLocalStore } = require("weft/client/node");
       const { isAgentId } = require("weft/protocol");
       const identity = createIdentity();
       console.log(JSON.stringify({ agent: isAgentId(identity.agent), exported: typeof exportIdentity(identity), store: typeof FileLocalStore }));`,
    );
    const { stdout } = await run(process.execPath, ["main.cjs"], { cwd: app, timeout: 30_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ agent: true, exported: "string", store: "function" });
  });

  // Before any test links miniflare into the app.
  it("weft/dev without miniflare says how to get it", async () => {
    writeFileSync(join(app, "no-miniflare.mjs"), `import { startRelay } from "weft/dev";\nawait startRelay();\n`);
    const failed = await run(process.execPath, ["no-miniflare.mjs"], { cwd: app, timeout: 30_000 }).catch((error: { stderr: string }) => error);
    expect(failed.stderr).toContain("npm install --save-dev miniflare");
  });

  it("weft/dev runs the packaged relay once the app has miniflare: two clients sync through it", async () => {
    linkMiniflare();
    writeFileSync(
      join(app, "dev.mjs"),
      `import { startRelay } from "weft/dev";
       import { createClient, createIdentity } from "weft/client";
       const relay = await startRelay();
       const alice = await createClient({ url: relay.url, identity: createIdentity() });
       const doc = alice.group("team").create({});
       doc.append("from the packaged relay");
       await doc.synced();
       const bob = await createClient({ url: relay.url, identity: createIdentity() });
       const seen = await bob.group("team").open(doc.id);
       console.log(JSON.stringify(seen.transactions().map((t) => t.data)));
       alice.close();
       bob.close();
       await relay.stop();`,
    );
    const { stdout } = await run(process.execPath, ["dev.mjs"], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual(["from the packaged relay"]);
  });

  it("two processes of an app on one FileLocalStore: one writes cut off and quits, the live one pushes its writes at once", async () => {
    linkMiniflare();
    writeFileSync(
      join(app, "handoff.mjs"),
      `import { spawn } from "node:child_process";
       import { mkdtempSync, rmSync } from "node:fs";
       import { tmpdir } from "node:os";
       import { join } from "node:path";
       import { fileURLToPath } from "node:url";
       import { startRelay } from "weft/dev";
       import { createClient, createIdentity, exportIdentity, importIdentity } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       const [mode, dir, secret] = process.argv.slice(2);
       if (mode === "cut-off") {
         const client = await createClient({ url: "http://127.0.0.1:9", identity: importIdentity(secret), store: new FileLocalStore(dir) });
         const doc = client.group("team").create({});
         doc.append("written cut off");
         doc.append("in another process");
         await client.close();
         console.log(doc.id);
       } else {
         const relay = await startRelay();
         const store = mkdtempSync(join(tmpdir(), "handoff-"));
         const identity = createIdentity();
         const live = await createClient({ url: relay.url, identity, store: new FileLocalStore(store) });
         await live.group("team").openAll();
         const other = spawn(process.execPath, [fileURLToPath(import.meta.url), "cut-off", store, exportIdentity(identity)], { stdio: ["ignore", "pipe", "inherit"] });
         let id = "";
         for await (const chunk of other.stdout) id += chunk;
         const reader = await createClient({ url: relay.url, identity: createIdentity() });
         let seen = [];
         for (const deadline = Date.now() + 20_000; seen.length < 2 && Date.now() < deadline; ) {
           await new Promise((resolve) => setTimeout(resolve, 100));
           seen = await reader.group("team").open(id.trim()).then((doc) => doc.transactions().map((t) => t.data), () => []);
         }
         console.log(JSON.stringify(seen));
         await reader.close();
         await live.close();
         await relay.stop();
         rmSync(store, { recursive: true, force: true });
       }`,
    );
    const { stdout } = await run(process.execPath, ["handoff.mjs"], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual(["written cut off", "in another process"]);
  });

  it("weft/yjs keeps two Y.Docs of a Node app in sync through the packaged relay", async () => {
    linkMiniflare();
    writeFileSync(
      join(app, "yjs.mjs"),
      `import { startRelay } from "weft/dev";
       import { createClient, createIdentity } from "weft/client";
       import { WeftProvider } from "weft/yjs";
       import * as Y from "yjs";
       const relay = await startRelay();
       const [one, two] = [await createClient({ url: relay.url, identity: createIdentity() }), await createClient({ url: relay.url, identity: createIdentity() })];
       const doc = one.group("notes").create({ kind: "yjs" });
       await doc.synced();
       const [a, b] = [new Y.Doc(), new Y.Doc()];
       const providers = [new WeftProvider(one.group("notes"), doc.id, a), new WeftProvider(two.group("notes"), doc.id, b)];
       await Promise.all(providers.map((provider) => provider.loaded));
       const arrived = new Promise((resolve) => b.on("update", () => b.getText("t").length === 11 && resolve()));
       a.getText("t").insert(0, "from a node");
       await arrived;
       console.log(b.getText("t").toString());
       // One provider is destroyed, the other is not: closing its client lets go of it (the process exits).
       providers[0].destroy();
       await Promise.all([one.close(), two.close()]);
       await relay.stop();`,
    );
    const { stdout } = await run(process.execPath, ["yjs.mjs"], { cwd: app, timeout: 60_000 });
    expect(stdout.trim()).toBe("from a node");
  });

  it.skipIf(!systemNode20)("on the machine's Node 20: the SDK says it needs a WebSocket, and with one from ws it syncs through weft/dev", async () => {
    linkMiniflare();
    writeFileSync(
      join(app, "node20.mjs"),
      `import { startRelay } from "weft/dev";
       import { createClient, createIdentity } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       import { WebSocket } from "ws";
       const relay = await startRelay();
       const bare = await createClient({ url: relay.url, identity: createIdentity() });
       let missing;
       try {
         bare.group("team");
       } catch (error) {
         missing = error.name + ": " + error.message;
       }
       await bare.close();
       const store = new FileLocalStore(new URL("./store-node20", import.meta.url).pathname);
       const alice = await createClient({ url: relay.url, identity: createIdentity(), store, WebSocket });
       const doc = alice.group("team").create({});
       doc.append("from Node 20");
       await doc.synced();
       const bob = await createClient({ url: relay.url, identity: createIdentity(), WebSocket });
       const seen = await bob.group("team").open(doc.id);
       console.log(JSON.stringify({ node: process.versions.node.split(".")[0], missing, data: seen.transactions().map((t) => t.data) }));
       await Promise.all([alice.close(), bob.close()]);
       await relay.stop();`,
    );
    const { stdout } = await run(SYSTEM_NODE, ["node20.mjs"], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({
      node: "20",
      missing: expect.stringMatching(/^TypeError: no WebSocket in this runtime \(Node 20\): pass one as createClient's WebSocket option, the ws package's/),
      data: ["from Node 20"],
    });
  });

  it("snapshots from the package: an app snapshots a document, a second client loads the snapshot, and a Yjs provider converges on a snapshotted doc", async () => {
    linkMiniflare();
    writeFileSync(
      join(app, "snapshots.mjs"),
      `import { startRelay } from "weft/dev";
       import { createClient, createIdentity } from "weft/client";
       import { WeftProvider } from "weft/yjs";
       import * as Y from "yjs";
       const relay = await startRelay();
       const [alice, bob] = [await createClient({ url: relay.url, identity: createIdentity() }), await createClient({ url: relay.url, identity: createIdentity() })];
       // 40 long lines, then their state in a few bytes: the relay sends the snapshot instead of the lines.
       const doc = alice.group("team").create({});
       for (let i = 0; i < 40; i++) doc.append("line " + i + " " + "x".repeat(200));
       await doc.synced();
       await doc.snapshot("40 lines");
       doc.append("after the snapshot");
       await doc.synced();
       const seen = await bob.group("team").open(doc.id);
       const plain = {
         stored: doc.lastSnapshotted.covers,
         received: { data: seen.heldSnapshot?.data, covers: seen.heldSnapshot?.covers, by: seen.heldSnapshot?.session === alice.session },
         after: seen.transactions().map((t) => t.data),
       };

       // A lone Yjs editor leads, so its provider snapshots by itself once the log outgrows the state.
       const notes = alice.group("notes").create({ kind: "yjs" });
       await notes.synced();
       const typed = new Y.Doc();
       const writer = new WeftProvider(alice.group("notes"), notes.id, typed, { snapshots: { factor: 2, minLogBytes: 2000 } });
       await writer.loaded;
       const snapshotted = new Promise((resolve) => writer.doc.subscribe((change) => change.snapshotted && resolve()));
       for (let i = 0; i < 200; i++) {
         typed.getText("t").insert(i, "k");
         await new Promise((resolve) => setImmediate(resolve));
       }
       await snapshotted;
       await writer.doc.synced();
       const loaded = new Y.Doc();
       const reader = new WeftProvider(bob.group("notes"), notes.id, loaded);
       await reader.loaded;
       const yjs = { text: loaded.getText("t").toString() === typed.getText("t").toString() && loaded.getText("t").length, snapshot: reader.doc.heldSnapshot !== undefined };
       console.log(JSON.stringify({ plain, yjs }));
       writer.destroy();
       reader.destroy();
       alice.close();
       bob.close();
       await relay.stop();`,
    );
    const { stdout } = await run(process.execPath, ["snapshots.mjs"], { cwd: app, timeout: 60_000 });
    const { plain, yjs } = JSON.parse(stdout.trim());
    expect(Object.values(plain.stored)).toEqual([40]);
    expect(plain.received).toEqual({ data: "40 lines", covers: plain.stored, by: true });
    expect(plain.after).toEqual(["after the snapshot"]);
    expect(yjs).toEqual({ text: 200, snapshot: true });
  });

  it("weft/worker and weft/tokens: an app's Worker built from the package serves the relay and admits a minted token", async () => {
    linkMiniflare();
    writeFileSync(
      join(app, "worker.mjs"),
      `import { configFromEnv, groupObjectWith, relayRoutes } from "weft/worker";
       export class Groups extends groupObjectWith((env) => configFromEnv({ WEFT_TOKEN_SECRET: env.APP_SECRET })) {}
       const relay = relayRoutes({ groups: (env) => env.GROUPS });
       export default { fetch: (request, env, ctx) => new URL(request.url).pathname.startsWith("/sync/") ? relay.fetch(new Request(request.url.replace("/sync/", "/"), request), env, ctx) : new Response("app") };`,
    );
    // What wrangler does to an app's Worker: bundle it (here with the repo's esbuild, from the app's folder).
    await build({ absWorkingDir: app, entryPoints: ["worker.mjs"], outfile: join(app, "worker.bundle.js"), bundle: true, format: "esm", platform: "neutral", external: ["cloudflare:*", "node:*"], logLevel: "warning" });
    writeFileSync(
      join(app, "worker-app.mjs"),
      `import { readFileSync } from "node:fs";
       import { Miniflare, convertV4MiniflareOptions } from "miniflare";
       import { createClient, createIdentity } from "weft/client";
       import { mintToken } from "weft/tokens";
       const miniflare = new Miniflare(convertV4MiniflareOptions({
         modules: true, script: readFileSync("worker.bundle.js", "utf8"), compatibilityDate: "2026-08-01", compatibilityFlags: ["nodejs_compat"],
         durableObjects: { GROUPS: { className: "Groups", useSQLite: true } }, bindings: { APP_SECRET: "an app secret, long enough for HS256" }, host: "127.0.0.1", port: 0,
       }));
       const url = new URL("sync", await miniflare.ready).href;
       const identity = createIdentity();
       const client = await createClient({ url, identity, getToken: (group) => mintToken({ agent: identity.agent, group, role: "writer", expiresIn: 60 }, "an app secret, long enough for HS256") });
       const doc = client.group("team").create({});
       doc.append("via the app's Worker");
       await doc.synced();
       console.log(JSON.stringify({ role: client.group("team").role }));
       client.close();
       await miniflare.dispose();`,
    );
    const { stdout } = await run(process.execPath, ["worker-app.mjs"], { cwd: app, timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ role: "writer" });
  });

  it("examples/node-todo runs: two devices end with the same list", async () => {
    linkMiniflare();
    cpSync(join(REPO_ROOT, "examples"), join(app, "examples"), { recursive: true });
    const { stdout } = await run(process.execPath, [join("examples", "node-todo", "todo.mjs")], { cwd: app, timeout: 60_000 });
    expect(stdout.trim().split("\n")).toEqual(["laptop: eggs, bread", "phone:  eggs, bread"]);
  });

  it.skipIf(!systemNode20)("examples/node-todo runs as written on the machine's Node 20, with ws installed", async () => {
    linkMiniflare();
    cpSync(join(REPO_ROOT, "examples"), join(app, "examples"), { recursive: true });
    const { stdout } = await run(SYSTEM_NODE, [join("examples", "node-todo", "todo.mjs")], { cwd: app, timeout: 60_000 });
    expect(stdout.trim().split("\n")).toEqual(["laptop: eggs, bread", "phone:  eggs, bread"]);
  });

  it.skipIf(!existsSync(CHROMIUM))("examples/browser-chat runs in Chromium: a message typed in the page reaches a Node client, and back", async () => {
    const chat = join(app, "examples", "browser-chat");
    cpSync(join(REPO_ROOT, "examples"), join(app, "examples"), { recursive: true });
    await build({ absWorkingDir: app, entryPoints: [join(chat, "chat.js")], outfile: join(chat, "chat.bundle.js"), bundle: true, format: "esm", platform: "browser", logLevel: "warning" });
    const relay = await startRelay();
    const site = await serveFolder(chat);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const node = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      const page = await browser.newPage();
      await page.goto(`${site.url}/?${new URLSearchParams({ relay: relay.url, name: "ada" })}`);
      await page.waitForFunction(() => "chat" in window, undefined, { timeout: 15_000 });
      await page.fill("#text", "hello from the page");
      await page.click("button");
      await page.evaluate(() => (window as unknown as { chat: { synced(): Promise<void> } }).chat.synced());
      const room = (await page.evaluate(() => (window as unknown as { chat: { room: string } }).chat.room)) as DocId;

      const seen = await node.group("chat").open(room);
      expect(seen.transactions().map((tx) => JSON.parse(tx.data as string))).toEqual([{ from: "ada", text: "hello from the page" }]);
      seen.append(JSON.stringify({ from: "bob", text: "hi ada" }));
      await seen.synced();
      await page.waitForFunction(() => document.querySelectorAll("#messages li").length === 2, undefined, { timeout: 15_000 });
      expect(await page.locator("#messages li").allTextContents()).toEqual(["ada: hello from the page", "bob: hi ada"]);
    } finally {
      node.close();
      await browser.close();
      await site.close();
      await relay.stop();
    }
  });

  it.each(["bundler", "node16", "nodenext"])("typechecks a strict TypeScript app with exactOptionalPropertyTypes under moduleResolution %s", async (resolution) => {
    writeFileSync(
      join(app, "app.ts"),
      `import { createClient, createIdentity, RelayError, type ClientOptions, type Doc, type DocChange, type Snapshot, type Snapshotted, type Status } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       import { PROTOCOL_VERSION, isSessionId } from "weft/protocol";
       import { startRelay, type LocalRelay } from "weft/dev";
       import { WeftProvider, type ProviderStatus } from "weft/yjs";
       import * as Y from "yjs";
       const relay: LocalRelay = await startRelay({ persistTo: "./relay", vars: { WEFT_TOKEN_SECRET: "a local secret, long enough for HS256" } });
       await relay.stop();
       const options: ClientOptions = { url: "http://127.0.0.1:8787", identity: createIdentity(), store: new FileLocalStore("./store") };
       const client = await createClient(options);
       // The ws package's class, as on Node 20: its declarations differ from the DOM's, so only the constructor has to fit.
       declare class NodeWebSocket {
         constructor(address: string | URL | null, protocols?: string | string[]);
         binaryType: "nodebuffer" | "arraybuffer" | "fragments";
         send(data: unknown, callback?: (error?: Error) => void): void;
         addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
       }
       void createClient({ ...options, WebSocket: NodeWebSocket, getToken: async () => undefined });
       const group = client.group("team");
       const doc: Doc = group.create({ kind: "json", meta: { title: "list" } });
       doc.append(JSON.stringify({ add: "milk" }));
       const snapshotTaken: Promise<void> = doc.snapshot(new Uint8Array([1, 2, 3]));
       const held: Snapshot | undefined = doc.heldSnapshot;
       const stored: Snapshotted | undefined = doc.lastSnapshotted;
       doc.subscribe((change: DocChange) => console.log(change.snapshot?.covers, change.snapshotted?.session, held?.data, stored?.covers, snapshotTaken));
       // @ts-expect-error a snapshot's data is a string or bytes
       void doc.snapshot({ state: 1 });
       const provider = new WeftProvider(group, doc.id, new Y.Doc());
       provider.on("status", ({ status }: { status: ProviderStatus }) => console.log(status));
       // A snapshot taken by hand, as the README's Yjs section shows it.
       const loaded: Doc = await provider.loaded;
       await loaded.synced();
       await loaded.snapshot(Y.encodeStateAsUpdate(provider.ydoc));
       group.onStatus((status: Status) => console.log(status));
       provider.group.disconnect(); // as the README maps y-websocket's provider.disconnect()
       provider.group.connect();
       client.disconnect(); // every group
       client.connect();
       // The declarations are real types, not any: a wrong call is refused.
       // @ts-expect-error an append takes a string
       doc.append(42);
       const version: number = PROTOCOL_VERSION;
       console.log(version, isSessionId(client.session), RelayError.name);
       client.close();`,
    );
    const module = resolution === "bundler" ? "esnext" : resolution;
    // Checking every declaration file (valibot's are 19,000 lines) takes ~15 s here, so it is done once, under
    // nodenext, the strictest resolution; under the others a declaration that failed to resolve would turn the
    // API into \`any\` and leave the @ts-expect-error above unused, which fails too.
    const skipLibCheck = resolution !== "nodenext";
    writeFileSync(
      join(app, `tsconfig.${resolution}.json`),
      JSON.stringify({
        compilerOptions: {
          target: "es2022", module, moduleResolution: resolution, lib: ["es2023", "dom"], types: [],
          strict: true, exactOptionalPropertyTypes: true, skipLibCheck, skipDefaultLibCheck: true, noEmit: true,
        },
        files: ["app.ts"],
      }),
    );
    const result = await run(process.execPath, [TSC, "-p", `tsconfig.${resolution}.json`], { cwd: app, timeout: 60_000 }).catch((error: { stdout: string }) => error);
    expect(result.stdout).toBe("");
  });

  it("typechecks a strict Node TypeScript app whose lib has no DOM (lib es2023, types node, as @tsconfig/node22) against every declaration but weft/worker's", async () => {
    writeFileSync(
      join(app, "app-node.ts"),
      `import { createClient, createIdentity, IndexedDbLocalStore, type Doc } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       import { PROTOCOL_VERSION } from "weft/protocol";
       import { startRelay } from "weft/dev";
       import { generateTokenKeys, mintToken } from "weft/tokens";
       import { WeftProvider } from "weft/yjs";
       const relay = await startRelay();
       const client = await createClient({ url: relay.url, identity: createIdentity(), store: new FileLocalStore("./store") });
       const doc: Doc = client.group("team").create({});
       // Node's WebCrypto keys fit mintToken: a CryptoKey, and a JWK as Node exports it.
       const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
       const privateKey = "privateKey" in pair ? pair.privateKey : pair;
       const claims = { agent: client.identity.agent, group: "team", role: "reader" as const, expiresIn: 60 };
       const tokens = [await mintToken(claims, privateKey), await mintToken(claims, await crypto.subtle.exportKey("jwk", privateKey)), await mintToken(claims, (await generateTokenKeys()).privateKey)];
       console.log(PROTOCOL_VERSION, doc.id, tokens, IndexedDbLocalStore.name, WeftProvider.name);
       // @ts-expect-error a signing key is a secret, a JWK or a CryptoKey (the declarations resolved: not any)
       void mintToken(claims, 42);
       await client.close();
       await relay.stop();`,
    );
    writeFileSync(
      join(app, "tsconfig.node.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022", module: "nodenext", moduleResolution: "nodenext", lib: ["es2023"], types: ["node"],
          strict: true, exactOptionalPropertyTypes: true, skipLibCheck: false, noEmit: true,
        },
        files: ["app-node.ts"],
      }),
    );
    const result = await run(process.execPath, [TSC, "-p", "tsconfig.node.json"], { cwd: app, timeout: 60_000 }).catch((error: { stdout: string }) => error);
    // Yjs's own declarations name DOM types (Document, Node in its XML types): a Yjs app needs "dom" for
    // them, with or without Weft. Every other line would be one of Weft's declarations needing it.
    expect(result.stdout.split("\n").filter((line) => line !== "" && !line.startsWith("node_modules/yjs/"))).toEqual([]);
  });

  it("typechecks a CommonJS TypeScript app (module commonjs, which resolves as node10 and reads no exports map) through typesVersions", async () => {
    writeFileSync(
      join(app, "app-cjs.ts"),
      `import { createClient, createIdentity, type ClientOptions, type Doc } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       import { PROTOCOL_VERSION } from "weft/protocol";
       import { startRelay, type LocalRelay } from "weft/dev";
       import { mintToken } from "weft/tokens";
       import { WeftProvider } from "weft/yjs";
       import * as Y from "yjs";
       async function main(): Promise<void> {
         const relay: LocalRelay = await startRelay();
         const options: ClientOptions = { url: relay.url, identity: createIdentity(), store: new FileLocalStore("./store") };
         const client = await createClient(options);
         const doc: Doc = client.group("team").create({});
         // @ts-expect-error an append takes a string or bytes (the declarations resolved: not any)
         doc.append(42);
         new WeftProvider(client.group("team"), doc.id, new Y.Doc()).destroy();
         console.log(PROTOCOL_VERSION, await mintToken({ agent: client.identity.agent, group: "team", role: "reader", expiresIn: 60 }, "an app secret, long enough for HS256"));
         client.close();
         await relay.stop();
       }
       void main();`,
    );
    writeFileSync(
      join(app, "tsconfig.commonjs.json"),
      JSON.stringify({
        compilerOptions: { target: "es2022", module: "commonjs", lib: ["es2023", "dom"], types: [], strict: true, exactOptionalPropertyTypes: true, skipLibCheck: true, noEmit: true },
        files: ["app-cjs.ts"],
      }),
    );
    const result = await run(process.execPath, [TSC, "-p", "tsconfig.commonjs.json"], { cwd: app, timeout: 60_000 }).catch((error: { stdout: string }) => error);
    expect(result.stdout).toBe("");
  });

  it("typechecks a strict TypeScript Worker that mounts weft/worker and mints with weft/tokens", async () => {
    writeFileSync(
      join(app, "worker-app.ts"),
      `import { Hono } from "hono";
       import { configFromEnv, groupObjectWith, relayRoutes, type GroupObject } from "weft/worker";
       import { mintToken } from "weft/tokens";
       type Env = { SYNC: DurableObjectNamespace<GroupObject>; SECRET: string };
       export class Groups extends groupObjectWith<Env>((env) => configFromEnv({ WEFT_TOKEN_SECRET: env.SECRET })) {}
       const app = new Hono<{ Bindings: Env }>();
       app.route("/sync", relayRoutes<Env>({ groups: (env) => env.SYNC }));
       app.get("/token/:agent", async (c) => c.text(await mintToken({ agent: c.req.param("agent"), group: "team", role: "reader", expiresIn: 600 }, c.env.SECRET)));
       // @ts-expect-error the relay's routes need the namespace its objects are bound to
       relayRoutes<Env>({ groups: (env) => env.SECRET });
       export default app;`,
    );
    writeFileSync(
      join(app, "tsconfig.worker.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022", module: "esnext", moduleResolution: "bundler", lib: ["es2023"], types: ["@cloudflare/workers-types"],
          strict: true, exactOptionalPropertyTypes: true, skipLibCheck: true, noEmit: true,
        },
        files: ["worker-app.ts"],
      }),
    );
    const result = await run(process.execPath, [TSC, "-p", "tsconfig.worker.json"], { cwd: app, timeout: 60_000 }).catch((error: { stdout: string }) => error);
    expect(result.stdout).toBe("");
  });

  it("bundles weft/client for browsers with esbuild within the size budget, and with Vite", async () => {
    writeFileSync(join(app, "browser.mjs"), `export * from "weft/client";\n`);
    const bundle = await browserBundle(join(app, "browser.mjs"));
    expect(new TextDecoder().decode(bundle)).toContain("weft/session/v1");
    expect(gzippedSize(bundle)).toBeLessThanOrEqual(BROWSER_BUNDLE_BUDGET_GZIPPED);

    const built = await viteBuild({
      root: app,
      configFile: false,
      logLevel: "silent",
      build: { write: false, lib: { entry: join(app, "browser.mjs"), formats: ["es"], fileName: "app" } },
    });
    const code = (Array.isArray(built) ? built : [built]).flatMap((output) => ("output" in output ? output.output : [])).map((chunk) => ("code" in chunk ? chunk.code : "")).join("");
    expect(code).toContain("weft/session/v1");
    expect(code).not.toMatch(/from\s*["']node:/);
  });
});
