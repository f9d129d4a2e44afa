// resume: a subscriber in sync closes its client; 100 transactions are written; a new client with the
// same identity and the same file store reconnects. Time until it is live with all of them, and bytes
// received against the data bytes of the delta. The reader process resumes once untimed first, so the
// figures are not V8 compiling the SDK's resume path for the first time (as in cold_load). Each run
// resumes RESUMES_PER_RUN times: one resume takes a few milliseconds and swings by as many from one to
// the next on these machines, so a figure is the median of them all (the floor's, of 15 rounds).
import { createIdentity, exportIdentity } from "../../client/index.ts";
import type { Bench } from "../bench.ts";
import { wallClock } from "../workload.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import type { SqlCost } from "../bench.ts";
import type { DocId } from "../../protocol/index.ts";

const BASE = 2_000;
const DELTA = 100;
const BYTES = 100;
const GROUP = "bench-resume";
const RESUMES_PER_RUN = 5;

type Resumed = { ms: number; openedMs: number; fromStore: number; count: number; bytesReceived: number; phases: Record<string, number | undefined> };
type Probe = { healthMs: number; openMs: number; firstFrameMs: number };

export const resume: Scenario = {
  name: "resume",
  budgetMs: 60_000,
  async run(bench: Bench) {
    const writer = bench.spawn("writer");
    const reader = bench.spawn("reader");
    try {
      await writer.call("connect", { url: bench.url, group: GROUP });
      const { doc } = await writer.call<{ doc: DocId }>("create");
      await writer.call("fill", { count: BASE, bytes: BYTES }, 30_000);
      let total = BASE;
      const results: Resumed[] = [];
      const probes: Probe[] = [];
      const sql: SqlCost[] = [];
      const since = wallClock();
      for (let run = -1; run < 0 || bench.moreRuns(run, since); run++) {
        for (let resumes = run < 0 ? 1 : RESUMES_PER_RUN; resumes > 0; resumes--) {
          const identity = { secret: exportIdentity(createIdentity()), storeDir: bench.tempDir("weft-bench-store-") };
          await reader.call("prepareResume", { url: bench.url, group: GROUP, doc, ...identity, expect: total });
          await writer.call("fill", { count: DELTA, bytes: BYTES }, 30_000);
          total += DELTA;
          // The same connection without the SDK, just before: what opening a socket costs here.
          const probe = await reader.call<Probe>("probe", { url: bench.url });
          const sqlMeter = await bench.sqlMeter(GROUP);
          const resumed = await reader.call<Resumed>("resume", { url: bench.url, group: GROUP, doc, ...identity, expect: total });
          if (resumed.fromStore !== total - DELTA) throw new Error(`the store gave back ${resumed.fromStore} transactions, expected ${total - DELTA}`);
          const cost = await sqlMeter.stop();
          if (run >= 0) {
            results.push(resumed);
            sql.push(cost);
            probes.push(probe);
          }
        }
      }
      const deltaBytes = DELTA * BYTES;
      return {
        figures: [
          figure("ms", `live again with the ${DELTA} new tx`, "ms", results.map((r) => r.ms), { target: { op: "<=", value: 6 } }),
          figure("socket_open_ms", "SDK: socket open (status authenticating)", "ms", results.map((r) => r.phases.authenticating ?? Number.NaN)),
          figure("after_open_ms", "SDK: live with them after the socket opened", "ms", results.map((r) => r.ms - (r.phases.authenticating ?? Number.NaN))),
          figure("baseline_socket_ms", "baseline, no SDK: bare WebSocket to first frame", "ms", probes.map((p) => p.firstFrameMs)),
          figure("bytes_received", `bytes received (delta data ${deltaBytes.toLocaleString("en")} B)`, "B", results.map((r) => r.bytesReceived), {
            target: { op: "<=", value: deltaBytes + 2_048 },
            summary: "worst",
          }),
          ...sqlFigures("resume", "one resume", sql),
        ],
        details: { sql, probes, resumesPerRun: RESUMES_PER_RUN, base: BASE, delta: DELTA, bytesPerTransaction: BYTES, deltaBytes, results },
      };
    } finally {
      await bench.stopWorkers([writer, reader]);
    }
  },
};
