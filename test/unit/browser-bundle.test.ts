// `weft/client` must bundle for browsers: no Node built-ins on its import graph.
import { describe, expect, it } from "vitest";
import { browserBundle } from "../../scripts/bundle-size.ts";

describe("browser bundle of weft/client", () => {
  it("builds for the browser platform and carries the SDK's entry points", async () => {
    // esbuild fails on a `node:` import when the platform is "browser", so building is the check.
    const bundle = await browserBundle();
    const text = new TextDecoder().decode(bundle);
    expect(text).not.toMatch(/from\s*"node:/);
    expect(text).toContain("weft/session/v1");
    expect(text).toContain("indexedDB");
  });
});
