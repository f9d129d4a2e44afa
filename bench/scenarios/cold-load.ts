// cold_load: a document of 10,000 transactions (100 bytes each) is opened by a fresh client in a fresh
// process: time until it holds everything, and bytes over the socket against the bytes of the data.
// First with the relay warm, then right after a relay restart (graceful stop, same storage and port). With
// the relay warm, the document's first fresh client is reported apart: the relay keeps what it sent it for
// the fresh clients after it (worker/core/load-cache.ts), and a restart starts it empty again.
// Each reader process first loads a small document of another group, so the figure is the relay and the
// SDK loading 10,000 transactions, not V8 compiling the SDK in a process that has never run it.
import type { Bench } from "../bench.ts";
import { wallClock } from "../workload.ts";
import { figure, sqlFigures, type Scenario } from "../scenario.ts";
import type { SqlCost } from "../bench.ts";
import type { DocId } from "../../protocol/index.ts";

const TRANSACTIONS = 10_000;
const BYTES = 100;
const GROUP = "bench-cold-load";
const WARM_UP = { group: "bench-cold-load-warm-up", transactions: 1_000 };

type Opened = { ms: number; openMs: number; bytesReceived: number; count: number; dataBytes: number; cpuMs: number; phases: Record<string, number | undefined> };
type Probe = { healthMs: number; openMs: number; firstFrameMs: number };
type Measured = Opened & { restartMs: number; relayCpuMs: number; probe: Probe; sql: SqlCost };

export const coldLoad: Scenario = {
  name: "cold_load",
  budgetMs: 90_000,
  async run(bench: Bench) {
    const writer = bench.spawn("writer");
    const warmUpWriter = bench.spawn("writer");
    let doc: DocId;
    let warmUpDoc: DocId;
    try {
      await writer.call("connect", { url: bench.url, group: GROUP });
      doc = (await writer.call<{ doc: DocId }>("create")).doc;
      await writer.call("fill", { count: TRANSACTIONS, bytes: BYTES }, 30_000);
      await warmUpWriter.call("connect", { url: bench.url, group: WARM_UP.group });
      warmUpDoc = (await warmUpWriter.call<{ doc: DocId }>("create")).doc;
      await warmUpWriter.call("fill", { count: WARM_UP.transactions, bytes: BYTES }, 30_000);
    } finally {
      await bench.stopWorkers([writer, warmUpWriter]);
    }

    const open = async (restart: boolean): Promise<Measured> => {
      const reader = bench.spawn("reader");
      try {
        await reader.call("warmUp", { url: bench.url, group: WARM_UP.group, doc: warmUpDoc, expect: WARM_UP.transactions });
        const probe = await reader.call<Probe>("probe", { url: bench.url });
        let restartMs = Number.NaN;
        if (restart) {
          await bench.stopRelay("stop");
          restartMs = (await bench.startRelay()).ms;
        }
        const relayMeter = bench.relayCpuMeter();
        const sqlMeter = await bench.sqlMeter(GROUP);
        const opened = await reader.call<Opened>("coldOpen", { url: bench.url, group: GROUP, doc, expect: TRANSACTIONS }, 30_000);
        const relayCpuMs = relayMeter.stop().cpuMs;
        const sql = await sqlMeter.stop();
        if (opened.count < TRANSACTIONS) throw new Error(`cold open got ${opened.count} of ${TRANSACTIONS} transactions`);
        return { ...opened, restartMs, relayCpuMs, probe, sql };
      } finally {
        await bench.stopWorkers([reader]);
      }
    };

    // The document's first fresh client: the relay reads and packs its answer, and keeps it for the next
    // fresh clients (worker/core/load-cache.ts), which the warm runs measure.
    const first = await open(false);
    const warm: Measured[] = [];
    const warmSince = wallClock();
    for (let run = 0; bench.moreRuns(run, warmSince); run++) warm.push(await open(false));
    const restarted: Measured[] = [];
    const restartSince = wallClock();
    for (let run = 0; bench.moreRuns(run, restartSince); run++) restarted.push(await open(true));
    const ratio = (o: Opened) => o.bytesReceived / o.dataBytes;

    return {
      figures: [
        figure("warm_ms", "relay warm: all 10,000 held", "ms", warm.map((o) => o.ms), { target: { op: "<=", value: 40 } }),
        figure("first_ms", "relay warm, the document's first fresh client: all held", "ms", [first.ms]),
        figure("restart_ms", "after relay restart: all held", "ms", restarted.map((o) => o.ms), { target: { op: "<=", value: 150 } }),
        figure("bytes_ratio", "bytes received / data bytes", "x", [...warm, ...restarted].map(ratio), { target: { op: "<=", value: 1.5 }, summary: "worst" }),
        figure("bytes_received", "bytes received (warm)", "B", warm.map((o) => o.bytesReceived)),
        figure("socket_open_ms", "SDK: socket open (status authenticating)", "ms", warm.map((o) => o.phases.authenticating ?? Number.NaN)),
        figure("handshake_ms", "SDK: handshake done (status syncing)", "ms", warm.map((o) => o.phases.syncing ?? Number.NaN)),
        figure("baseline_socket_ms", "baseline, no SDK: bare WebSocket to first frame", "ms", warm.map((o) => o.probe.firstFrameMs)),
        figure("baseline_http_ms", "baseline, no SDK: HTTP health round trip", "ms", warm.map((o) => o.probe.healthMs)),
        figure("reader_cpu_ms", "reader process CPU (warm)", "ms", warm.map((o) => o.cpuMs)),
        figure("relay_cpu_ms", "relay processes CPU (warm)", "ms", warm.map((o) => o.relayCpuMs)),
        figure("relay_cpu_restart_ms", "relay processes CPU (after restart)", "ms", restarted.map((o) => o.relayCpuMs)),
        ...sqlFigures("warm", "relay warm", warm.map((o) => o.sql), { read: { op: "<=", value: 100 } }),
        ...sqlFigures("first", "first fresh client", [first.sql], { read: { op: "<=", value: 100 } }),
        ...sqlFigures("restart", "after restart", restarted.map((o) => o.sql)),
        figure("relay_start_ms", "relay restart (wrangler dev ready)", "ms", restarted.map((o) => o.restartMs)),
      ],
      details: { transactions: TRANSACTIONS, bytesPerTransaction: BYTES, dataBytes: warm[0]?.dataBytes, first, warm, restarted },
    };
  },
};
