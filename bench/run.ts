// `npm run bench`: starts the real relay (wrangler dev on 127.0.0.1, fresh storage), drives it with the
// SDK from worker processes, prints a table of every figure against its target, and writes
// bench/results/latest.json and bench/results/fanout-latency.svg.
// Options: --only ingest,resume   --runs N
//          --relay wrangler|wrangler-defaults|miniflare  the relay under `wrangler dev` with its local trace
//                        collector off (default, X_LOCAL_OBSERVABILITY=false), under `wrangler dev` as it comes
//                        (collector on), or on Miniflare's Node API without the dev proxy (scripts/local-relay.ts);
//                        the floor runs as the relay does (its own wrangler dev, or Miniflare)
//          --cpu-prof    V8 profiles of the worker processes (the SDK side) in bench/results/*.cpuprofile
//          --relay-prof  a V8 profile of the relay's workerd per scenario, through wrangler's inspector port
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { Bench, RUNNER_NAMES, type RelayRunner } from "./bench.ts";
import { fanoutLatencyChart } from "./chart.ts";
import { profileRelay, topFunctions } from "./relay-inspector.ts";
import { machineCpu } from "./proc-stats.ts";
import type { Figure, Scenario, ScenarioReport } from "./scenario.ts";
import { coldLoad } from "./scenarios/cold-load.ts";
import { durability } from "./scenarios/durability.ts";
import { fanoutBurst } from "./scenarios/fanout-burst.ts";
import { fanout, type LatencySeries } from "./scenarios/fanout.ts";
import { fanoutWide } from "./scenarios/fanout-wide.ts";
import { floor } from "./scenarios/floor.ts";
import { ingest } from "./scenarios/ingest.ts";
import { manyDocs } from "./scenarios/many-docs.ts";
import { resume } from "./scenarios/resume.ts";
import { yjsTyping } from "./scenarios/yjs-typing.ts";
import { longDoc } from "./scenarios/long-doc.ts";
import { round } from "./stats.ts";
import { formatTable } from "./table.ts";
import { wallClock } from "./workload.ts";

const SCENARIOS: Scenario[] = [ingest, fanout, fanoutBurst, fanoutWide, coldLoad, resume, manyDocs, durability, floor, yjsTyping, longDoc];
const RESULTS = fileURLToPath(new URL("./results/", import.meta.url));
/** The whole run aims to end within this; scenarios repeat runs only while it allows (see Bench.moreRuns). */
const TOTAL_BUDGET_MS = 270_000;

type Options = { only: string[]; runs: number; cpuProf: boolean; relayProf: boolean; relay: RelayRunner };

