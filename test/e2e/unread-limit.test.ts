// Subscribers that never read cannot fill the relay's memory with what others write: workerd has no
// WebSocket.bufferedAmount, so before every frame counted against a peer's window (MAX_UNREAD_BYTES), one
// agent's 60 paused sockets subscribed to a document that others wrote 15 MB into took workerd up about
// 700 MiB (an object has 128 MB, and all its peers go when it is reset). Here the same, against the real
// relay in workerd (weft/dev's startRelay): each paused socket is sent live content only up to
// LAGGING_UNREAD_BYTES (the rest waits in storage until it reads), workerd's memory stays far below that, and the writer is acked throughout. And a reader that reads is not cut off by a
// writer in another process appending 48 MB at once (the SDK sends a burst MAX_IN_FLIGHT_BYTES at a time),
// nor by four of them at once (what it falls behind by is caught up from storage).
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity, type Client, type Group, type RelayError } from "../../client/index.ts";
import type { LocalRelay } from "../../dev/start-relay.ts";
import { MAX_UNREAD_BYTES, decodeServerFrame, encodeMessage, type DocId } from "../../protocol/index.ts";
import { helloFrame, testAgent } from "../support/identity.ts";
import { spawnLineProcess } from "../support/line-process.ts";
import { sleep, until } from "../support/wait.ts";
import { rawWebSocket, rssKiB, startRelayWithWorkerd, type RawSocket, type RawSocketClass } from "../support/raw-socket.ts";

const BURST_WRITER = fileURLToPath(new URL("./burst-writer.ts", import.meta.url));

/** Sockets of the one agent that subscribes and stops reading. */
const SOCKETS = 60;
/** What the writer writes: 240 transactions of 64 KB, about 15 MB. */
const TRANSACTIONS = 240;
const dataOf = (i: number) => `${i}:`.padEnd(64_000, "x");
/**
 * How much workerd may grow: far below the 747 MiB it grew here when live frames were not counted (81 MiB
 * with them counted and each socket cut off at 4 MiB; 50 MiB since live content stops at LAGGING_UNREAD_BYTES).
 */
const MAX_GROWTH_KIB = 200 * 1024;

/** A member's socket that says hello, subscribes to `doc` with a load, reads its answer, then stops reading. */
async function pausedSubscriber(WebSocket: RawSocketClass, url: string, group: string, doc: DocId): Promise<RawSocket> {
  const who = testAgent(78);
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${group}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.on("message", (data) => {
      const decoded = decodeServerFrame(data.toString());
      if (!decoded.ok) return reject(new Error(`undecodable ${data.toString().slice(0, 200)}`));
      for (const message of decoded.message) {
        if (message.type === "challenge") ws.send(encodeMessage(helloFrame(who, group, message.nonce)));
        else if (message.type === "welcome") ws.send(encodeMessage({ type: "load", doc, known: { header: false, sessions: {} } }));
        else if (message.type === "known" && message.reason === "load") resolve();
        else if (message.type !== "content") reject(new Error(`unexpected ${data.toString().slice(0, 200)}`));
      }
    });
  });
  ws._socket.pause();
  return ws;
}

/** A reader's group, with the codes of the errors it hears and the statuses it goes through. */
function watched(reader: Client, name: string): { group: Group; errors: string[]; statuses: string[] } {
  const group = reader.group(name);
  const errors: string[] = [];
  group.onError((error) => errors.push((error as RelayError).code ?? error.message));
  const statuses: string[] = [];
  group.onStatus((status) => statuses.push(status));
  return { group, errors, statuses };
}

