// The bench's shared state: the relay (restartable on the same storage and port), the worker processes
// and temp folders it created, and the cleanup that stops all of them however the run ends.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRelay, type RelayProcess } from "../test/support/relay-process.ts";
import { groupSqlStats } from "../test/support/sql-stats.ts";
import { WorkerProcess } from "./ipc.ts";
import { cpuBetween, processesChanged, relayProcessGroup, sampleProcessGroup, type TreeSample } from "./proc-stats.ts";
import { wallClock } from "./workload.ts";

const FLOOR_CONFIG = fileURLToPath(new URL("./floor/wrangler.toml", import.meta.url));
const FLOOR_MINIFLARE = fileURLToPath(new URL("./floor/serve-miniflare.ts", import.meta.url));

const SCRIPTS = {
  writer: fileURLToPath(new URL("./writer.ts", import.meta.url)),
  subscriber: fileURLToPath(new URL("./subscriber.ts", import.meta.url)),
  reader: fileURLToPath(new URL("./reader.ts", import.meta.url)),
  floor: fileURLToPath(new URL("./floor-client.ts", import.meta.url)),
  "yjs-editor": fileURLToPath(new URL("./yjs-editor.ts", import.meta.url)),
  "long-doc": fileURLToPath(new URL("./long-doc.ts", import.meta.url)),
};

export type WorkerKind = keyof typeof SCRIPTS;

export type BenchOptions = {
  runs: number;
  cpuProfileDir?: string;
  /** The whole run should end within this long; scenarios stop repeating runs when it runs short. */
  totalBudgetMs: number;
  /**
   * What runs the relay: `wrangler dev` with its local trace collector off (default), `wrangler dev` as it
   * comes (collector on: `wrangler-defaults`), or Miniflare without wrangler's dev proxy.
   */
  relayRunner?: RelayRunner;
  /**
   * The relay's inspector is taken by a profile (`--relay-prof`): a second session's commands go unanswered
   * until it ends, so scenarios leave out what they would ask it (heap sizes, collections).
   */
  relayProfiled?: boolean;
};

export type RelayRunner = "wrangler" | "wrangler-defaults" | "miniflare";

/** What each runner is, for the results. */
export const RUNNER_NAMES: Record<RelayRunner, string> = {
  wrangler: "wrangler dev, local trace collector off (X_LOCAL_OBSERVABILITY=false)",
  "wrangler-defaults": "wrangler dev with its defaults (local trace collector on)",
  miniflare: "Miniflare (no dev proxy, no trace collector)",
};

/** SQL work of one group's object over a measurement (worker/sql-meter.ts). */
export type SqlCost = { statements: number; rowsRead: number; rowsWritten: number };

/** The relay's settings for every bench run: count SQL statements and rows (worker/sql-meter.ts). */
// Snapshots' covered transactions are pruned at once (long_doc measures a compacted document).
const RELAY_VARS = { WEFT_SQL_STATS: "true", WEFT_SNAPSHOT_RETENTION_SECONDS: "0" };

/** Time kept back for the scenarios still to come when deciding whether to repeat a run. */
const RESERVE_MS = 45_000;

export class Bench {
  readonly options: BenchOptions;
  readonly persistTo: string;
  readonly #workers = new Set<WorkerProcess>();
  readonly #tempDirs: string[] = [];
  #relay: RelayProcess | undefined;
  #relayGroup: number | undefined;
  #floor: RelayProcess | undefined;
  #spawned = 0;

  readonly #startedAt = wallClock();

  constructor(options: BenchOptions) {
    this.options = options;
    this.persistTo = this.tempDir("weft-bench-relay-");
  }

  get runs(): number {
    return this.options.runs;
  }

  /**
   * Whether to do run number `run` (0-based) of something that started at `since`: the first always;
   * more up to `runs`, while these runs have taken less than `whileUnderMs` and the whole bench has
   * time left. Keeps the run bounded on a slow or busy machine, where each run takes longer.
   */
  moreRuns(run: number, since: number, whileUnderMs = Number.POSITIVE_INFINITY): boolean {
    if (run === 0) return true;
    if (run >= this.runs) return false;
    const elapsed = wallClock() - this.#startedAt;
    if (elapsed > this.options.totalBudgetMs - RESERVE_MS) return false;
    return wallClock() - since < whileUnderMs;
  }

