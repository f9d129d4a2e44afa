// A socket that floods the relay with frames (each wakes the group's object) is closed with
// `too_many_frames` once over its budget (FRAMES_PER_SECOND_PER_PEER after a burst of FRAME_BURST_PER_PEER),
// and nobody else of the group notices; an honest SDK client, however fast it writes, never is.
import { afterEach, describe, expect, it } from "vitest";
import { FRAME_BURST_PER_PEER, RETRY_AFTER_TOO_MANY_FRAMES_SECONDS, closeCodeOf, type DocId } from "../../protocol/index.ts";
import { FrameBudgets, PEER_FRAME_RATE } from "../../worker/core/frame-budget.ts";
import { testAgent, transactions } from "../support/identity.ts";
import { RelaySocket } from "./sdk-socket.ts";
import { closeAll, connect, documentWithBystander, emptyKnown, uniqueGroup } from "./socket.ts";

afterEach(closeAll);

const alice = testAgent(91);
const bob = testAgent(92);
const mallory = testAgent(93);
const carol = testAgent(94);

/** A ping the runtime does not answer itself (not byte-equal to the auto-response pair): the object must. */
const OBJECT_PING = '{"type":"ping" }';

describe("a socket flooding the relay with frames", () => {
  it("is closed with too_many_frames and retryAfter, and the group's other peers write and load as before", { timeout: 60_000 }, async () => {
    const { group, id, log, a, b } = await documentWithBystander("flood", alice, bob);
    const flooder = await connect(group, mallory);
    // As fast as the object handles them, until it closes the socket: at most 50 unanswered at a time. In
    // the workers pool each frame delivered costs the object a millisecond or two, closed or not, so a
    // backlog of thousands queued at once would hold the others up for seconds whatever the relay does.
    let closed = false;
    void flooder.closed.then(() => (closed = true));
    for (let sent = 0; !closed && sent < 20 * FRAME_BURST_PER_PEER; sent++) {
      flooder.sendRaw(OBJECT_PING);
      while (!closed && sent - flooder.frames > 50) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const error = await flooder.next("error", undefined, 30_000);
    expect(error).toMatchObject({ code: "too_many_frames", retryAfter: RETRY_AFTER_TOO_MANY_FRAMES_SECONDS });
    expect((await flooder.closed).code).toBe(closeCodeOf("too_many_frames"));
    // Nothing of the flood past the close is answered.
    expect(flooder.drain("pong").length).toBeLessThan(20 * FRAME_BURST_PER_PEER);

    a.send(log.content(transactions(2, "after")));
    await a.next("known", (k) => k.doc === id && k.reason === "ack");
    expect(a.inbox.filter((m) => m.type === "error")).toEqual([]);
    const fresh = await connect(group, carol);
    fresh.send({ type: "load", doc: id, known: emptyKnown });
    await fresh.next("known", (k) => k.doc === id && k.reason === "load");
    const loaded = fresh.drain("content").flatMap((frame) => Object.values(frame.sessions).flatMap((chunk) => chunk!.transactions));
    expect(loaded).toHaveLength(5);
    await b.sync();
    expect(b.inbox.filter((m) => m.type === "error")).toEqual([]);
  });
});

/** The SDK's socket, with every frame it sends the relay timed and every close it hears kept. */
class CountedSocket extends RelaySocket {
  static sent: number[] = [];
  static closes: number[] = [];

  constructor(url: string) {
    super(url);
    this.addEventListener("close", (event) => {
      CountedSocket.closes.push((event as Event & { code: number }).code);
    });
  }

  override send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (data !== '{"type":"ping"}') CountedSocket.sent.push(Date.now());
    super.send(data);
  }
}

type FastDoc = { id: DocId; append(data: string): void; presence: { set(state: unknown): void }; synced(): Promise<void> };
type FastGroup = { create(): FastDoc; open(id: DocId): Promise<FastDoc>; synced(): Promise<void>; onError(listener: (error: Error) => void): () => void };
type FastClient = { group(id: string): FastGroup; close(): Promise<void> };
type FastSdk = { createClient(options: Record<string, unknown>): Promise<FastClient>; createIdentity(): unknown };

const SDK = "../../client/index.ts";
/** Ticks of the loop below: about 5 s of it, on a busy machine. */
const TICKS = 1_500;

describe("an honest SDK client writing as fast as it can", () => {
  it("is never closed: it paces its frames under the relay's budget", { timeout: 120_000 }, async () => {
    const sdk = (await import(/* @vite-ignore */ SDK)) as FastSdk;
    const group = uniqueGroup("fast-sdk");
    const client = await sdk.createClient({ url: "http://relay", identity: sdk.createIdentity(), WebSocket: CountedSocket, fetch: false, pushIntervalMs: 0 });
    const reader = await sdk.createClient({ url: "http://relay", identity: sdk.createIdentity(), WebSocket: CountedSocket, fetch: false, pushIntervalMs: 0 });
    const errors: string[] = [];
    const writing = client.group(group);
    const reading = reader.group(group);
    writing.onError((error) => errors.push(error.message));
    reading.onError((error) => errors.push(error.message));
    CountedSocket.sent = [];
    CountedSocket.closes = [];

    // Every tick starts a frame of its own: a new document, appends to one, presence, and an open by another client.
    const shared = writing.create();
    const docs: DocId[] = [];
    for (let i = 0; i < TICKS; i++) {
      const doc = writing.create();
      doc.append(`first ${i}`);
      shared.append(`tick ${i}`);
      if (i % 10 === 0) shared.presence.set({ cursor: i });
      // Refused while the document has not reached the relay yet (unknown_doc): a frame all the same.
      if (i % 100 === 0) reading.open(doc.id).catch(() => undefined);
      docs.push(doc.id);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await writing.synced();
    const opened = await reading.open(docs.at(-1)!);
    await opened.synced();

    expect(errors).toEqual([]);
    expect(CountedSocket.closes).toEqual([]);
    expect(CountedSocket.sent.length).toBeGreaterThan(FRAME_BURST_PER_PEER);
    // The frames as the relay would have counted them, at the times they left: never over the budget.
    const budget = new FrameBudgets(PEER_FRAME_RATE);
    expect(CountedSocket.sent.every((at) => budget.take("one socket", at))).toBe(true);
    await client.close();
    await reader.close();
  });
});
