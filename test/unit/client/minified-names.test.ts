// The SDK's errors as an app built for production shows them: weft/client and weft/yjs bundled and minified
// (esbuild, as Vite builds), its classes renamed. A message names what the app passed by the SDK's names
// ("a Doc", "not Client"), never by a minifier's ("hd is not a document id", "not Ud").
import { build } from "esbuild";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url).pathname;
const folder = mkdtempSync(join(tmpdir(), "weft-minified-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** weft/client and weft/yjs (with its own Yjs), bundled and minified for browsers, then imported here. */
async function minifiedSdk(): Promise<Record<string, any>> {
  const bundled = await build({
    stdin: { contents: 'export * from "./client/index.ts"; export * from "./yjs/index.ts"; export { Doc as YDoc } from "yjs";', resolveDir: root, loader: "ts" },
    bundle: true, minify: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent",
  });
  const file = join(folder, "sdk.mjs");
  writeFileSync(file, bundled.outputFiles[0]!.contents);
  return import(pathToFileURL(file).href);
}

describe("the SDK minified", () => {
  it("names what the app passed by the SDK's own names", async () => {
    const sdk = await minifiedSdk();
    // The minifier did rename them: otherwise this test would pass on names it never had to keep.
    expect(sdk.Client.name).not.toBe("Client");
    expect(sdk.Doc.name).not.toBe("Doc");

    const client = await sdk.createClient({ url: "ws://127.0.0.1:9", identity: sdk.createIdentity() });
    try {
      const group = client.group("g1");
      group.onError(() => {});
      const doc = group.create({});
      const thrown = (call: () => unknown): string => {
        try {
          call();
        } catch (error) {
          return `${(error as Error).name}: ${(error as Error).message}`;
        }
        return "nothing thrown";
      };
      expect(thrown(() => group.open(doc))).toBe("LocalRefusalError: bad_frame: open: the Doc itself, not its id: pass doc.id");
      expect(thrown(() => group.create({ readers: doc }))).toBe("TypeError: create: readers must be an array of agent ids, not Doc");
      expect(thrown(() => new sdk.WeftProvider(client, doc.id, new sdk.YDoc()))).toBe("TypeError: WeftProvider: the first argument must be a group (client.group(id)), not Client");
      expect(thrown(() => new sdk.IndexedDbLocalStore(42))).toBe("TypeError: IndexedDbLocalStore: the database name must be a non-empty string, not number");
      expect(thrown(() => new sdk.IndexedDbLocalStore({ name: "notes" }))).toBe("TypeError: IndexedDbLocalStore: the database name must be a non-empty string, not Object");
      expect(thrown(() => sdk.createClient({ url: "ws://127.0.0.1:9", identity: sdk.createIdentity(), store: group }))).toMatch(/^TypeError: createClient: store must be a LocalStore .*, not Group$/);
    } finally {
      client.close();
    }
  });
});
