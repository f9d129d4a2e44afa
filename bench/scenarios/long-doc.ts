// long_doc: a Yjs document built from 100,000 keystrokes, each its own transaction (a long typing session).
// A fresh client loads it through weft/yjs before compaction (every transaction), and after a snapshot
// (the relay serves the snapshot and what follows it, and prunes what it covers), against a document that
// holds the same state as one update (what a Yjs relay that stores one merged state serves). Then a peer
// 1,000 keystrokes behind, with no snapshot in between, resumes from its file store: bytes against the
// delta's data. SQLite rows written and read for each step.
import type { Bench, SqlCost } from "../bench.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import { median } from "../stats.ts";
import { createIdentity, exportIdentity } from "../../client/index.ts";
import { sleep, wallClock } from "../workload.ts";
import type { DocId } from "../../protocol/index.ts";

const KEYSTROKES = 100_000;
const BEHIND = 1_000;
const GROUP = "bench-long-doc";
const MERGED_GROUP = "bench-long-doc-merged";

type Loaded = { ms: number; bytesReceived: number; transactions: number; snapshot: boolean; cpuMs: number };
type Resumed = { ms: number; fromStore: number; count: number; bytesReceived: number };

export const longDoc: Scenario = {
  name: "long_doc",
  budgetMs: 300_000,
  async run(bench: Bench) {
    const writer = bench.spawn("long-doc");
    const loader = bench.spawn("long-doc");
    const reader = bench.spawn("reader");
    try {
      const typingSql = await bench.sqlMeter(GROUP);
      const typed = await writer.call<{ doc: DocId; ms: number; logBytes: number; stateBytes: number; textLength: number }>(
        "typeNew",
        { url: bench.url, group: GROUP, count: KEYSTROKES },
        240_000,
      );
      const typing = await typingSql.stop();
      const { doc: merged } = await writer.call<{ doc: DocId }>("mergedCopy", { group: MERGED_GROUP });
      let textLength = typed.textLength;

      const load = async (group: string, doc: DocId): Promise<Loaded & { sql: SqlCost }> => {
        const sqlMeter = await bench.sqlMeter(group);
        const loaded = await loader.call<Loaded>("coldLoad", { url: bench.url, group, doc, textLength }, 90_000);
        return { ...loaded, sql: await sqlMeter.stop() };
      };
      // The loader process loads once untimed, so the figures are not V8 compiling the SDK and Yjs.
      await load(MERGED_GROUP, merged);
      const runs = (count: number, measure: () => Promise<Loaded & { sql: SqlCost }>) => {
        const since = wallClock();
        return (async () => {
          const results: (Loaded & { sql: SqlCost })[] = [];
          for (let run = 0; run < count && bench.moreRuns(run, since); run++) results.push(await measure());
          return results;
        })();
      };
      const baseline = await runs(3, () => load(MERGED_GROUP, merged));
      const before = await runs(1, () => load(GROUP, typed.doc));

      const snapshotSql = await bench.sqlMeter(GROUP);
      const snapshot = await writer.call<{ ms: number; bytes: number }>("snapshot", {}, 60_000);
      // Pruning runs in the relay's alarm, in slices, right after the snapshot (retention 0 in the bench).
      await sleep(3_000);
      const compaction = await snapshotSql.stop();
      const after = await runs(3, () => load(GROUP, typed.doc));

      // A peer in sync (file store) drops; 1,000 more keystrokes; it resumes. No snapshot in between.
      const identity = { secret: exportIdentity(createIdentity()), storeDir: bench.tempDir("weft-bench-long-doc-") };
      const expect = KEYSTROKES + 0;
      const knownBefore = await reader.call<{ count: number }>("prepareResume", { url: bench.url, group: GROUP, doc: typed.doc, ...identity, expect }, 60_000);
      const more = await writer.call<{ deltaBytes: number; textLength: number }>("typeMore", { count: BEHIND }, 60_000);
      textLength = more.textLength;
      const resumeSql = await bench.sqlMeter(GROUP);
      const resumed = await reader.call<Resumed>("resume", { url: bench.url, group: GROUP, doc: typed.doc, ...identity, expect: knownBefore.count + BEHIND }, 60_000);
      const resumeCost = await resumeSql.stop();

      const ratio = (loads: Loaded[], pick: (l: Loaded) => number) => loads.map((l) => pick(l) / median(baseline.map(pick)));
      return {
        figures: [
          figure("merged_ms", "baseline: the merged state as one update, loaded", "ms", baseline.map((l) => l.ms)),
          figure("merged_bytes", "baseline: bytes received", "B", baseline.map((l) => l.bytesReceived)),
          figure("before_ms", `before compaction: ${KEYSTROKES.toLocaleString("en")} tx loaded`, "ms", before.map((l) => l.ms)),
          figure("before_bytes", "before compaction: bytes received", "B", before.map((l) => l.bytesReceived)),
          figure("before_ms_ratio", "before compaction: time / baseline", "x", ratio(before, (l) => l.ms)),
          figure("after_ms", "after snapshot + prune: loaded", "ms", after.map((l) => l.ms)),
          figure("after_bytes", "after snapshot + prune: bytes received", "B", after.map((l) => l.bytesReceived)),
          figure("after_ms_ratio", "after compaction: time / baseline", "x", ratio(after, (l) => l.ms), { target: { op: "<=", value: 1.5 } }),
          figure("after_bytes_ratio", "after compaction: bytes / baseline", "x", ratio(after, (l) => l.bytesReceived), { target: { op: "<=", value: 1.5 }, summary: "worst" }),
          figure("after_transactions", "after compaction: transactions received", "tx", after.map((l) => l.transactions)),
          figure("resume_bytes", `resume ${BEHIND.toLocaleString("en")} behind: bytes (delta data ${more.deltaBytes.toLocaleString("en")} B)`, "B", [resumed.bytesReceived], {
            target: { op: "<=", value: more.deltaBytes + 2_048 },
            summary: "worst",
          }),
          figure("resume_ms", `resume ${BEHIND.toLocaleString("en")} behind: live with all`, "ms", [resumed.ms]),
          ...sqlFigures("typing", `typing ${KEYSTROKES.toLocaleString("en")} tx`, [typing]),
          ...sqlFigures("load_before", "one load before compaction", before.map((l) => l.sql)),
          ...sqlFigures("compaction", "snapshot + prune", [compaction]),
          ...sqlFigures("load_after", "one load after compaction", after.map((l) => l.sql)),
          ...sqlFigures("resume", "one resume", [resumeCost]),
        ],
        details: { keystrokes: KEYSTROKES, typingMs: typed.ms, logBytes: typed.logBytes, stateBytes: typed.stateBytes, snapshot, baseline, before, after, resumed, deltaBytes: more.deltaBytes },
      };
    } finally {
      await writer.call("close", {}).catch(() => {});
      await bench.stopWorkers([writer, loader, reader]);
    }
  },
};
