// Large answers through the real relay (workerd via weft/dev's startRelay) travel compressed to SDK clients,
// which inflate them in order: a load and a resume cost a fraction of the bytes, live frames behind a
// compressed answer arrive in order and complete, and a client that never offered compression (an older
// SDK, a raw WebSocket) still gets plain frames.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { decodeServerFrame, isCompressedFrame, type ServerMessage } from "../../protocol/index.ts";
import { helloFrame, testAgent } from "../support/identity.ts";
import { sleep, until } from "../support/wait.ts";

/** A keystroke as a JSON op: like a Yjs update, it repeats its structure, so it compresses well. */
const keystroke = (i: number) => JSON.stringify({ op: "insert", pos: i, text: "k", client: 3918227512 });

describe("compressed frames end to end", () => {
  let relay: LocalRelay;
  const clients: Client[] = [];
  const client = async (options: { compression?: boolean } = {}) => {
    const made = await createClient({ url: relay.url, identity: createIdentity(), backoff: { baseMs: 20, capMs: 100, minUptimeMs: 1_000 }, ...options });
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(async () => {
    for (const made of clients) made.close();
    await relay?.stop();
  });

  it("an SDK client loads a large document through compressed frames in a fraction of the bytes of one without compression", { timeout: 60_000 }, async () => {
    const writer = await client();
    const doc = writer.group("load").create({ kind: "json" });
    const written = Array.from({ length: 3_000 }, (_, i) => keystroke(i));
    for (const data of written) doc.append(data);
    await doc.synced();

    const inflating = await client();
    const plain = await client({ compression: false });
    const [a, b] = [await inflating.group("load").open(doc.id), await plain.group("load").open(doc.id)];
    expect(a.transactions().map((tx) => tx.data)).toEqual(written);
    expect(b.transactions().map((tx) => tx.data)).toEqual(written);
    const compressedBytes = inflating.group("load").connection.bytesReceived;
    const plainBytes = plain.group("load").connection.bytesReceived;
    expect(compressedBytes).toBeLessThan(plainBytes / 3);
  });

  it("a resume arrives compressed, and small live frames right behind it are neither reordered nor lost", { timeout: 60_000 }, async () => {
    const writer = await client();
    const doc = writer.group("resume").create({ kind: "json" });
    const written: string[] = [];
    const append = (data: string) => {
      written.push(data);
      doc.append(data);
    };
    for (let i = 0; i < 100; i++) append(keystroke(i));
    await doc.synced();

    const reader = await client();
    const view = await reader.group("resume").open(doc.id);
    const seen: string[] = [];
    view.subscribe(({ added }) => seen.push(...added.map((tx) => tx.data as string)));
    const connection = reader.group("resume").connection;
    connection.drop("going offline");
    await until(() => connection.status === "offline");
    for (let i = 100; i < 1_100; i++) append(keystroke(i));
    await doc.synced();

    // The reader comes back while the writer keeps typing: each keystroke a small live frame.
    const before = connection.bytesReceived;
    connection.reconnectNow();
    for (let i = 1_100; i < 1_160; i++) {
      append(keystroke(i));
      await sleep(2);
    }
    await doc.synced();
    await until(() => view.transactions().length === written.length, 20_000);
    expect(view.transactions().map((tx) => tx.data)).toEqual(written);
    // Every transaction reached the app once, in the writer's order.
    expect(seen).toEqual(written.slice(100));
    // The 1,000 missed keystrokes (about 60 KB of data) came compressed.
    const missed = written.slice(100, 1_100).reduce((sum, data) => sum + data.length, 0);
    expect(connection.bytesReceived - before).toBeLessThan(missed / 2);
  });

  it("a client whose hello does not offer compression (a raw WebSocket) gets plain frames it decodes", { timeout: 60_000 }, async () => {
    const writer = await client();
    const doc = writer.group("older").create({ kind: "json" });
    const written = Array.from({ length: 2_000 }, (_, i) => keystroke(i));
    for (const data of written) doc.append(data);
    await doc.synced();

    const who = testAgent(77);
    const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/groups/older/ws`);
    ws.binaryType = "arraybuffer";
    const frames: (string | ArrayBuffer)[] = [];
    const messages: ServerMessage[] = [];
    ws.addEventListener("message", (event) => {
      const frame = event.data as string | ArrayBuffer;
      frames.push(frame);
      const decoded = decodeServerFrame(frame);
      if (!decoded.ok) throw new Error(decoded.reason);
      messages.push(...decoded.message);
      const [first] = decoded.message;
      if (first?.type === "challenge") ws.send(JSON.stringify(helloFrame(who, "older", first.nonce)));
      if (first?.type === "welcome") ws.send(JSON.stringify({ type: "load", doc: doc.id, known: { header: false, sessions: {} } }));
    });
    try {
      await until(() => messages.some((message) => message.type === "known" && message.reason === "load"));
      expect(frames.some((frame) => typeof frame !== "string" && isCompressedFrame(new Uint8Array(frame)))).toBe(false);
      const received = messages.flatMap((message) => (message.type === "content" ? Object.values(message.sessions).flatMap((chunk) => chunk!.transactions.map((tx) => tx.data)) : []));
      expect(received).toEqual(written);
      expect(frames.some((frame) => (typeof frame === "string" ? frame.length : frame.byteLength) > 32 * 1024)).toBe(true);
    } finally {
      ws.close();
    }
  });
});
