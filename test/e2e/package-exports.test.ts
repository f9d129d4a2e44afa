// An app that installed weft imports `weft/client`, `weft/client/node` and `weft/protocol` by name from
// plain Node: the built JavaScript in dist/ (Node does not strip TypeScript inside node_modules).
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const PACKAGE_ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("the package as an app installs it", () => {
  const app = mkdtempSync(join(tmpdir(), "weft-app-"));
  afterAll(() => rmSync(app, { recursive: true, force: true }));

  it("imports the SDK and the protocol by name, and writes through the file store", async () => {
    mkdirSync(join(app, "node_modules"));
    symlinkSync(PACKAGE_ROOT, join(app, "node_modules", "weft"), "dir");
    writeFileSync(
      join(app, "main.mjs"),
      `import { createClient, createIdentity } from "weft/client";
       import { FileLocalStore } from "weft/client/node";
       import { PROTOCOL_VERSION, isSessionId } from "weft/protocol";
       const store = new FileLocalStore(new URL("./store", import.meta.url).pathname);
       // No relay is listening: the document is created and saved offline.
       const client = await createClient({ url: "http://127.0.0.1:9", identity: createIdentity(), store });
       const doc = client.group("app").create({ meta: { from: "an app" } });
       doc.append("hello");
       await client.group("app").ready;
       await new Promise((resolve) => setTimeout(resolve, 50));
       client.close();
       const reopened = await (await createClient({ url: "http://127.0.0.1:9", identity: client.identity, store })).group("app").open(doc.id);
       console.log(JSON.stringify({ v: PROTOCOL_VERSION, session: isSessionId(client.session), data: reopened.transactions().map((t) => t.data) }));
       process.exit(0);`,
    );
    const { stdout } = await run(process.execPath, ["main.mjs"], { cwd: app, timeout: 30_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ v: 1, session: true, data: ["hello"] });
  });
});
