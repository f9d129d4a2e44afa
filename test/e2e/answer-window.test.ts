// A member that asks for long answers and never reads them cannot fill the relay's memory: workerd has no
// WebSocket.bufferedAmount, so before the relay windowed its answers (ANSWER_WINDOW_BYTES), 40 loads of a
// 9 MB document from one peer that paused its socket took workerd from 143 MB to 913 MB in a second (a
// production object has 128 MB, and all its peers go when it is reset). Here the same attack, against the
// real relay in workerd (weft/dev's startRelay), leaves workerd's resident memory about where it was.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, createIdentity } from "../../client/index.ts";
import type { LocalRelay } from "../../dev/start-relay.ts";
import { encodeMessage, type DocId } from "../../protocol/index.ts";
import { helloFrame, testAgent } from "../support/identity.ts";
import { sleep } from "../support/wait.ts";
import { rawWebSocket, rssKiB, startRelayWithWorkerd, type RawSocket, type RawSocketClass } from "../support/raw-socket.ts";

const TRANSACTIONS = 10_000;
const dataOf = (i: number) => `${i}:`.padEnd(900, "x");
/** The attack's loads, each in a frame of its own (so none is folded into another). */
const LOADS = 40;
/** How much workerd may grow under the attack: far below the 770 MB it grew unwindowed. */
const MAX_GROWTH_KIB = 64 * 1024;

/** A member that says hello, then stops reading its socket and asks for `loads` loads of `doc`, a frame each. */
async function attack(WebSocket: RawSocketClass, url: string, group: string, doc: DocId): Promise<RawSocket> {
  const who = testAgent(77);
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${group}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString()) as { type: string; nonce?: string };
      if (message.type === "challenge") ws.send(encodeMessage(helloFrame(who, group, message.nonce!)));
      else if (message.type === "welcome") resolve();
      else reject(new Error(`unexpected ${data.toString().slice(0, 200)}`));
    });
  });
  ws._socket.pause();
  for (let i = 0; i < LOADS; i++) ws.send(JSON.stringify({ type: "load", doc, known: { header: false, sessions: {} } }));
  return ws;
}

describe("a member that never reads its long answers", () => {
  let relay: LocalRelay;
  let workerd: number;
  beforeAll(async () => {
    ({ relay, workerd } = await startRelayWithWorkerd());
  }, 60_000);
  afterAll(() => relay?.stop());

  it("asking 40 loads of a 9 MB document leaves workerd's memory about where it was", { timeout: 120_000 }, async () => {
    const WebSocket = await rawWebSocket();
    const writer = await createClient({ url: relay.url, identity: createIdentity() });
    const doc = writer.group("attacked").create({ kind: "text" });
    for (let i = 0; i < TRANSACTIONS; i++) doc.append(dataOf(i));
    await doc.synced();
    // A reader's load of it once, so the object's memory is at its working size before the attack.
    const reader = await createClient({ url: relay.url, identity: createIdentity() });
    expect((await reader.group("attacked").open(doc.id)).transactions()).toHaveLength(TRANSACTIONS);
    reader.close();
    const baseline = rssKiB(workerd);

    const ws = await attack(WebSocket, relay.url, "attacked", doc.id);
    try {
      // The writer goes on being acked meanwhile, and a new reader gets the whole document.
      doc.append("during the attack");
      await doc.synced();
      const another = await createClient({ url: relay.url, identity: createIdentity() });
      expect((await another.group("attacked").open(doc.id)).transactions()).toHaveLength(TRANSACTIONS + 1);
      another.close();
      let peak = rssKiB(workerd);
      for (let i = 0; i < 20; i++) {
        await sleep(100);
        peak = Math.max(peak, rssKiB(workerd));
      }
      expect(peak - baseline).toBeLessThan(MAX_GROWTH_KIB);
    } finally {
      ws.terminate();
      writer.close();
    }
  });
});
