// yjs_typing: 10 editors type 5 characters a second each into one Yjs document for 20 s while 50 viewers
// watch (weft/yjs providers in worker processes, 5 clients per process). Latency is from a keystroke in one
// editor's Y.Doc to that character being in each other Y.Doc (editors and viewers); bytes are the frames'
// payloads on the clients' sockets, each way, per keystroke.
import type { Bench } from "../bench.ts";
import type { WorkerProcess } from "../ipc.ts";
import { figure, type Scenario } from "../scenario.ts";
import { round, summarizeLatencies } from "../stats.ts";
import { wallClock } from "../workload.ts";
import type { DocId } from "../../protocol/index.ts";

const EDITORS = 10;
const VIEWERS = 50;
const RATE = 5;
const DURATION_MS = 20_000;
const CLIENTS_PER_PROCESS = 5;
const DELIVERY_WAIT_MS = 15_000;

type Bytes = { sent: number; received: number; framesSent: number; framesReceived: number };
type Arrivals = { client: number; arrivals: [number, number, number][] };
type Collected = { docs: Arrivals[]; complete: number; bytes: Bytes; cpuMs: number; texts: string[] };

export const yjsTyping: Scenario = {
  name: "yjs_typing",
  budgetMs: 120_000,
  async run(bench: Bench) {
    const editors = spawnPool(bench, EDITORS);
    const viewers = spawnPool(bench, VIEWERS);
    try {
      const group = "bench-yjs";
      const { doc } = await editors[0]!.worker.call<{ doc: DocId }>("create", { url: bench.url, group });
      const open = (pool: Pool, name: string) => Promise.all(pool.map(({ worker, clients }, i) => worker.call("open", { url: bench.url, group, doc, clients, name: `${name}${i}` }, 60_000)));
      await open(editors, "editor");
      await open(viewers, "viewer");
      const cpuBefore = await Promise.all([...editors, ...viewers].map(({ worker }) => worker.call<{ cpuMs: number }>("collect", { clocks: [], timeoutMs: 0 })));
      const relayMeter = bench.relayCpuMeter();
      const windowStart = wallClock();
      const typed = await Promise.all(editors.map(({ worker }) => worker.call<{ keystrokes: [number, number, number][] }>("type", { rate: RATE, durationMs: DURATION_MS }, DURATION_MS + 30_000)));
      const keystrokes = typed.flatMap((part) => part.keystrokes);
      const finalClocks = new Map<number, number>();
      for (const [client, clock] of keystrokes) finalClocks.set(client, Math.max(finalClocks.get(client) ?? 0, clock));
      const clocks = [...finalClocks];
      const collected = await Promise.all([...editors, ...viewers].map(({ worker }) => worker.call<Collected>("collect", { clocks, timeoutMs: DELIVERY_WAIT_MS }, DELIVERY_WAIT_MS + 20_000)));
      const relayCpuMs = relayMeter.stop().cpuMs;
      const windowMs = wallClock() - windowStart;

      const latencies = keystrokeLatencies(keystrokes, collected.flatMap((part) => part.docs));
      const summary = summarizeLatencies(latencies.delivered);
      const editorBytes = sum(collected.slice(0, editors.length).map((part) => part.bytes));
      const viewerBytes = sum(collected.slice(editors.length).map((part) => part.bytes));
      const texts = collected.flatMap((part) => part.texts);
      const converged = texts.every((text) => text === texts[0]);
      const clientCpuMs = collected.reduce((total, part, i) => total + part.cpuMs - cpuBefore[i]!.cpuMs, 0);
      const perKeystroke = (value: number) => value / Math.max(1, keystrokes.length);
      return {
        figures: [
          figure("keystrokes", "keystrokes typed (10 editors x 5/s x 20 s)", "", [keystrokes.length]),
          figure("p50_ms", "keystroke to remote Y.Doc: p50", "ms", [summary.p50]),
          figure("p99_ms", "keystroke to remote Y.Doc: p99", "ms", [summary.p99]),
          figure("max_ms", "keystroke to remote Y.Doc: max", "ms", [summary.max]),
          figure("missing", "keystrokes not in every other Y.Doc after the wait", "", [latencies.missing], { target: { op: "<=", value: 0 }, summary: "worst" }),
          figure("converged", "every Y.Doc holds the same text (1 = yes)", "", [converged ? 1 : 0], { target: { op: ">=", value: 1 }, summary: "worst" }),
          figure("relay_cpu_pct", "relay CPU", "% of 1 core", [(100 * relayCpuMs) / windowMs]),
          figure("client_cpu_pct", "client processes CPU (60 clients)", "% of 1 core", [(100 * clientCpuMs) / windowMs]),
          figure("client_cpu_ms_per_keystroke", "client CPU per keystroke (60 clients together)", "ms", [perKeystroke(clientCpuMs)]),
          figure("up_frames_per_keystroke", "frames an editor sends per keystroke", "frames", [perKeystroke(editorBytes.framesSent)]),
          figure("down_frames_per_keystroke_per_viewer", "frames a viewer receives per keystroke", "frames", [perKeystroke(viewerBytes.framesReceived) / VIEWERS]),
          figure("up_bytes_per_keystroke", "bytes an editor sends per keystroke", "B", [perKeystroke(editorBytes.sent)]),
          figure("down_bytes_per_keystroke_per_viewer", "bytes a viewer receives per keystroke", "B", [perKeystroke(viewerBytes.received) / VIEWERS]),
          figure("wire_bytes_per_keystroke", "bytes on all clients' sockets per keystroke, both ways", "B", [perKeystroke(editorBytes.sent + editorBytes.received + viewerBytes.sent + viewerBytes.received)]),
        ],
        details: {
          editors: EDITORS,
          viewers: VIEWERS,
          rate: RATE,
          durationMs: DURATION_MS,
          windowMs: round(windowMs),
          samples: summary.samples,
          latency: Object.fromEntries(Object.entries(summary).map(([name, value]) => [name, round(value, 3)])),
          editorBytes,
          viewerBytes,
          textLength: texts[0]?.length ?? 0,
        },
      };
    } finally {
      await bench.stopWorkers([...editors, ...viewers].map(({ worker }) => worker));
    }
  },
};

