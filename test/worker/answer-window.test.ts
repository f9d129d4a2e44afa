// Flow control of long answers (worker/core/answer-window.ts): workerd cannot tell that a peer does not read
// (no WebSocket.bufferedAmount), so a peer that never echoes the relay's marks is sent about one window of
// a load, a listing or an open and nothing more, while the other peers' writes are acked and their own
// answers complete; once it echoes, the rest comes, the same as a peer reading at once gets.
import { evictDurableObject } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANSWER_WINDOW_BYTES, RELAY_FRAME_TARGET_BYTES, docIdOf, type ClientMessage, type DocHeader, type DocId, type ServerMessage } from "../../protocol/index.ts";
import { testAgent, transactions, type TestAgent } from "../support/identity.ts";
import { docHeader } from "./groups-helpers.ts";
import { SessionWriter, closeAll, connect, emptyKnown, groupStub, uniqueGroup, type Peer } from "./socket.ts";

const creator = testAgent(61);
const slowReader = testAgent(62);
const member = testAgent(63);

/** Transactions of the long document, about 1 KB each: three windows' worth. */
const LONG_TRANSACTIONS = 3_000;
/** Header-only documents with a padded `meta`: their listing is about two windows. */
const LISTED_DOCS = 1_500;

const padded = (count: number, first: number) =>
  transactions(count, `t${first}-`).map((tx) => ({ ...tx, data: `${tx.data}:${"x".repeat(1_000)}` }));

let group: string;
let long: DocId;
/** The creator's documents: the answers compared are theirs (the other member's writes land anywhere in them). */
const created = new Set<DocId>();

beforeAll(async () => {
  group = uniqueGroup("window");
  const c = await connect(group, creator);
  const longDoc = docHeader(creator, group, "long");
  long = longDoc.id;
  created.add(long);
  const log = new SessionWriter(creator, long);
  for (let i = 0; i < LONG_TRANSACTIONS; i += 500) {
    c.send(log.content(padded(500, i), i === 0 ? longDoc.header : undefined));
    await c.next("known", (k) => k.doc === long && k.reason === "ack", 30_000);
  }
  for (let first = 0; first < LISTED_DOCS; first += 500) {
    const messages = Array.from({ length: 500 }, (_, i) => {
      const header: DocHeader = { ...docHeader(creator, group, `listed-${first + i}`).header, meta: { pad: "p".repeat(900) } };
      created.add(docIdOf(header));
      return { type: "content", doc: docIdOf(header), header, sessions: {} };
    });
    c.send({ type: "batch", messages });
    await c.next("known", (k) => k.doc === messages.at(-1)!.doc, 30_000);
  }
  await c.close();
}, 120_000);

afterAll(closeAll);

type Kind = "load" | "dir" | "open";
const requestOf = (kind: Kind): ClientMessage =>
  kind === "load" ? { type: "load", doc: long, known: emptyKnown } : kind === "dir" ? { type: "dir" } : { type: "open", known: {} };
const endOf =
  (kind: Kind) =>
  (message: ServerMessage): boolean =>
    kind === "load" ? message.type === "known" && message.doc === long && message.reason === "load" : kind === "dir" ? message.type === "dir" && !message.more : message.type === "opened";

