// What a reader pays to read a document whole on every change, as an app that re-renders does: the relay
// through weft/dev's startRelay, a document of 10,000 transactions of 100 bytes, and a writer appending
// 500 more in frames of 5 while the reader calls doc.transactions() and walks it at each change. Reports the
// reader's CPU per change (this process's, around the listener only) and the first call's, after the load.
//   npx node bench/measure/ordered-view.ts [transactions=10000] [appends=500]
import { createClient, createIdentity } from "../../client/index.ts";
import { startRelay } from "../../dev/start-relay.ts";
import { transactionCount } from "../../protocol/index.ts";
import { ownCpuMs, payload, sleep } from "../workload.ts";

const [held = 10_000, appends = 500] = process.argv.slice(2).map(Number);
const relay = await startRelay();
try {
  const writer = await createClient({ url: relay.url, identity: createIdentity() });
  const doc = writer.group("ordered-view").create({ kind: "json", meta: {} });
  for (let i = 0; i < held; i++) doc.append(payload(i, 100));
  await doc.synced();
  const reader = await createClient({ url: relay.url, identity: createIdentity() });
  const seen = await reader.group("ordered-view").open(doc.id);
  while (transactionCount(seen.known) < held) await sleep(20);
  const first = ownCpuMs();
  seen.transactions();
  const firstMs = ownCpuMs() - first;
  let changes = 0;
  let cpuMs = 0;
  let bytes = 0;
  seen.subscribe(() => {
    const t0 = ownCpuMs();
    for (const { data } of seen.transactions()) bytes += typeof data === "string" ? data.length : data.byteLength;
    cpuMs += ownCpuMs() - t0;
    changes++;
  });
  for (let i = 0; i < appends; i++) {
    doc.append(payload(i, 100));
    if (i % 5 === 4) await sleep(10);
  }
  await doc.synced();
  while (transactionCount(seen.known) < held + appends) await sleep(20);
  console.log(`${held.toLocaleString("en")} transactions held: first transactions() ${firstMs.toFixed(2)} ms`);
  console.log(`${changes} changes while ${appends} more arrived: transactions() and a walk over it, ${(cpuMs / changes).toFixed(3)} ms per change (${bytes} bytes walked)`);
  writer.close();
  reader.close();
} finally {
  await relay.stop();
}
