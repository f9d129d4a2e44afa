// A socket the relay closed whose far end never answered the close (a laptop asleep, a process stopped:
// its TCP connection stays open) is still listed by the runtime. When the object is evicted from memory
// and wakes, it must not take that socket for a peer again: the frames its far end sends once it runs on
// (here a presence state) are not fanned out, and its readers do not see it come back. Against the real
// relay in workerd (weft/dev's startRelay), which evicts an idle object after about 10 s.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { decodeServerFrame, encodeMessage, type DocId } from "../../protocol/index.ts";
import { helloFrame, testAgent } from "../support/identity.ts";
import { rawWebSocket, type RawSocket, type RawSocketClass } from "../support/raw-socket.ts";
import { groupSqlStats } from "../support/sql-stats.ts";
import { sleep, until } from "../support/wait.ts";

/** A raw member's socket: says hello, loads `doc` (subscribing to it), and collects what it is sent. */
async function member(WebSocket: RawSocketClass, url: string, group: string, doc: DocId, seed: number) {
  const who = testAgent(seed);
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${group}/ws`);
  const heard: { type: string; peers?: { session: string; state?: unknown }[] }[] = [];
  let closed: number | undefined;
  ws.on("close", (code) => (closed = code));
  await new Promise<void>((resolve, reject) => {
    ws.on("message", (data) => {
      const decoded = decodeServerFrame(data.toString());
      if (!decoded.ok) return reject(new Error(`undecodable ${data.toString().slice(0, 200)}`));
      for (const message of decoded.message) {
        heard.push(message as (typeof heard)[number]);
        if (message.type === "challenge") ws.send(encodeMessage(helloFrame(who, group, message.nonce)));
        else if (message.type === "welcome") ws.send(encodeMessage({ type: "load", doc, known: { header: false, sessions: {} } }));
        else if (message.type === "known" && message.reason === "load") resolve();
        else if (message.type === "mark") ws.send(encodeMessage({ type: "marked", id: message.id }));
      }
    });
  });
  const shows = (peer: { session: string }) => heard.some((message) => message.type === "presence" && message.peers?.some((shown) => shown.session === peer.session && shown.state !== undefined));
  return { who, ws, heard, shows, closed: () => closed };
}

describe("a socket the relay closed, whose far end never answered", () => {
  let relay: LocalRelay;
  beforeAll(async () => {
    relay = await startRelay({ vars: { WEFT_SQL_STATS: "true" } });
  }, 60_000);
  afterAll(() => relay?.stop());

  it("is not taken for a peer again when the object wakes: what it sends later is not fanned out", { timeout: 120_000 }, async () => {
    const WebSocket = await rawWebSocket();
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = writer.group("closed").create({ kind: "text" });
    doc.append("first");
    await doc.synced();
    writer.close(); // only the raw sockets are left
    const watcher = await member(WebSocket, relay.url, "closed", doc.id, 91);
    const frozen = await member(WebSocket, relay.url, "closed", doc.id, 92);
    frozen.ws.send(encodeMessage({ type: "presence", doc: doc.id, state: "here" }));
    await until(() => watcher.shows(frozen.who), 10_000);

    // It stops reading (a process stopped: what the relay sends lands in its kernel's buffer, unread, and
    // no close is answered) after a frame the relay refuses and closes it for.
    (frozen.ws as RawSocket)._socket.pause();
    const before = (await groupSqlStats(relay.url, "closed")).instance;
    frozen.ws.send("not json");
    await until(() => watcher.heard.some((message) => message.type === "presence" && message.peers?.some((peer) => peer.session === frozen.who.session && peer.state === undefined)), 30_000);

    // Idle, the object is evicted from memory (about 10 s here); the frozen socket stays open at the runtime.
    let after = before;
    for (let waited = 0; after === before && waited < 60_000; waited += 15_000) {
      await sleep(15_000);
      after = (await groupSqlStats(relay.url, "closed")).instance;
    }
    expect(after).not.toBe(before);

    // It runs on and shows its presence again, on the socket the relay closed.
    frozen.ws.send(encodeMessage({ type: "presence", doc: doc.id, state: "back" }));
    const heardBefore = watcher.heard.length;
    // A later frame of the watcher's own, answered: by then the frozen one's frame was handled too.
    watcher.ws.send(encodeMessage({ type: "presence", doc: doc.id, state: "watching" }));
    await sleep(1_000);
    const since = watcher.heard.slice(heardBefore);
    expect(since.filter((message) => message.type === "presence" && message.peers?.some((peer) => peer.session === frozen.who.session))).toEqual([]);
    watcher.ws.terminate();
    frozen.ws.terminate();
  });
});
