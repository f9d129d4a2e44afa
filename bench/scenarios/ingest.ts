// ingest: one writer appends 20,000 transactions of 100 bytes to one document as fast as the SDK takes
// them; throughput is counted from the first append until the relay has acknowledged the last one.
import type { Bench } from "../bench.ts";
import { wallClock } from "../workload.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import type { SqlCost } from "../bench.ts";

const TRANSACTIONS = 20_000;
const BYTES = 100;

type Fill = { appendMs: number; totalMs: number; cpuMs: number };

export const ingest: Scenario = {
  name: "ingest",
  budgetMs: 60_000,
  async run(bench: Bench) {
    const writer = bench.spawn("writer");
    try {
      await writer.call("connect", { url: bench.url, group: "bench-ingest" });
      const throughput: number[] = [];
      const appendMs: number[] = [];
      const writerCpuMs: number[] = [];
      const relayCpuMs: number[] = [];
      const totalMs: number[] = [];
      const sql: SqlCost[] = [];
      const since = wallClock();
      for (let run = 0; bench.moreRuns(run, since); run++) {
        await writer.call("create");
        const relayMeter = bench.relayCpuMeter();
        const sqlMeter = await bench.sqlMeter("bench-ingest");
        const fill = await writer.call<Fill>("fill", { count: TRANSACTIONS, bytes: BYTES }, 40_000);
        relayCpuMs.push(relayMeter.stop().cpuMs);
        sql.push(await sqlMeter.stop());
        throughput.push(TRANSACTIONS / (fill.totalMs / 1000));
        appendMs.push(fill.appendMs);
        totalMs.push(fill.totalMs);
        writerCpuMs.push(fill.cpuMs);
      }
      return {
        figures: [
          figure("throughput", `${TRANSACTIONS.toLocaleString("en")} tx acked`, "tx/s", throughput, { target: { op: ">=", value: 20_000 } }),
          figure("total_ms", "first append to last ack", "ms", totalMs),
          figure("append_ms", "of which appending (client)", "ms", appendMs),
          figure("writer_cpu_ms", "writer process CPU", "ms", writerCpuMs),
          figure("relay_cpu_ms", "relay processes CPU", "ms", relayCpuMs),
          ...sqlFigures("per_1000_tx", "per 1,000 tx", sql, { per: TRANSACTIONS / 1_000, written: { op: "<=", value: 100 } }),
        ],
        details: { transactions: TRANSACTIONS, bytesPerTransaction: BYTES },
      };
    } finally {
      await bench.stopWorkers([writer]);
    }
  },
};
