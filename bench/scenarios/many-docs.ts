// many_docs: one client creates 1,000 documents with 5 transactions each in one group; then a fresh
// client lists the group and opens every document. Both times, and the relay's resident memory (all
// its processes) before the documents were created (after a full garbage collection in the relay's isolate,
// so that what earlier runs left uncollected is not counted) and after they were all opened, as it is and
// after a full collection again: what the relay keeps of the documents, without its garbage not yet collected.
import type { Bench } from "../bench.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import type { SqlCost } from "../bench.ts";
import { cpuBetween, processesChanged, storageBytes } from "../proc-stats.ts";
import { collectRelayGarbage, relayHeapUsed } from "../relay-inspector.ts";
import { sleep, wallClock } from "../workload.ts";

const DOCS = 1_000;
const PER_DOC = 5;
const BYTES = 100;
const RUNS_WHILE_UNDER_MS = 20_000;

type Seeded = { ms: number; cpuMs: number };
type OpenedGroup = { ms: number; directoryMs: number; docs: number; bytesReceived: number };

export const manyDocs: Scenario = {
  name: "many_docs",
  budgetMs: 90_000,
  async run(bench: Bench) {
    const createMs: number[] = [];
    const openMs: number[] = [];
    const openAllMs: number[] = [];
    const growthMiB: number[] = [];
    const keptMiB: number[] = [];
    const heapGrowthMiB: number[] = [];
    const documentStoreMiB: number[] = [];
    const traceStoreMiB: number[] = [];
    const createSql: SqlCost[] = [];
    const openAllSql: SqlCost[] = [];
    const samples: { beforeKiB: number; afterKiB: number; before: unknown; after: unknown; relayCpuMs: number; rebuilt: boolean }[] = [];
    const since = wallClock();
    // Through the relay's inspector, unless a profile holds it (it would leave these unanswered for 20 s each).
    const inspected = !bench.options.relayProfiled;
    // Not a cheap scenario: further runs only while the runs so far took less than RUNS_WHILE_UNDER_MS.
    for (let run = 0; bench.moreRuns(run, since, RUNS_WHILE_UNDER_MS); run++) {
      const group = `bench-many-docs-${run}`;
      const writer = bench.spawn("writer");
      const reader = bench.spawn("reader");
      try {
        const collected = inspected && (await collectRelayGarbage(bench.persistTo, bench.url).then(() => sleep(200).then(() => true), () => false));
        const before = bench.relaySample();
        const heapBefore = inspected ? await relayHeapUsed(bench.persistTo).catch(() => Number.NaN) : Number.NaN;
        const diskBefore = storageBytes(bench.persistTo);
        await writer.call("connect", { url: bench.url, group });
        const createMeter = await bench.sqlMeter(group);
        const seeded = await writer.call<Seeded>("seedMany", { docs: DOCS, perDoc: PER_DOC, bytes: BYTES }, 60_000);
        await writer.call("close");
        createSql.push(await createMeter.stop());
        const opened = await reader.call<OpenedGroup>("openGroup", { url: bench.url, group, perDoc: PER_DOC }, 30_000);
        if (opened.docs !== DOCS) throw new Error(`the directory listed ${opened.docs} documents, expected ${DOCS}`);
        const openAllMeter = await bench.sqlMeter(group);
        const whole = await reader.call<{ ms: number; docs: number }>("openAll", { url: bench.url, group, perDoc: PER_DOC }, 30_000);
        if (whole.docs !== DOCS) throw new Error(`openAll() gave ${whole.docs} documents, expected ${DOCS}`);
        openAllMs.push(whole.ms);
        openAllSql.push(await openAllMeter.stop());
        await sleep(200);
        const after = bench.relaySample();
        const heapAfter = inspected ? await relayHeapUsed(bench.persistTo).catch(() => Number.NaN) : Number.NaN;
        const diskAfter = storageBytes(bench.persistTo);
        const afterCollected = collected && (await collectRelayGarbage(bench.persistTo, bench.url).then(() => sleep(200).then(() => bench.relaySample()), () => undefined));
        documentStoreMiB.push(((diskAfter.do ?? 0) - (diskBefore.do ?? 0)) / 2 ** 20);
        traceStoreMiB.push(((diskAfter.observability ?? 0) - (diskBefore.observability ?? 0)) / 2 ** 20);
        createMs.push(seeded.ms);
        openMs.push(opened.ms);
        // A relay rebuilt in between (wrangler dev watches the sources) makes the difference meaningless.
        const rebuilt = processesChanged(before, after);
        if (rebuilt) bench.relayRebuilds++;
        growthMiB.push(rebuilt ? Number.NaN : (after.rssKiB - before.rssKiB) / 1024);
        keptMiB.push(rebuilt || !afterCollected || processesChanged(after, afterCollected) ? Number.NaN : (afterCollected.rssKiB - before.rssKiB) / 1024);
        heapGrowthMiB.push(rebuilt ? Number.NaN : (heapAfter - heapBefore) / 2 ** 20);
        samples.push({ beforeKiB: before.rssKiB, afterKiB: after.rssKiB, before: before.processes, after: after.processes, relayCpuMs: cpuBetween(before, after), rebuilt });
      } finally {
        await bench.stopWorkers([writer, reader]);
      }
    }
    return {
      figures: [
        figure("create_ms", `create ${DOCS.toLocaleString("en")} docs x ${PER_DOC} tx, all acked`, "ms", createMs, { target: { op: "<=", value: 1_000 } }),
        // Opening the whole group is one request (`open`); the one-by-one figure shows what that saves.
        ...(openAllMs.length > 0 ? [figure("open_all_ms", "fresh client: group.openAll()", "ms", openAllMs, { target: { op: "<=", value: 1_000 } })] : []),
        figure("open_ms", "fresh client: directory, then open each", "ms", openMs),
        figure("relay_rss_growth_mib", "relay resident memory growth", "MiB", growthMiB, { target: { op: "<=", value: 32 } }),
        figure("relay_rss_kept_mib", "relay resident memory growth, after a full collection in its isolate", "MiB", keptMiB),
        figure("relay_heap_growth_mib", "of which the relay isolate's JS heap", "MiB", heapGrowthMiB),
        figure("do_storage_growth_mib", "Durable Object SQLite files grew", "MiB", documentStoreMiB),
        figure("trace_store_growth_mib", "wrangler dev's local trace store grew", "MiB", traceStoreMiB),
        figure("relay_rss_mib", "relay resident memory after", "MiB", samples.map((s) => s.afterKiB / 1024)),
        figure("relay_cpu_ms", "relay processes CPU (create + open)", "ms", samples.map((s) => s.relayCpuMs)),
        ...sqlFigures("create", "create", createSql),
        ...sqlFigures("open_all", "openAll()", openAllSql),
      ],
      details: { docs: DOCS, perDoc: PER_DOC, bytesPerTransaction: BYTES, samples },
    };
  },
};
