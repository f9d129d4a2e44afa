// Atomic messages, shape checks and well-formed text through `wrangler dev`, driven by a raw WebSocket
// client (Node 22's global WebSocket) that writes protocol frames by hand, not by the SDK.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GENESIS_HASH, chainHash, encodeMessage, signCheckpoint, type ClientMessage, type DocId } from "../../protocol/index.ts";
import { helloFrame, signedChunk, testAgent, testHeader, transactions } from "../support/identity.ts";
import { startRelay, type RelayProcess } from "../support/relay-process.ts";

type Frame = { type: string; [key: string]: unknown };

/** A raw socket: frames parsed as plain JSON (a batch unpacked), awaited by predicate. */
async function rawPeer(url: string, group: string, who: ReturnType<typeof testAgent>) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${group}/ws`);
  const inbox: Frame[] = [];
  let wake = () => {};
  let closeCode: number | undefined;
  ws.addEventListener("message", (event) => {
    const frame = JSON.parse(String(event.data)) as Frame;
    inbox.push(...(frame.type === "batch" ? (frame.messages as Frame[]) : [frame]));
    wake();
  });
  ws.addEventListener("close", (event) => {
    closeCode = event.code;
    wake();
  });
  const next = async (match: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0]!;
      if (closeCode !== undefined || Date.now() > deadline) throw new Error(`no matching frame (closed ${closeCode}); inbox ${JSON.stringify(inbox).slice(0, 1_000)}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  };
  const closed = new Promise<number>((resolve) => ws.addEventListener("close", (event) => resolve(event.code)));
  const challenge = await next((frame) => frame.type === "challenge");
  ws.send(JSON.stringify(helloFrame(who, group, challenge.nonce as string)));
  await next((frame) => frame.type === "welcome");
  /** Round trip: a ping the object itself answers after everything sent before it. */
  const sync = async () => {
    ws.send('{ "type": "ping" }');
    await next((frame) => frame.type === "pong");
  };
  return { ws, inbox, next, sync, closed, send: (frame: string | Uint8Array) => ws.send(frame), close: () => ws.close(1000) };
}

const alice = testAgent(91);
const aliceTwo = testAgent(91, "session-two");
const mallory = testAgent(93);
const content = (message: unknown) => encodeMessage(message as ClientMessage);

describe("message integrity through wrangler dev, raw WebSocket", () => {
  const persistTo = mkdtempSync(join(tmpdir(), "weft-integrity-"));
  let relay: RelayProcess;
  let group: string;
  let doc: DocId;
  let stored = 0;
  let lastHash = "";

  beforeAll(async () => {
    relay = await startRelay({ persistTo });
    group = `integrity-${Date.now()}`;
    const created = testHeader(alice, group);
    doc = created.id;
    const a = await rawPeer(relay.url, group, alice);
    const { chunk, lastHash: hash } = signedChunk(alice, doc, 0, transactions(3));
    a.send(content({ type: "content", doc, header: created.header, sessions: { [alice.session]: chunk } }));
    await a.next((frame) => frame.type === "known" && frame.reason === "ack");
    stored = 3;
    lastHash = hash;
    a.close();
  });

  afterAll(async () => {
    await relay?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  });

  /** What the relay holds of the document, per session, as a fresh reader loads it. */
  async function load(id: DocId = doc) {
    const reader = await rawPeer(relay.url, group, testAgent(94));
    reader.send(JSON.stringify({ type: "load", doc: id, known: { header: false, sessions: {} } }));
    const known = await reader.next((frame) => frame.type === "known" && frame.reason === "load");
    reader.close();
    return { header: known.header, sessions: known.sessions };
  }

  it("one forged session of two: one bad_signature, no ack, nothing stored", async () => {
    const a = await rawPeer(relay.url, group, alice);
    const valid = signedChunk(alice, doc, stored, transactions(1, "valid"), lastHash).chunk;
    const txs = transactions(1, "forged");
    const forged = { after: 0, transactions: txs, signature: signCheckpoint(mallory.secretKey, doc, aliceTwo.session, 1, chainHash(GENESIS_HASH, txs)) };
    a.send(content({ type: "content", doc, sessions: { [alice.session]: valid, [aliceTwo.session]: forged } }));
    expect(await a.next((frame) => frame.type === "error")).toMatchObject({ code: "bad_signature", session: aliceTwo.session });
    await a.sync();
    expect(a.inbox.filter((frame) => frame.type === "known" || frame.type === "error")).toEqual([]);
    expect(await load()).toEqual({ header: true, sessions: { [alice.session]: stored } });
    a.close();
  });

  it("a new document whose only chunk is forged is not created", async () => {
    const a = await rawPeer(relay.url, group, alice);
    const { id, header } = testHeader(alice, group, "forged-only");
    const txs = transactions(1);
    const forged = { after: 0, transactions: txs, signature: signCheckpoint(mallory.secretKey, id, alice.session, 1, chainHash(GENESIS_HASH, txs)) };
    a.send(content({ type: "content", doc: id, header, sessions: { [alice.session]: forged } }));
    expect(await a.next((frame) => frame.type === "error")).toMatchObject({ code: "bad_signature", doc: id });
    await a.sync();
    expect(a.inbox.filter((frame) => frame.type === "known")).toEqual([]);
    expect(await load(id)).toEqual({ header: false, sessions: {} });
    a.close();
  });

  it("a wrong `after` on one of two sessions stores neither and corrects both", async () => {
    const a = await rawPeer(relay.url, group, alice);
    const valid = signedChunk(alice, doc, stored, transactions(1, "valid"), lastHash).chunk;
    const gap = signedChunk(aliceTwo, doc, 2, transactions(1, "gap")).chunk;
    a.send(content({ type: "content", doc, sessions: { [alice.session]: valid, [aliceTwo.session]: gap } }));
    expect(await a.next((frame) => frame.type === "known")).toEqual({ type: "known", doc, header: true, sessions: { [alice.session]: stored, [aliceTwo.session]: 0 }, reason: "correction" });
    expect(await load()).toEqual({ header: true, sessions: { [alice.session]: stored } });
    a.close();
  });

  it.each([
    ["sessions as a list", () => JSON.stringify({ type: "content", doc, sessions: [] })],
    ["load known.sessions as a list", () => JSON.stringify({ type: "load", doc, known: { header: true, sessions: [] } })],
    ["open known as a list", () => JSON.stringify({ type: "open", known: [] })],
    ["an empty content", () => JSON.stringify({ type: "content", doc, sessions: {} })],
    ["data with a lone surrogate", () => content({ type: "content", doc, sessions: { [alice.session]: signedChunk(alice, doc, stored, [{ at: 1, data: "x\ud800y" }], lastHash).chunk } })],
  ])("%s gets bad_frame and close 1007; nothing stored", async (_label, frame) => {
    const a = await rawPeer(relay.url, group, alice);
    a.send(frame());
    expect(await a.next((received) => received.type === "error")).toMatchObject({ code: "bad_frame" });
    expect(await a.closed).toBe(1007);
    expect(await load()).toEqual({ header: true, sessions: { [alice.session]: stored } });
  });
});
