// Subscribers for the fanout scenarios, spread over several worker processes so that no single client
// event loop becomes the bottleneck (the relay, the writer and the subscribers share the machine).
import type { Bench } from "../bench.ts";
import type { WorkerProcess } from "../ipc.ts";
import type { DocId } from "../../protocol/index.ts";

/** At most this many subscribing clients per worker process, and always at least two processes. */
const CLIENTS_PER_PROCESS = 10;

export type Collected = { latencies: number[]; doneAt: (number | null)[]; received: number[]; frames: number[]; tenthSums: number[]; tenthCounts: number[]; cpuMs: number };

export class SubscriberPool {
  readonly workers: WorkerProcess[];
  readonly shares: number[];

  /** `clientsPerProcess`: more than the default for wide fan-outs, where one process per 10 would be too many. */
  constructor(bench: Bench, subscribers: number, clientsPerProcess = CLIENTS_PER_PROCESS) {
    const processes = Math.max(2, Math.ceil(subscribers / clientsPerProcess));
    this.shares = Array.from({ length: processes }, (_, i) => Math.floor(subscribers / processes) + (i < subscribers % processes ? 1 : 0));
    this.workers = this.shares.map(() => bench.spawn("subscriber"));
  }

  /** Every subscriber opens `doc` (fresh clients) and expects `expect` stamped transactions. */
  async open(url: string, group: string, doc: DocId, expect: number): Promise<void> {
    await Promise.all(this.workers.map((worker, i) => worker.call("open", { url, group, doc, clients: this.shares[i], expect }, 60_000)));
  }

  async collect(timeoutMs: number): Promise<Collected> {
    const parts = await Promise.all(this.workers.map((worker) => worker.call<Collected>("collect", { timeoutMs }, timeoutMs + 10_000)));
    return {
      latencies: parts.flatMap((part) => part.latencies),
      doneAt: parts.flatMap((part) => part.doneAt),
      received: parts.flatMap((part) => part.received),
      frames: parts.flatMap((part) => part.frames),
      tenthSums: sumColumns(parts.map((part) => part.tenthSums)),
      tenthCounts: sumColumns(parts.map((part) => part.tenthCounts)),
      cpuMs: parts.reduce((sum, part) => sum + part.cpuMs, 0),
    };
  }

  async closeClients(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.call("close")));
  }
}

const sumColumns = (rows: number[][]): number[] => (rows[0] ?? []).map((_, column) => rows.reduce((sum, row) => sum + (row[column] ?? 0), 0));