  get relay(): RelayProcess {
    if (!this.#relay) throw new Error("the relay is not running");
    return this.#relay;
  }

  get url(): string {
    return this.relay.url;
  }

  /** Starts the relay on the bench's storage; on the same port as before if it ran already. */
  async startRelay(): Promise<{ ms: number }> {
    const t0 = wallClock();
    const port = this.#relay?.port;
    this.#relay = undefined;
    // wrangler dev now and then fails to bind one of its internal sockets ("Address already in use"),
    // more often while other relays start on the machine: try again before giving up.
    for (let attempt = 1; ; attempt++) {
      try {
        const runner = this.options.relayRunner ?? "wrangler";
        this.#relay = await startRelay({
          persistTo: this.persistTo,
          runner: runner === "miniflare" ? "miniflare" : "wrangler",
          vars: RELAY_VARS,
          // wrangler dev's local trace collector costs the relay CPU and memory production does not spend.
          ...(runner === "wrangler" ? { env: { X_LOCAL_OBSERVABILITY: "false" } } : {}),
          ...(port ? { port } : {}),
        });
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
        this.relayStartRetries++;
      }
    }
    this.#relayGroup = relayProcessGroup(this.persistTo);
    return { ms: wallClock() - t0 };
  }

  /** SIGKILL (a crash) or SIGTERM (a shutdown) to the relay and everything it started; resolves once gone. */
  async stopRelay(how: "kill" | "stop"): Promise<void> {
    const relay = this.#relay;
    if (!relay) return;
    await (how === "kill" ? relay.kill() : relay.stop());
    this.#relayGroup = undefined;
  }

  /** Is the relay answering? (A failed scenario may have left it down.) */
  async relayHealthy(): Promise<boolean> {
    if (!this.#relay) return false;
    try {
      return (await fetch(`${this.#relay.url}/v1/health`, { signal: AbortSignal.timeout(2_000) })).ok;
    } catch {
      return false;
    }
  }

  /** Resident memory and CPU time of every relay process (wrangler and workerd). */
  relaySample(): TreeSample {
    this.#relayGroup ??= relayProcessGroup(this.persistTo);
    if (this.#relayGroup === undefined) return { rssKiB: 0, cpuMs: 0, processes: [] };
    return sampleProcessGroup(this.#relayGroup);
  }

  /** Starts measuring the relay's CPU time; `stop()` gives the CPU used and whether the relay was rebuilt meanwhile. */
  relayCpuMeter(): { stop(): { cpuMs: number; rebuilt: boolean; byProcess: { pid: number; name: string; cpuMs: number }[] } } {
    const before = this.relaySample();
    return {
      stop: () => {
        const after = this.relaySample();
        const rebuilt = processesChanged(before, after);
        if (rebuilt) this.relayRebuilds++;
        // Which of the relay's processes spent it (wrangler's Node process, the workerd running the Worker).
        const byProcess = after.processes.map(({ pid, name, cpuMs }) => ({ pid, name, cpuMs: cpuMs - (before.processes.find((p) => p.pid === pid)?.cpuMs ?? 0) }));
        return { cpuMs: cpuBetween(before, after), rebuilt, byProcess };
      },
    };
  }

  /**
   * Starts counting one group's SQL statements and rows; `stop()` gives those of the measurement. If the
   * object was rebuilt meanwhile (a relay restart, an eviction), the new instance counted from zero.
   */
  async sqlMeter(group: string): Promise<{ stop(): Promise<SqlCost> }> {
    const read = () => groupSqlStats(this.url, group);
    const before = await read();
    return {
      stop: async () => {
        const after = await read();
        const base = after.instance === before.instance ? before : { statements: 0, rowsRead: 0, rowsWritten: 0 };
        return { statements: after.statements - base.statements, rowsRead: after.rowsRead - base.rowsRead, rowsWritten: after.rowsWritten - base.rowsWritten };
      },
    };
  }

  /** A group's SQL statements and rows since its object was last started in memory. */
  async sqlSinceStart(group: string): Promise<SqlCost> {
    const { statements, rowsRead, rowsWritten } = await groupSqlStats(this.url, group);
    return { statements, rowsRead, rowsWritten };
  }

  /**
   * Starts the floor (bench/floor/worker.ts) as the relay runs: under its own wrangler dev, or on Miniflare
   * with `--relay miniflare`; `stopFloor` or `close` stops it.
   */
  async startFloor(): Promise<RelayProcess & { cpuMs(): number; rssKiB(): number }> {
    const persistTo = this.tempDir("weft-bench-floor-");
    const runner = this.options.relayRunner ?? "wrangler";
    this.#floor = await startRelay(
      runner === "miniflare"
        ? { persistTo, runner: "miniflare", miniflareScript: FLOOR_MINIFLARE }
        : { persistTo, config: FLOOR_CONFIG, ...(runner === "wrangler" ? { env: { X_LOCAL_OBSERVABILITY: "false" } } : {}) },
    );
    const group = relayProcessGroup(persistTo);
    const sample = () => (group === undefined ? { cpuMs: Number.NaN, rssKiB: Number.NaN } : sampleProcessGroup(group));
    return { ...this.#floor, cpuMs: () => sample().cpuMs, rssKiB: () => sample().rssKiB };
  }

  async stopFloor(): Promise<void> {
    await this.#floor?.kill();
    this.#floor = undefined;
  }

  /** Times wrangler dev failed to start and was tried again. */
  relayStartRetries = 0;

  /** Times the relay's workerd processes changed under a measurement without the bench restarting it. */
  relayRebuilds = 0;

  spawn(kind: WorkerKind): WorkerProcess {
    const name = `${kind}-${++this.#spawned}`;
    const execArgv = this.options.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${this.options.cpuProfileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
    const worker = new WorkerProcess(SCRIPTS[kind], name, execArgv);
    this.#workers.add(worker);
    worker.child.once("exit", () => this.#workers.delete(worker));
    return worker;
  }

  async stopWorkers(workers: Iterable<WorkerProcess> = [...this.#workers]): Promise<void> {
    await Promise.all([...workers].map((worker) => worker.stop()));
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#tempDirs.push(dir);
    return dir;
  }

  /** Stops everything this bench started and deletes its folders. */
  async close(): Promise<void> {
    await this.stopWorkers();
    await this.#relay?.kill();
    this.#relay = undefined;
    await this.stopFloor();
    for (const dir of this.#tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  /** Last resort, synchronous (process `exit`): SIGKILL to every child process and the relay's group. */
  killEverythingNow(): void {
    for (const worker of this.#workers) worker.kill();
    const groups = [this.#relayGroup ?? relayProcessGroup(this.persistTo), this.#floor && relayProcessGroup(this.#floor.persistTo)];
    for (const group of groups) {
      if (group === undefined) continue;
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const dir of this.#tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
