// Measures one write fanned out to many connected sockets of one group (issue 10, item 9), after the object
// has had time to hibernate. Real relay in workerd through weft/dev (Miniflare, in memory), raw WebSockets.
// Usage: npx node bench/measure/fanout-many-sockets.ts [sockets=5000]
import { decodeServerFrame, encodeMessage } from "../../protocol/index.ts";
import { startRelay } from "../../dev/index.ts";
import { helloFrame, signedChunk, testAgent, testHeader, transactions, type TestAgent } from "../../test/support/identity.ts";

const SOCKETS = Number(process.argv[2] ?? 5_000);
const GROUP = "measure-fanout";

/** Opens a socket, says hello as `who`, opens the group; calls `onContent` for each content frame. */
async function subscriber(url: string, who: TestAgent, onContent: () => void): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${GROUP}/ws`);
  let phase: "hello" | "welcome" | "opened" | "live" = "hello";
  return new Promise((resolve, reject) => {
    ws.addEventListener("error", () => reject(new Error("socket error")));
    ws.addEventListener("message", (event) => {
      const decoded = decodeServerFrame(event.data as string);
      if (!decoded.ok) return;
      for (const message of decoded.message) {
        if (message.type === "challenge" && phase === "hello") {
          phase = "welcome";
          ws.send(encodeMessage(helloFrame(who, GROUP, message.nonce) as never));
        } else if (message.type === "welcome") {
          phase = "opened";
          ws.send(encodeMessage({ type: "open", known: {} }));
        } else if (message.type === "opened") {
          phase = "live";
          resolve(ws);
        } else if (message.type === "content" && phase === "live") onContent();
        else if (message.type === "error") reject(new Error(`${message.code}: ${message.message}`));
      }
    });
  });
}

const relay = await startRelay();
const sockets: WebSocket[] = [];
try {
  let received = 0;
  let allReceived: () => void = () => {};
  const onContent = () => {
    if (++received === SOCKETS) allReceived();
  };
  const started = performance.now();
  for (let first = 0; first < SOCKETS; first += 250) {
    const batch = [];
    for (let i = first; i < Math.min(SOCKETS, first + 250); i++) batch.push(subscriber(relay.url, testAgent(1000 + i), onContent));
    sockets.push(...(await Promise.all(batch)));
  }
  console.log(`${SOCKETS} sockets connected and subscribed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await new Promise((resolve) => setTimeout(resolve, 15_000)); // idle: the object hibernates (about 10 s locally)

  const writer = testAgent(7);
  const doc = testHeader(writer, GROUP, "fanned-out");
  const ws = new WebSocket(`${relay.url.replace("http", "ws")}/v1/groups/${GROUP}/ws`);
  const acked = new Promise<number>((resolve) => {
    ws.addEventListener("message", (event) => {
      const decoded = decodeServerFrame(event.data as string);
      if (!decoded.ok) return;
      for (const message of decoded.message) {
        if (message.type === "challenge") ws.send(encodeMessage(helloFrame(writer, GROUP, message.nonce) as never));
        if (message.type === "welcome") {
          // Wait again so the object is hibernated when the write arrives.
          setTimeout(() => {
            const { chunk } = signedChunk(writer, doc.id, 0, transactions(1, "hello-everyone"));
            t0 = performance.now();
            ws.send(encodeMessage({ type: "content", doc: doc.id, header: doc.header, sessions: { [writer.session]: chunk } } as never));
          }, 15_000);
        }
        if (message.type === "known" && message.reason === "ack") resolve(performance.now() - t0);
      }
    });
  });
  let t0 = 0;
  const everyone = new Promise<number>((resolve) => (allReceived = () => resolve(performance.now() - t0)));
  const ackMs = await acked;
  const allMs = await everyone;
  console.log(`one write to ${SOCKETS} hibernated subscribers: ack after ${ackMs.toFixed(1)} ms, last subscriber after ${allMs.toFixed(1)} ms`);
  ws.close();
} finally {
  for (const socket of sockets) socket.close();
  await relay.stop();
}