function parseArgs(argv: string[]): Options {
  let only = SCENARIOS.map((scenario) => scenario.name);
  let runs = 3;
  let cpuProf = false;
  let relayProf = false;
  let relay: Options["relay"] = "wrangler";
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--only") only = value().split(",").map((name) => name.trim()).filter(Boolean);
    else if (flag === "--runs") runs = Number(value());
    else if (flag === "--cpu-prof") cpuProf = true;
    else if (flag === "--relay-prof") relayProf = true;
    else if (flag === "--relay") {
      const runner = value();
      if (!(runner in RUNNER_NAMES)) throw new Error(`--relay takes ${Object.keys(RUNNER_NAMES).join(", ")}`);
      relay = runner as RelayRunner;
    }
    else if (flag === "--help" || flag === "-h") {
      console.log(`usage: npm run bench -- [--only ${SCENARIOS.map((s) => s.name).join(",")}] [--runs N] [--relay wrangler|wrangler-defaults|miniflare] [--cpu-prof] [--relay-prof]`);
      process.exit(0);
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  const unknown = only.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error("--runs takes a whole number from 1 to 20");
  if (relayProf && relay === "miniflare") throw new Error("--relay-prof profiles through wrangler's inspector: use it with --relay wrangler or wrangler-defaults");
  return { only, runs, cpuProf, relayProf, relay };
}

function gitRevision(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${head} (uncommitted changes)` : head;
  } catch {
    return "unknown";
  }
}

function withBudget<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} exceeded its budget of ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  mkdirSync(RESULTS, { recursive: true });
  const machine = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    loadAverageAtStart: loadavg().map((value) => Number(value.toFixed(2))),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    revision: gitRevision(),
  };
  console.log(`weft bench: ${options.only.join(", ")}; ${options.runs} run(s) each`);
  console.log(`machine: ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB, load ${machine.loadAverageAtStart.join(" ")}, Node ${machine.node}, ${machine.revision}`);

  const bench = new Bench({ runs: options.runs, totalBudgetMs: TOTAL_BUDGET_MS, relayRunner: options.relay, relayProfiled: options.relayProf, ...(options.cpuProf ? { cpuProfileDir: RESULTS } : {}) });
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the relay and every worker process`);
    bench.killEverythingNow();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);
  process.once("exit", () => bench.killEverythingNow());

  const startedAt = new Date().toISOString();
  const started = wallClock();
  const reports: Record<string, ScenarioReport | { error: string }> = {};
  try {
    const relayStart = await bench.startRelay();
    console.log(`relay: ${bench.url} (${RUNNER_NAMES[options.relay]} ready in ${Math.round(relayStart.ms)} ms)`);
    for (const scenario of SCENARIOS.filter((s) => options.only.includes(s.name))) {
      const t0 = wallClock();
      const cpuBefore = machineCpu();
      const rebuildsBefore = bench.relayRebuilds;
      process.stdout.write(`- ${scenario.name} ... `);
      try {
        const profile = options.relayProf ? await profileRelay(bench.persistTo) : undefined;
        const report = await withBudget(scenario.run(bench), scenario.budgetMs, scenario.name);
        const cpuAfter = machineCpu();
        // How busy the whole machine was (our processes and anyone else's): figures from a saturated
        // machine say more about the machine than about Weft.
        const machineBusy = {
          percentOfAllCores: round((100 * (cpuAfter.busyMs - cpuBefore.busyMs)) / Math.max(1, cpuAfter.totalMs - cpuBefore.totalMs), 1),
          loadAverage: loadavg().map((value) => round(value, 2)),
        };
        report.details.machineBusy = machineBusy;
        const rebuilt = bench.relayRebuilds - rebuildsBefore;
        report.details.relayRebuiltDuringMeasurement = rebuilt;
        if (profile) {
          // A scenario that restarts the relay ends the profiled instance: there is no profile to fetch then.
          const file = `${RESULTS}relay-${scenario.name}.cpuprofile`;
          try {
            const taken = await profile.stop();
            writeFileSync(file, JSON.stringify(taken));
            report.details.relayProfile = { file, top: topFunctions(taken, 20) };
          } catch (error) {
            report.details.relayProfile = { error: (error as Error).message };
          }
        }
        reports[scenario.name] = report;
        const note = rebuilt > 0 ? "; wrangler dev rebuilt the relay during a measurement: suspect" : "";
        console.log(`${((wallClock() - t0) / 1000).toFixed(1)} s (machine ${machineBusy.percentOfAllCores}% busy, load ${machineBusy.loadAverage[0]}${note})`);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        reports[scenario.name] = { error: message };
        console.log(`failed after ${((wallClock() - t0) / 1000).toFixed(1)} s\n${message}`);
        // Leave nothing of a failed scenario behind, and a relay that answers for the next one.
        await bench.stopWorkers();
        if (!(await bench.relayHealthy())) {
          await bench.stopRelay("kill");
          await bench.startRelay();
        }
      }
    }
  } finally {
    await bench.close();
  }
  const durationMs = wallClock() - started;

  console.log("");
  console.log(formatTable(reports));
  console.log(`\nrelay: ${RUNNER_NAMES[options.relay]}`);
  console.log(`whole run: ${(durationMs / 1000).toFixed(1)} s`);
  if (bench.relayRebuilds > 0) {
    console.log(`note: wrangler dev rebuilt the relay ${bench.relayRebuilds} time(s) during a measurement (someone edited its sources); figures around it are suspect`);
  }

  const scenarios = Object.fromEntries(
    Object.entries(reports).map(([name, report]) => [
      name,
      "error" in report
        ? report
        : { figures: Object.fromEntries(report.figures.map((f: Figure) => [f.key, { ...f, key: undefined }])), details: report.details },
    ]),
  );
  const json = { startedAt, durationMs: Math.round(durationMs), options, relay: RUNNER_NAMES[options.relay], machine, relayRebuildsDuringMeasurements: bench.relayRebuilds, relayStartRetries: bench.relayStartRetries, scenarios };
  writeFileSync(`${RESULTS}latest.json`, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`wrote ${RESULTS}latest.json`);

  const fanoutReport = reports.fanout;
  if (fanoutReport && !("error" in fanoutReport)) {
    const svg = fanoutLatencyChart(fanoutReport.details.series as LatencySeries[], {
      targetMs: 25,
      title: "Weft fanout: delivery latency by percentile",
      subtitle: `500 tx/s for 4 s; relay under ${RUNNER_NAMES[options.relay]}; ${machine.cores} x ${machine.cpu}; ${startedAt.slice(0, 16)}Z`,
    });
    writeFileSync(`${RESULTS}fanout-latency.svg`, svg);
    console.log(`wrote ${RESULTS}fanout-latency.svg`);
  }
  return Object.values(reports).some((report) => "error" in report) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
