// Cold loads of a document of text by a client far from the relay: the relay in workerd through Miniflare
// (as weft/dev's startRelay), and between them a TCP proxy that holds every chunk `delay` ms each way. Shows
// what a load costs in round trips: the handshake's, and one for each window of answers the client must echo
// before the rest comes (protocol/limits.ts, ANSWER_WINDOW_BYTES).
//   npx node bench/measure/distant-load.ts [transactions=30000] [delay=20] [loads=3]
import { createClient, createIdentity } from "../../client/index.ts";
import { transactionCount, type DocId } from "../../protocol/index.ts";
import { startProxy } from "../../test/support/proxy.ts";
import { measuredRelay } from "./miniflare-relay.ts";
import { payload, wallClock } from "../workload.ts";

const [count = 30_000, delay = 20, loads = 3] = process.argv.slice(2).map(Number);
const BYTES = 100;

const miniflare = await measuredRelay();
const url = (await miniflare.ready).origin;
const proxy = await startProxy({ port: Number(new URL(url).port) }, { delayMs: delay });
const distant = proxy.url;
try {
  const writer = await createClient({ url, identity: createIdentity() });
  const doc = writer.group("distant-load").create({ kind: "json", meta: {} });
  for (let i = 0; i < count; i++) doc.append(payload(i, BYTES));
  await doc.synced();
  writer.close();
  const times: number[] = [];
  // The first load warms this process and the relay up, and is not counted.
  for (let run = 0; run <= loads; run++) {
    const t0 = wallClock();
    const client = await createClient({ url: distant, identity: createIdentity() });
    const opened = await client.group("distant-load").open(doc.id as DocId);
    await new Promise<void>((resolve) => {
      const check = () => void (transactionCount(opened.known) >= count && resolve());
      opened.subscribe(check);
      check();
    });
    if (run > 0) times.push(Math.round(wallClock() - t0));
    client.close();
  }
  console.log(`${count} transactions of ${BYTES} bytes, ${delay} ms each way: loaded in ${times.join(" / ")} ms`);
} finally {
  await proxy.close();
  await miniflare.dispose();
}
