// weft/dev says why it cannot run a relay when Miniflare is there but will not load (a test runner's VM
// pool cannot load it), not that it is missing: an app told to install what it has installed goes nowhere.
import { describe, expect, it, vi } from "vitest";

describe("startRelay with a Miniflare that fails to load", () => {
  it("says it is installed but failed to load, with the error, and names the pool to use instead of telling the app to install it", async () => {
    vi.resetModules();
    vi.doMock("miniflare", () => {
      throw new SyntaxError("Cannot use import statement outside a module");
    });
    try {
      const { startRelay } = await import("../../dev/start-relay.ts");
      const refused = await startRelay().then(
        () => undefined,
        (error: Error) => error,
      );
      expect(refused?.message).toMatch(/^weft\/dev runs the relay with Miniflare, which is installed but failed to load \(.+\); under vitest, run the relay's tests in the forks or threads pool/);
      expect(refused?.message).not.toMatch(/npm install/);
    } finally {
      vi.doUnmock("miniflare");
      vi.resetModules();
    }
  });
});
