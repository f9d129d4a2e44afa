// fanout_burst: one writer appends 2,000 transactions at full speed while 50 subscribers listen; the
// figure is the time from the first append until the last subscriber holds all 2,000.
import type { Bench } from "../bench.ts";
import { wallClock } from "../workload.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import type { SqlCost } from "../bench.ts";
import { SubscriberPool } from "./subscribers.ts";
import type { DocId } from "../../protocol/index.ts";

const TRANSACTIONS = 2_000;
const SUBSCRIBERS = 50;
const BYTES = 100;

type Fill = { t0: number; appendMs: number; totalMs: number };

export const fanoutBurst: Scenario = {
  name: "fanout_burst",
  budgetMs: 60_000,
  async run(bench: Bench) {
    const writer = bench.spawn("writer");
    const pool = new SubscriberPool(bench, SUBSCRIBERS);
    try {
      const group = "bench-fanout-burst";
      await writer.call("connect", { url: bench.url, group });
      const allMs: number[] = [];
      const firstMs: number[] = [];
      const ackedMs: number[] = [];
      const missing: number[] = [];
      const relayCpuMs: number[] = [];
      const sql: SqlCost[] = [];
      const since = wallClock();
      for (let run = 0; bench.moreRuns(run, since); run++) {
        const { doc } = await writer.call<{ doc: DocId }>("create");
        await pool.open(bench.url, group, doc, TRANSACTIONS);
        const relayMeter = bench.relayCpuMeter();
        const sqlMeter = await bench.sqlMeter(group);
        const fill = await writer.call<Fill>("fill", { count: TRANSACTIONS, bytes: BYTES }, 20_000);
        const collected = await pool.collect(10_000);
        relayCpuMs.push(relayMeter.stop().cpuMs);
        sql.push(await sqlMeter.stop());
        const done = collected.doneAt.filter((at): at is number => at !== null);
        allMs.push(done.length === SUBSCRIBERS ? Math.max(...done) - fill.t0 : Number.NaN);
        firstMs.push(done.length > 0 ? Math.min(...done) - fill.t0 : Number.NaN);
        ackedMs.push(fill.totalMs);
        missing.push(SUBSCRIBERS * TRANSACTIONS - collected.received.reduce((sum, count) => sum + count, 0));
        await pool.closeClients();
      }
      return {
        figures: [
          figure("all_delivered_ms", `all ${SUBSCRIBERS} hold ${TRANSACTIONS.toLocaleString("en")} tx`, "ms", allMs, { target: { op: "<=", value: 1_000 } }),
          figure("first_delivered_ms", "first subscriber complete", "ms", firstMs),
          figure("writer_acked_ms", "writer: last ack", "ms", ackedMs),
          figure("missing", "not delivered", "tx", missing, { target: { op: "<=", value: 0 }, summary: "worst" }),
          figure("relay_cpu_ms", "relay processes CPU", "ms", relayCpuMs),
          ...sqlFigures("burst", `${TRANSACTIONS.toLocaleString("en")} tx`, sql),
        ],
        details: { subscribers: SUBSCRIBERS, processes: pool.workers.length, transactions: TRANSACTIONS },
      };
    } finally {
      await bench.stopWorkers([writer, ...pool.workers]);
    }
  },
};
