// A client that stops reading (a stalled tab) while others write is sent live content only until
// LAGGING_UNREAD_BYTES of what it was sent are unconfirmed; the rest waits in the relay's storage, and when it
// reads again it is caught up from there on the same connection, ending with everything written, in order:
// nothing is lost, and it is not cut off. One that reads echoes the marks behind live frames and stays.
// Against the real relay (weft/dev's startRelay).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type RelayError } from "../../../client/index.ts";
import { startRelay, type LocalRelay } from "../../../dev/start-relay.ts";
import { LAGGING_UNREAD_BYTES, MAX_UNREAD_BYTES } from "../../../protocol/index.ts";
import { until } from "../../support/wait.ts";

/** Transactions of 64 KB, unlike one another: twice the limit in all. */
const TRANSACTION_CHARS = 64_000;
const TRANSACTIONS = Math.ceil((2 * MAX_UNREAD_BYTES) / TRANSACTION_CHARS);
/** Transactions a writer appends at once before it waits for the relay: about 1.3 MB. */
const BURST = 20;
const dataOf = (i: number) => `${i}:${Math.random().toString(36)}`.padEnd(TRANSACTION_CHARS, String(i % 10));

/**
 * The runtime's WebSocket, whose events wait while `stalled` is set (a tab whose main thread is blocked: its
 * socket takes frames in, its code reads none), then come in order.
 */
class StallingWebSocket extends WebSocket {
  static stalled = false;
  static readonly held: { data?: unknown; deliver: () => void }[] = [];
  static release(): void {
    StallingWebSocket.stalled = false;
    for (const event of StallingWebSocket.held.splice(0)) event.deliver();
  }
  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void {
    const handle = (event: Event) => (typeof listener === "function" ? listener.call(this, event) : listener?.handleEvent(event));
    super.addEventListener(
      type,
      (event: Event) => {
        if (!StallingWebSocket.stalled && StallingWebSocket.held.length === 0) return handle(event);
        StallingWebSocket.held.push({ data: (event as MessageEvent).data, deliver: () => handle(event) });
      },
      options,
    );
  }
}

/** Bytes of the text frames a stalled client holds unread. */
const heldBytes = () => StallingWebSocket.held.reduce((sum, { data }) => sum + (typeof data === "string" ? Buffer.byteLength(data) : 0), 0);

describe("a client that stops reading while others write", () => {
  let relay: LocalRelay;
  beforeAll(async () => {
    relay = await startRelay();
  }, 60_000);
  afterAll(() => relay?.stop());

  it("is caught up once it reads again, on the same connection, and holds everything written in order", { timeout: 120_000 }, async () => {
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const written = writer.group("busy").create({ kind: "text" });
    written.append("first");
    await written.synced();

    // Frames as text, so the test can measure what was held while it did not read.
    const reader = await createClient({ url: relay.url, identity: createIdentity(), WebSocket: StallingWebSocket, compression: false });
    const group = reader.group("busy");
    const errors: string[] = [];
    group.onError((error) => errors.push((error as RelayError).code ?? error.message));
    const statuses: string[] = [];
    group.onStatus((status) => statuses.push(status));
    const doc = await group.open(written.id);

    StallingWebSocket.stalled = true;
    const data = Array.from({ length: TRANSACTIONS }, (_, i) => dataOf(i));
    for (const item of data) written.append(item);
    await written.synced();
    // Every write is stored; the relay sent the stalled client about the lag's worth, not all of it.
    await until(() => heldBytes() >= LAGGING_UNREAD_BYTES, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(heldBytes()).toBeLessThan(MAX_UNREAD_BYTES);

    StallingWebSocket.release();
    await until(() => doc.transactions().length === TRANSACTIONS + 1, 60_000);
    expect(doc.transactions().map((tx) => tx.data)).toEqual(["first", ...data]);
    expect(errors).toEqual([]);
    expect(statuses).not.toContain("offline");
    expect(group.status).toBe("live");
    reader.close();
    writer.close();
  });

  it("that reads is never cut off: it echoes the marks behind live frames, over several times the limit", { timeout: 120_000 }, async () => {
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const written = writer.group("read").create({ kind: "text" });
    written.append("first");
    await written.synced();
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    const group = reader.group("read");
    const errors: string[] = [];
    group.onError((error) => errors.push((error as RelayError).code ?? error.message));
    const statuses: string[] = [];
    group.onStatus((status) => statuses.push(status));
    const doc = await group.open(written.id);

    const data = Array.from({ length: 3 * TRANSACTIONS }, (_, i) => dataOf(i));
    for (let i = 0; i < data.length; i++) {
      written.append(data[i]!);
      if (i % BURST === BURST - 1) await written.synced();
    }
    await written.synced();
    await until(() => doc.transactions().length === data.length + 1, 60_000);
    expect(errors).toEqual([]);
    expect(statuses).not.toContain("offline");
    reader.close();
    writer.close();
  });
});
