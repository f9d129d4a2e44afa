// Measures the ack delay of a member's writes while another peer opens a group of many documents (issue 10,
// item 5). Runs the real relay in workerd through weft/dev (Miniflare, in memory) and drives it with raw
// WebSockets. Usage: npx node bench/measure/ack-during-open.ts [documents=100000]
import { decodeServerFrame, encodeMessage, type ServerMessage } from "../../protocol/index.ts";
import { startRelay } from "../../dev/index.ts";
import { helloFrame, signedChunk, testAgent, testHeader, transactions, type TestAgent } from "../../test/support/identity.ts";

const DOCS = Number(process.argv[2] ?? 100_000);
const GROUP = "measure-open";

type Socket = { ws: WebSocket; inbox: ServerMessage[]; wait(match: (m: ServerMessage) => boolean): Promise<ServerMessage>; bytes: number };

async function connect(url: string, who: TestAgent): Promise<Socket> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/groups/${GROUP}/ws`);
  const socket: Socket = { ws, inbox: [], bytes: 0, wait: undefined as never };
  let waiters: (() => void)[] = [];
  ws.addEventListener("message", (event) => {
    socket.bytes += (event.data as string).length;
    const decoded = decodeServerFrame(event.data as string);
    if (decoded.ok) socket.inbox.push(...decoded.message);
    for (const wake of waiters.splice(0)) wake();
  });
  socket.wait = async (match) => {
    for (;;) {
      const index = socket.inbox.findIndex(match);
      if (index >= 0) return socket.inbox.splice(index, 1)[0]!;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  await new Promise((resolve) => ws.addEventListener("open", resolve));
  const challenge = await socket.wait((m) => m.type === "challenge");
  ws.send(encodeMessage(helloFrame(who, GROUP, (challenge as { nonce: string }).nonce) as never));
  await socket.wait((m) => m.type === "welcome");
  socket.inbox.length = 0;
  return socket;
}

const relay = await startRelay();
try {
  const creator = testAgent(1);
  const writerAgent = testAgent(2);
  const readerAgent = testAgent(3);
  const c = await connect(relay.url, creator);
  let started = performance.now();
  const PER_FRAME = 2_000;
  for (let first = 0; first < DOCS; first += PER_FRAME) {
    const messages = [];
    for (let i = first; i < Math.min(DOCS, first + PER_FRAME); i++) {
      const { id, header } = testHeader(creator, GROUP, `doc-${i}`);
      messages.push({ type: "content", doc: id, header, sessions: {} });
    }
    c.ws.send(encodeMessage({ type: "batch", messages } as never));
    const lastId = (messages.at(-1) as { doc: string }).doc;
    await c.wait((m) => m.type === "known" && m.doc === lastId);
    c.inbox.length = 0;
  }
  console.log(`created ${DOCS} documents in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const w = await connect(relay.url, writerAgent);
  const own = testHeader(writerAgent, GROUP, "writer-doc");
  let count = 0;
  let lastHash: string | undefined;
  const write = async (): Promise<number> => {
    const txs = transactions(1, `w-${count}`);
    const { chunk, lastHash: next } = signedChunk(writerAgent, own.id, count, txs, lastHash);
    const t0 = performance.now();
    w.ws.send(encodeMessage({ type: "content", doc: own.id, ...(count === 0 ? { header: own.header } : {}), sessions: { [writerAgent.session]: chunk } } as never));
    await w.wait((m) => m.type === "known" && m.doc === own.id && m.reason === "ack");
    count += txs.length;
    lastHash = next;
    return performance.now() - t0;
  };
  const idle: number[] = [];
  for (let i = 0; i < 20; i++) idle.push(await write());

  const r = await connect(relay.url, readerAgent);
  started = performance.now();
  r.ws.send(encodeMessage({ type: "open", known: {} }));
  const opened = r.wait((m) => m.type === "opened").then(() => performance.now() - started);
  let done = false;
  void opened.then(() => (done = true));
  const during: number[] = [];
  while (!done) {
    during.push(await write());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const openMs = await opened;
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
    return `n=${xs.length} p50=${at(0.5)} ms p99=${at(0.99)} ms max=${sorted.at(-1)!.toFixed(1)} ms`;
  };
  console.log(`ack delay idle: ${stats(idle)}`);
  console.log(`open of ${DOCS} documents: ${(openMs / 1000).toFixed(1)} s, ${(r.bytes / 1e6).toFixed(1)} MB to the reader`);
  console.log(`ack delay during the open: ${stats(during)}`);
  for (const socket of [c, w, r]) socket.ws.close();
} finally {
  await relay.stop();
}