describe("subscribers that never read what others write", () => {
  let relay: LocalRelay;
  let workerd: number;
  beforeAll(async () => {
    ({ relay, workerd } = await startRelayWithWorkerd());
  }, 60_000);
  afterAll(() => relay?.stop());

  it(`${SOCKETS} paused sockets of one agent, 15 MB written: workerd's memory stays bounded and the writer is acked`, { timeout: 180_000 }, async () => {
    const WebSocket = await rawWebSocket();
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = writer.group("busy").create({ kind: "text" });
    doc.append("first");
    await doc.synced();
    const sockets: RawSocket[] = [];
    try {
      for (let i = 0; i < SOCKETS; i++) sockets.push(await pausedSubscriber(WebSocket, relay.url, "busy", doc.id));
      const baseline = rssKiB(workerd);
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(workerd))), 50);
      try {
        for (let i = 0; i < TRANSACTIONS; i++) {
          doc.append(dataOf(i));
          if (i % 20 === 19) await doc.synced();
        }
        await doc.synced(); // every write acked
        for (let i = 0; i < 10; i++) {
          await sleep(100);
          peak = Math.max(peak, rssKiB(workerd));
        }
      } finally {
        clearInterval(sampler);
      }
      expect(peak - baseline).toBeLessThan(MAX_GROWTH_KIB);
      // A reader that reads gets all of it.
      const reader = await createClient({ url: relay.url, identity: createIdentity() });
      expect((await reader.group("busy").open(doc.id)).transactions()).toHaveLength(TRANSACTIONS + 1);
      reader.close();
    } finally {
      for (const ws of sockets) ws.terminate();
      writer.close();
    }
  });

  it("a reader that reads is not cut off when a writer in another process appends twelve times the limit at once", { timeout: 180_000 }, async () => {
    const children: ChildProcess[] = [];
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      // 64 KB transactions over three documents, all appended in one go: 48 MiB.
      const count = Math.ceil((12 * MAX_UNREAD_BYTES) / 64_000);
      const writer = spawnLineProcess(BURST_WRITER, [relay.url, "burst", "3", String(count), "64000"], children);
      const ids = JSON.parse(await writer.line(0)) as DocId[];
      const { group, errors, statuses } = watched(reader, "burst");
      const docs = await Promise.all(ids.map((id) => group.open(id)));
      writer.child.stdin!.write("go\n");
      expect(await writer.line(1)).toBe("acked");
      await until(() => docs.reduce((sum, doc) => sum + doc.transactions().length, 0) === count + ids.length, 60_000);
      expect(errors).toEqual([]);
      expect(statuses).not.toContain("offline");
    } finally {
      reader.close();
      for (const child of children) child.kill("SIGKILL");
    }
  });

  it("nor when four writers in other processes append six times the limit each at once: what it falls behind by is caught up from storage", { timeout: 180_000 }, async () => {
    const children: ChildProcess[] = [];
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      // Four writers of 64 KB transactions, one document each, all appending at once: about 100 MB.
      const count = Math.ceil((6 * MAX_UNREAD_BYTES) / 64_000);
      const writers = Array.from({ length: 4 }, () => spawnLineProcess(BURST_WRITER, [relay.url, "four", "1", String(count), "64000"], children));
      const ids = (await Promise.all(writers.map((writer) => writer.line(0)))).flatMap((line) => JSON.parse(line) as DocId[]);
      const { group, errors, statuses } = watched(reader, "four");
      const docs = await Promise.all(ids.map((id) => group.open(id)));
      for (const writer of writers) writer.child.stdin!.write("go\n");
      for (const writer of writers) expect(await writer.line(1)).toBe("acked");
      await until(() => docs.every((doc) => doc.transactions().length === count + 1), 120_000);
      for (const doc of docs) expect(doc.transactions().map((tx) => (tx.data as string).split(":")[0])).toEqual(["first", ...Array.from({ length: count }, (_, i) => String(i))]);
      expect(errors).toEqual([]);
      expect(statuses).not.toContain("offline");
    } finally {
      reader.close();
      for (const child of children) child.kill("SIGKILL");
    }
  });

  it("nor when the writer's text is control characters, which JSON escapes to 6 bytes each: the room counts the bytes on the wire", { timeout: 180_000 }, async () => {
    const children: ChildProcess[] = [];
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    try {
      // 40 transactions of 150,000 U+0001: 6 MB of text, 36 MB as the frames carry it.
      const writer = spawnLineProcess(BURST_WRITER, [relay.url, "escaped", "1", "40", "150000", "1"], children);
      const [id] = JSON.parse(await writer.line(0)) as DocId[];
      const { group, errors } = watched(reader, "escaped");
      const doc = await group.open(id!);
      writer.child.stdin!.write("go\n");
      expect(await writer.line(1)).toBe("acked");
      await until(() => doc.transactions().length === 41, 60_000);
      expect(errors).toEqual([]);
    } finally {
      reader.close();
      for (const child of children) child.kill("SIGKILL");
    }
  });
});
