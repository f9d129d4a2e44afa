// Where the relay's memory goes while documents are created: rounds of many_docs' work (one client creates
// 1,000 documents of 5 transactions, a fresh one opens them all with openAll()) against a relay in workerd
// through Miniflare, storage on disk as under wrangler dev. After each round: workerd's resident memory,
// split into anonymous (heaps: V8's and the runtime's own) and file-backed pages, and the relay isolate's
// V8 heap, used and committed (through Miniflare's inspector). `same` puts every round in one group (one
// object, growing); `new` (the default) gives each round a group of its own, as the bench does.
//   npx node bench/measure/relay-memory.ts [new|same] [rounds=4]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createIdentity } from "../../client/index.ts";
import { relayHeapAt } from "../relay-inspector.ts";
import { measuredRelay } from "./miniflare-relay.ts";
import { payload, sleep } from "../workload.ts";

const [mode = "new", rounds = "4"] = process.argv.slice(2);
if (mode !== "new" && mode !== "same") throw new Error("usage: relay-memory.ts [new|same] [rounds]");
const DOCS = 1_000;
const PER_DOC = 5;
const BYTES = 100;
const INSPECTOR_PORT = 9300 + Math.floor(Math.random() * 500);
const MiB = 2 ** 20;

const state = mkdtempSync(join(tmpdir(), "weft-relay-memory-"));
const miniflare = await measuredRelay({ inspectorPort: INSPECTOR_PORT, persistTo: state });
try {
  const url = (await miniflare.ready).origin;
  const workerd = Number(execFileSync("pgrep", ["-n", "-x", "workerd"]).toString().trim());
  const sample = async () => {
    const rollup = readFileSync(`/proc/${workerd}/smaps_rollup`, "utf8");
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(rollup)?.[1] ?? Number.NaN);
    const heap = await relayHeapAt(INSPECTOR_PORT);
    return { rss: kib("Rss") / 1024, anonymous: kib("Anonymous") / 1024, heapUsed: heap.usedSize / MiB, heapCommitted: heap.totalSize / MiB };
  };
  const show = (figures: Record<string, number>) => Object.entries(figures).map(([name, value]) => `${name} ${value.toFixed(1)}`).join(", ");
  let last = await sample();
  console.log(`start (MiB): ${show(last)}`);
  for (let round = 0; round < Number(rounds); round++) {
    const group = mode === "new" ? `memory-${round}` : "memory";
    const writer = await createClient({ url, identity: createIdentity() });
    const writing = writer.group(group);
    for (let d = 0; d < DOCS; d++) {
      const doc = writing.create({ kind: "json", meta: { n: d } });
      for (let i = 0; i < PER_DOC; i++) doc.append(payload(i, BYTES));
    }
    await writing.synced();
    await writer.close();
    const reader = await createClient({ url, identity: createIdentity() });
    const opened = await reader.group(group).openAll();
    await reader.close();
    await sleep(200);
    const now = await sample();
    const growth = Object.fromEntries(Object.entries(now).map(([name, value]) => [name, value - last[name as keyof typeof last]]));
    console.log(`round ${round} (${opened.length} documents open): ${show(now)}; grew ${show(growth)}`);
    last = now;
  }
} finally {
  await miniflare.dispose();
  rmSync(state, { recursive: true, force: true });
}
