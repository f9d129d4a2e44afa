// The relay answers a WebSocket upgrade without permessage-deflate, under Miniflare (weft/dev) and under
// wrangler dev: every client offers it, and agreed, it costs a deflate per subscriber for each fanned-out
// frame and an inflate per frame in each client (the largest cost of the yjs_typing bench's clients).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startRelay } from "../../dev/start-relay.ts";
import { startRelay as startRelayProcess } from "../support/relay-process.ts";

/** Opens a plain WebSocket to `url` (Node offers permessage-deflate, as browsers do); its extensions and first frame. */
async function handshake(url: string): Promise<{ extensions: string; first: string }> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/compression/ws`);
  try {
    const first = await new Promise<string>((resolve, reject) => {
      ws.addEventListener("message", (event) => resolve(String(event.data)), { once: true });
      ws.addEventListener("error", () => reject(new Error("socket error")), { once: true });
    });
    return { extensions: ws.extensions, first };
  } finally {
    ws.close();
  }
}

describe("WebSocket compression", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-compression-"));
  afterAll(() => rmSync(persistTo, { recursive: true, force: true }));

  /** The relay agrees to no extension, and its first frame (the challenge) arrives as it was sent; then it stops. */
  async function expectDeclined(relay: { url: string; stop(): Promise<void> }): Promise<void> {
    try {
      const { extensions, first } = await handshake(relay.url);
      expect(extensions).toBe("");
      expect(JSON.parse(first)).toMatchObject({ type: "challenge" });
    } finally {
      await relay.stop();
    }
  }

  it("is declined by the relay under Miniflare: frames travel as they are", async () => {
    await expectDeclined(await startRelay());
  });

  it("is declined under wrangler dev too, its proxy in front", { timeout: 60_000 }, async () => {
    await expectDeclined(await startRelayProcess({ persistTo }));
  });
});
