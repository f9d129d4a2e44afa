// floor: the same round trips and fan-out against a relay that does nothing (bench/floor/worker.ts), run
// as the relay runs (its own wrangler dev, or Miniflare with --relay miniflare) on this machine. Not a Weft
// figure: the part of every Weft figure that is wrangler dev or Miniflare, workerd and Node's WebSocket,
// so the table can say how much of a miss is Weft's.
import type { Bench } from "../bench.ts";
import type { WorkerProcess } from "../ipc.ts";
import { figure, type Figure, type Scenario } from "../scenario.ts";
import { summarizeLatencies } from "../stats.ts";
import { sleep, wallClock } from "../workload.ts";

const RESUME_ROUNDS = 15;
/** The bytes of cold_load's 10,000 transactions (1.13 MB) in frames of the relay's chunk size. */
const BULK = { rounds: 5, frames: 5, bytes: 226_000 };
/**
 * About what the fanout scenario's writer sends at 500 tx/s once the SDK has paced them: 100 frames a
 * second of 5 transactions each (see its "frames each receives per second").
 */
const FRAMES_PER_SECOND = 100;
const DURATION_MS = 4_000;
const FRAME_BYTES = 800;
const SOCKETS = [10, 50];
const SOCKETS_PER_PROCESS = 10;
/** About as many frames as many_docs sends the relay (1,000 documents created, then 1,000 loads). */
const EVENTS = { count: 2_000, bytes: 700 };

type Listened = { latencies: number[]; missing: number; cpuMs: number };

export const floor: Scenario = {
  name: "floor",
  budgetMs: 90_000,
  async run(bench: Bench) {
    const floorRelay = await bench.startFloor();
    const workers: WorkerProcess[] = [];
    const spawn = () => {
      const worker = bench.spawn("floor");
      workers.push(worker);
      return worker;
    };
    try {
      const figures: Figure[] = [];
      const resumeMs = await spawn().call<number[]>("resume", { url: floorRelay.url, rounds: RESUME_ROUNDS });
      figures.push(figure("resume_ms", "open, hello + load, known (a resume's round trips)", "ms", resumeMs));
      const bulkMs = await spawn().call<number[]>("bulk", { url: floorRelay.url, rounds: BULK.rounds, frames: BULK.frames, bytes: BULK.bytes });
      figures.push(figure("cold_load_ms", `open, hello, ${BULK.frames} canned frames of ${BULK.bytes / 1000} kB (a cold load's bytes)`, "ms", bulkMs));

      const rssBefore = floorRelay.rssKiB();
      const events = await spawn().call<{ ms: number }>("events", { url: floorRelay.url, ...EVENTS }, 60_000);
      await sleep(200);
      const rssGrowthMiB = (floorRelay.rssKiB() - rssBefore) / 1024;
      figures.push(figure("rss_growth_mib", `relay resident memory growth over ${EVENTS.count.toLocaleString("en")} answered frames`, "MiB", [rssGrowthMiB]));

      const fan: Record<string, unknown> = {};
      for (const sockets of SOCKETS) {
        const listeners = Array.from({ length: Math.ceil(sockets / SOCKETS_PER_PROCESS) }, spawn);
        const sender = spawn();
        await Promise.all(listeners.map((worker) => worker.call("listen", { url: floorRelay.url, sockets: SOCKETS_PER_PROCESS })));
        await sleep(200);
        const frames = (FRAMES_PER_SECOND * DURATION_MS) / 1000;
        const cpuBefore = floorRelay.cpuMs();
        const t0 = wallClock();
        await sender.call("send", { url: floorRelay.url, frames, perSecond: FRAMES_PER_SECOND, bytes: FRAME_BYTES }, DURATION_MS + 10_000);
        const parts = await Promise.all(listeners.map((worker) => worker.call<Listened>("collect", { expect: frames, timeoutMs: 10_000 }, 20_000)));
        const windowMs = wallClock() - t0;
        const cpuPercent = (100 * (floorRelay.cpuMs() - cpuBefore)) / windowMs;
        const latency = summarizeLatencies(parts.flatMap((part) => part.latencies));
        const missing = parts.reduce((sum, part) => sum + part.missing, 0);
        const label = `${FRAMES_PER_SECOND} frames/s to ${sockets} sockets`;
        figures.push(
          figure(`fan_p50_ms_${sockets}`, `${label}: p50`, "ms", [latency.p50]),
          figure(`fan_p99_ms_${sockets}`, `${label}: p99`, "ms", [latency.p99]),
          figure(`fan_cpu_pct_${sockets}`, `${label}: relay CPU`, "% of 1 core", [cpuPercent]),
        );
        fan[sockets] = { ...latency, missing, cpuPercent, windowMs };
        await bench.stopWorkers([...listeners, sender]);
      }
      return { figures, details: { resumeMs, bulkMs, bulk: BULK, events: { ...EVENTS, ...events, rssGrowthMiB }, framesPerSecond: FRAMES_PER_SECOND, durationMs: DURATION_MS, frameBytes: FRAME_BYTES, fan } };
    } finally {
      await bench.stopWorkers(workers);
      await bench.stopFloor();
    }
  },
};
