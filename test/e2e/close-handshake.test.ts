// The relay answers a client's Close frame, so the client's close completes at once: with a code, and
// without one (a plain `ws.close()`, which a browser or Node sends with no status code).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";

let relay: LocalRelay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(() => relay.stop());

/** A socket that got its challenge, closed with `code` (none when undefined); how long the close took, and its code. */
async function closeAfterChallenge(code?: number): Promise<{ ms: number; code: number }> {
  const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/groups/close-handshake/ws`);
  await new Promise((resolve, reject) => {
    ws.addEventListener("message", resolve, { once: true });
    ws.addEventListener("error", () => reject(new Error("socket error")), { once: true });
  });
  const closed = new Promise<number>((resolve) => ws.addEventListener("close", (event) => resolve(event.code), { once: true }));
  const started = performance.now();
  if (code === undefined) ws.close();
  else ws.close(code, "bye");
  const answered = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5_000))]);
  return { ms: performance.now() - started, code: answered };
}

describe("a client's close", () => {
  it("with a code is answered with it, at once", async () => {
    expect((await closeAfterChallenge(4000)).code).toBe(4000);
  });

  it("without a code is answered too, at once, instead of leaving the client to its timeout", async () => {
    const { code } = await closeAfterChallenge();
    expect(code).toBe(1005); // the answer carried no code either
  });
});
