// weft/dev with Miniflare 4 (`npm install --save-dev miniflare@^4.20260730.0`: a bare `miniflare` takes the
// newest 5.x beta weft's range names): it has no convertV4MiniflareOptions and keeps storage under
// `defaultPersistRoot`, so startRelay passes it the classic options as they are. (Miniflare 5, the repo's
// own, is driven for real by test/e2e/start-relay.test.ts.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";

const started: Record<string, unknown>[] = [];
vi.mock("miniflare", () => ({
  Miniflare: class {
    readonly ready = Promise.resolve(new URL("http://127.0.0.1:4321/"));
    constructor(options: Record<string, unknown>) {
      started.push(options);
    }
    dispose = () => Promise.resolve();
  },
  // Not there in Miniflare 4 (its module namespace has no such export, so reading it gives undefined).
  convertV4MiniflareOptions: undefined,
}));

const { startRelay } = await import("../../dev/start-relay.ts");

describe("startRelay on Miniflare 4", () => {
  it("passes the classic options, with the folder as defaultPersistRoot (the layout wrangler dev uses)", async () => {
    const folder = mkdtempSync(join(tmpdir(), "weft-relay-folder-"));
    const relay = await startRelay({ persistTo: folder, vars: { WEFT_OPEN_GROUPS: "true" } });
    expect(relay.url).toBe("http://127.0.0.1:4321");
    await relay.stop();
    rmSync(folder, { recursive: true, force: true });
    const [options] = started;
    expect(options).toMatchObject({
      name: "weft",
      modules: true,
      durableObjects: { GROUPS: { className: "GroupObject", useSQLite: true } },
      bindings: { WEFT_OPEN_GROUPS: "true" },
      host: "127.0.0.1",
      port: 0,
      defaultPersistRoot: join(folder, "v3"),
    });
    expect(options).not.toHaveProperty("resourcePersistencePath");
    expect(typeof options!.script).toBe("string");
  });

  it("keeps storage in memory without persistTo", async () => {
    const relay = await startRelay();
    await relay.stop();
    expect(started[1]).not.toHaveProperty("defaultPersistRoot");
    expect(started[1]).not.toHaveProperty("resourcePersistencePath");
  });
});