type Pool = { worker: WorkerProcess; clients: number }[];

function spawnPool(bench: Bench, clients: number): Pool {
  const processes = Math.ceil(clients / CLIENTS_PER_PROCESS);
  return Array.from({ length: processes }, (_, i) => ({ worker: bench.spawn("yjs-editor"), clients: Math.floor(clients / processes) + (i < clients % processes ? 1 : 0) }));
}

/**
 * For each keystroke and each Y.Doc that did not type it: the first arrival whose clock covers it, minus the
 * time it was typed. A Y.Doc's arrivals per client are in time order with rising clocks.
 */
function keystrokeLatencies(keystrokes: [number, number, number][], docs: Arrivals[]): { delivered: number[]; missing: number } {
  const byClient = new Map<number, [number, number][]>();
  for (const [client, clock, time] of keystrokes) {
    let list = byClient.get(client);
    if (!list) byClient.set(client, (list = []));
    list.push([clock, time]);
  }
  const delivered: number[] = [];
  let missing = 0;
  for (const { client: self, arrivals } of docs) {
    const perClient = new Map<number, [number, number][]>();
    for (const [client, clock, time] of arrivals) {
      let list = perClient.get(client);
      if (!list) perClient.set(client, (list = []));
      list.push([clock, time]);
    }
    for (const [client, typed] of byClient) {
      if (client === self) continue; // the editor that typed it
      const heard = perClient.get(client);
      let next = 0;
      for (const [clock, time] of typed) {
        while (heard && next < heard.length && heard[next]![0] < clock) next++;
        const arrival = heard?.[next];
        if (arrival) delivered.push(arrival[1] - time);
        else missing++;
      }
    }
  }
  return { delivered, missing };
}

function sum(parts: Bytes[]): Bytes {
  return parts.reduce((total, part) => ({ sent: total.sent + part.sent, received: total.received + part.received, framesSent: total.framesSent + part.framesSent, framesReceived: total.framesReceived + part.framesReceived }), { sent: 0, received: 0, framesSent: 0, framesReceived: 0 });
}