/** What a peer read until the answer's end, echoing every mark as it reads it (marks left out). */
async function readToEnd(peer: Peer, isEnd: (message: ServerMessage) => boolean): Promise<ServerMessage[]> {
  const read: ServerMessage[] = [];
  const deadline = Date.now() + 30_000;
  for (;;) {
    for (const message of peer.inbox.splice(0)) {
      if (message.type === "mark") peer.send({ type: "marked", id: message.id });
      else read.push(message);
      if (isEnd(message)) return read;
    }
    if (Date.now() > deadline) throw new Error(`the answer never ended; read ${read.length} messages`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** An answer as lines (each transaction, each listed document, each known state) of the creator's documents. */
function linesOf(messages: ServerMessage[]): string[] {
  const lines: string[] = [];
  for (const message of messages) {
    if (message.type === "content" && created.has(message.doc)) {
      if (message.header) lines.push(`${message.doc} header`);
      for (const [session, chunk] of Object.entries(message.sessions)) {
        chunk!.transactions.forEach((tx, i) => lines.push(`${message.doc} ${session} ${chunk!.after + i} ${String(tx.data)}`));
      }
    }
    if (message.type === "known" && created.has(message.doc)) lines.push(`${message.doc} known ${JSON.stringify(message.sessions)}`);
    if (message.type === "dir") for (const entry of message.docs) if (created.has(entry.id)) lines.push(`${entry.id} listed ${JSON.stringify(entry.known)}`);
  }
  return lines;
}

async function writeAndRead(who: TestAgent, kind: Kind): Promise<ServerMessage[]> {
  const peer = await connect(group, who);
  const doc = docHeader(who, group, `write-during-${kind}`);
  peer.send(new SessionWriter(who, doc.id).content(transactions(1), doc.header));
  await peer.next("known", (k) => k.doc === doc.id && k.reason === "ack", 30_000);
  peer.send(requestOf(kind));
  const read = await readToEnd(peer, endOf(kind));
  await peer.close();
  return read;
}

describe("a peer that never echoes the relay's marks", () => {
  it.each<[string, Kind]>([
    ["a load", "load"],
    ["a directory listing", "dir"],
    ["an open", "open"],
  ])("is sent about one window of %s and nothing more; once it echoes, the rest", async (_, kind) => {
    const slow = await connect(group, slowReader, { echoMarks: false });
    slow.send(requestOf(kind));
    const mark = await slow.next("mark", undefined, 30_000);
    // Meanwhile another member writes, is acked, and its own request is answered to the end.
    const whole = await writeAndRead(member, kind);
    // A made-up echo (beginning as the real one does) confirms nothing.
    slow.send({ type: "marked", id: `${mark.id.slice(0, 8)}AAAAAAAAAAAAAAAAAAAAAA` });
    await slow.sync(); // everything the relay sent it so far has arrived
    expect(slow.inbox.some(endOf(kind))).toBe(false);
    expect(slow.bytes).toBeGreaterThan(ANSWER_WINDOW_BYTES / 2);
    // The window, and at most a frame being packed when it filled.
    expect(slow.bytes).toBeLessThan(ANSWER_WINDOW_BYTES + 2 * RELAY_FRAME_TARGET_BYTES);

    const rest = await readToEnd(slow, endOf(kind));
    expect(linesOf(rest)).toEqual(linesOf(whole));
    if (kind === "load") expect(linesOf(rest).filter((line) => !line.includes(" known ") && !line.endsWith(" header"))).toHaveLength(LONG_TRANSACTIONS);
    await slow.close();
  });

  it.each(["nothing", "a listing, of the new instance", "a load of a document not written yet, which saves its record again, before the eviction"])("whose answers waited while the object was evicted from memory is told to connect again when it echoes, not left waiting (asked since: %s)", async (since) => {
    const slow = await connect(group, slowReader, { echoMarks: false });
    slow.send(requestOf("load"));
    const marks = [await slow.next("mark", undefined, 30_000)];
    await slow.sync();
    marks.push(...slow.drain("mark")); // along the answer, then where it paused
    if (since.startsWith("a load")) {
      slow.send({ type: "load", doc: docHeader(slowReader, group, "not-written-yet").id, known: emptyKnown });
      await slow.sync();
    }
    await evictDurableObject(groupStub(group)); // the answers waiting in memory go with it
    if (since.startsWith("a listing")) {
      // A small answer since, from the new instance, before the echo of the old one's mark.
      slow.send({ type: "dir", since: Number.MAX_SAFE_INTEGER });
      await slow.next("dir", undefined, 30_000);
    }
    for (const mark of marks) slow.send({ type: "marked", id: mark.id }); // read at last, echoed as an SDK does
    expect(await slow.next("error", undefined, 30_000)).toMatchObject({ code: "internal" });
    expect((await slow.closed).code).toBe(1011);
    // Connected again, its load is answered to the end.
    const again = await connect(group, slowReader);
    again.send(requestOf("load"));
    const read = await readToEnd(again, endOf("load"));
    expect(linesOf(read).filter((line) => !line.includes(" known ") && !line.endsWith(" header")).length).toBeGreaterThanOrEqual(LONG_TRANSACTIONS);
    await again.close();
  });

  it("is not cut off for echoing made-up ids, before and after an eviction, while its answers wait or not", async () => {
    const made = ["AAAAAAAApBBBBBBBBBBBBBBBBBBBBBB", "AAAAAAAAmBBBBBBBBBBBBBBBBBBBBBB", "made-up-pppppppppppp", "p".repeat(43)];
    /** Echoes every made-up id; a ping sent after them is answered by the object, with no error, on the same socket. */
    const stillAnswered = async (peer: Peer) => {
      for (const id of made) peer.send({ type: "marked", id });
      await peer.sync();
      expect(peer.drain("error")).toEqual([]);
    };
    const idle = await connect(group, member);
    await stillAnswered(idle);
    const slow = await connect(group, slowReader, { echoMarks: false });
    slow.send(requestOf("load"));
    await slow.next("mark", undefined, 30_000);
    await slow.sync();
    const marks = [...slow.drain("mark")];
    await stillAnswered(slow);
    await evictDurableObject(groupStub(group)); // the paused answers go with it; the made-up ids still name nothing
    await stillAnswered(idle);
    await stillAnswered(slow);
    // Its real marks, echoed at last: the one where its answers paused still says they are gone.
    for (const mark of marks) slow.send({ type: "marked", id: mark.id });
    expect(await slow.next("error", undefined, 30_000)).toMatchObject({ code: "internal" });
    expect((await slow.closed).code).toBe(1011);
    await idle.close();
  });

  it("whose answer was sent whole, its marks echoed only after the object was evicted, is not cut off: nothing waited", async () => {
    const slow = await connect(group, slowReader, { echoMarks: false });
    // The last 600 transactions (about 600 KB): marked along the way at half a window, never paused.
    slow.send({ type: "load", doc: long, known: { header: true, sessions: { [creator.session]: LONG_TRANSACTIONS - 600 } } });
    await slow.next("known", (k) => k.doc === long && k.reason === "load", 30_000);
    const marks = slow.drain("mark");
    expect(marks.length).toBeGreaterThan(0);
    await evictDurableObject(groupStub(group));
    for (const mark of marks) slow.send({ type: "marked", id: mark.id });
    slow.send({ type: "load", doc: long, known: { header: true, sessions: { [creator.session]: LONG_TRANSACTIONS - 1 } } });
    await slow.next("known", (k) => k.doc === long && k.reason === "load", 30_000); // still answered, still connected
    expect(slow.drain("error")).toEqual([]);
    await slow.close();
  });
});
