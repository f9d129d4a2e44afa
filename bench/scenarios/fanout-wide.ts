// fanout_wide: one writer at a steady 50 transactions/s for 4 s to 1,000 subscribers of one document, the
// subscribers spread over a few processes. Each transaction carries its send time; every subscriber
// records arrival minus send time. What one write costs the relay when it reaches many sockets.
import type { Bench, SqlCost } from "../bench.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import { round, summarizeLatencies, type LatencySummary } from "../stats.ts";
import { wallClock } from "../workload.ts";
import { SubscriberPool } from "./subscribers.ts";
import type { DocId } from "../../protocol/index.ts";

const RATE = 50;
const DURATION_MS = 4_000;
const BYTES = 100;
const SUBSCRIBERS = 1_000;
/** 1,000 clients in 4 processes: each process holds 250 sockets. */
const CLIENTS_PER_PROCESS = 250;
const EXPECTED = (RATE * DURATION_MS) / 1000;
const ACK_WAIT_MS = 8_000;
const DELIVERY_WAIT_MS = 8_000;
const RUNS_WHILE_UNDER_MS = 40_000;

type Steady = { sent: number; sendMs: number; syncedMs: number | null; cpuMs: number };
type Run = LatencySummary & { missing: number; relayCpuMs: number; windowMs: number; subscriberCpuMs: number; openMs: number; sql: SqlCost };

export const fanoutWide: Scenario = {
  name: "fanout_wide",
  budgetMs: 180_000,
  async run(bench: Bench) {
    const writer = bench.spawn("writer");
    const pool = new SubscriberPool(bench, SUBSCRIBERS, CLIENTS_PER_PROCESS);
    try {
      const group = "bench-fanout-wide";
      await writer.call("connect", { url: bench.url, group });
      const runs: Run[] = [];
      const since = wallClock();
      for (let run = 0; bench.moreRuns(run, since, RUNS_WHILE_UNDER_MS); run++) {
        const { doc } = await writer.call<{ doc: DocId }>("create");
        const openStart = wallClock();
        await pool.open(bench.url, group, doc, EXPECTED);
        const openMs = wallClock() - openStart;
        const subscriberCpuBefore = (await pool.collect(0)).cpuMs;
        const relayMeter = bench.relayCpuMeter();
        const sqlMeter = await bench.sqlMeter(group);
        const windowStart = wallClock();
        await writer.call<Steady>("steady", { rate: RATE, durationMs: DURATION_MS, bytes: BYTES, ackTimeoutMs: ACK_WAIT_MS }, DURATION_MS + 20_000);
        const collected = await pool.collect(DELIVERY_WAIT_MS);
        const relayCpuMs = relayMeter.stop().cpuMs;
        const windowMs = wallClock() - windowStart;
        const sql = await sqlMeter.stop();
        runs.push({
          ...summarizeLatencies(collected.latencies),
          missing: SUBSCRIBERS * EXPECTED - collected.received.reduce((sum, count) => sum + count, 0),
          relayCpuMs,
          windowMs,
          subscriberCpuMs: collected.cpuMs - subscriberCpuBefore,
          openMs,
          sql,
        });
        await pool.closeClients();
      }
      return {
        figures: [
          figure("p50_ms", `${SUBSCRIBERS.toLocaleString("en")} subscribers: p50`, "ms", runs.map((r) => r.p50)),
          figure("p99_ms", `${SUBSCRIBERS.toLocaleString("en")} subscribers: p99`, "ms", runs.map((r) => r.p99)),
          figure("max_ms", "max", "ms", runs.map((r) => r.max)),
          figure("missing", "not delivered", "tx", runs.map((r) => r.missing), { target: { op: "<=", value: 0 }, summary: "worst" }),
          figure("relay_cpu_pct", "relay CPU", "% of 1 core", runs.map((r) => (100 * r.relayCpuMs) / r.windowMs)),
          figure("relay_cpu_ms_per_1000_tx", "relay CPU per 1,000 tx", "ms", runs.map((r) => r.relayCpuMs / (EXPECTED / 1_000))),
          figure("subscriber_cpu_pct", "subscriber processes CPU", "% of 1 core", runs.map((r) => (100 * r.subscriberCpuMs) / r.windowMs)),
          figure("open_ms", `${SUBSCRIBERS.toLocaleString("en")} clients connect and open the document`, "ms", runs.map((r) => r.openMs)),
          ...sqlFigures("per_1000_tx", "per 1,000 tx", runs.map((r) => r.sql), { per: EXPECTED / 1_000 }),
        ],
        details: {
          rate: RATE,
          durationMs: DURATION_MS,
          subscribers: SUBSCRIBERS,
          processes: pool.workers.length,
          runs: runs.map((run) => Object.fromEntries(Object.entries(run).map(([name, value]) => [name, typeof value === "number" ? round(value, 3) : value]))),
        },
      };
    } finally {
      await bench.stopWorkers([writer, ...pool.workers]);
    }
  },
};
