// The package as an app gets it: `npm pack`, then `npm install <tarball>` (offline, from the npm cache) into a
// scratch app outside the repo, which imports it from Node 22 (ESM and require), typechecks against its
// declarations under three module resolutions (no @types/node: a browser app has none), and bundles it for
// browsers.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROWSER_BUNDLE_BUDGET_GZIPPED, browserBundle, gzippedSize } from "../../scripts/bundle-size.ts";
import { REPO_ROOT, installScratchApp, packWeft } from "../support/scratch-app.ts";

const run = promisify(execFile);
const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");

describe("the packed package, installed by an app", () => {
  const scratch = mkdtempSync(join(tmpdir(), "weft-pack-"));
  const app = join(scratch, "app");
  let files: string[] = [];

  beforeAll(async () => {
    const packed = await packWeft(scratch);
    files = packed.files;
    await installScratchApp(app, packed.tarball);
  }, 120_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("ships dist/ (JavaScript, declarations, source maps) and the docs, nothing else", () => {
    expect(files.filter((path) => !path.startsWith("dist/"))).toEqual(["CHANGELOG.md", "LICENSE", "README.md", "package.json"]);
    expect(files).toContain("dist/relay/worker.js");
    for (const entry of ["client/index", "client/node", "protocol/index", "dev/index"]) {
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
    expect(JSON.parse(stdout.trim())).toEqual({ v: 1, session: true, data: ["hello"] });
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

  it("weft/dev without miniflare says how to get it", async () => {
    writeFileSync(join(app, "no-miniflare.mjs"), `import { startRelay } from "weft/dev";\nawait startRelay();\n`);
    const failed = await run(process.execPath, ["no-miniflare.mjs"], { cwd: app, timeout: 30_000 }).catch((error: { stderr: string }) => error);
    expect(failed.stderr).toContain("npm install --save-dev miniflare");
  });

  it("weft/dev runs the packaged relay once the app has miniflare: two clients sync through it", async () => {
    // The app's own dev dependency; linked from the repo's node_modules rather than installed again (workerd is large).
    symlinkSync(join(REPO_ROOT, "node_modules", "miniflare"), join(app, "node_modules", "miniflare"), "dir");
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

  it.each(["bundler", "node16", "nodenext"])("typechecks a strict TypeScript app with exactOptionalPropertyTypes under moduleResolution %s", async (resolution) => {
    writeFileSync(
      join(app, "app.ts"),
      `import { createClient, createIdentity, RelayError, type ClientOptions, type Doc, type Status } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       import { PROTOCOL_VERSION, isSessionId } from "weft/protocol";
       const options: ClientOptions = { url: "http://127.0.0.1:8787", identity: createIdentity(), store: new FileLocalStore("./store") };
       const client = await createClient(options);
       const group = client.group("team");
       const doc: Doc = group.create({ kind: "json", meta: { title: "list" } });
       doc.append(JSON.stringify({ add: "milk" }));
       group.onStatus((status: Status) => console.log(status));
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

  it("bundles weft/client for browsers with esbuild within the size budget", async () => {
    writeFileSync(join(app, "browser.mjs"), `export * from "weft/client";\n`);
    const bundle = await browserBundle(join(app, "browser.mjs"));
    expect(new TextDecoder().decode(bundle)).toContain("weft/session/v1");
    expect(gzippedSize(bundle)).toBeLessThanOrEqual(BROWSER_BUNDLE_BUDGET_GZIPPED);
  });
});
