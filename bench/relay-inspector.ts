// Looking inside the relay through the inspector wrangler dev opens (`--inspector-port`, read from its
// command line) or a Miniflare's `inspectorPort`: a V8 CPU profile, the isolate's heap size; and a summary of
// any .cpuprofile by self time.
import { readFileSync, writeFileSync } from "node:fs";
import { relayProcessGroup, sampleProcessGroup } from "./proc-stats.ts";

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
export type CpuProfile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] };

function inspectorPort(persistTo: string): number | undefined {
  const group = relayProcessGroup(persistTo);
  if (group === undefined) return undefined;
  for (const process of sampleProcessGroup(group).processes) {
    try {
      const line = readFileSync(`/proc/${process.pid}/cmdline`, "utf8").split("\0").join(" ");
      const match = /--inspector-port[ =](\d+)/.exec(line);
      if (match) return Number(match[1]);
    } catch {
      // gone
    }
  }
  return undefined;
}

type Inspector = { command<T>(method: string, params?: Record<string, unknown>): Promise<T>; close(): void };

/** A DevTools protocol session with the relay's workerd, through the inspector proxy wrangler dev runs. */
async function connectInspector(persistTo: string): Promise<Inspector> {
  const port = inspectorPort(persistTo);
  if (port === undefined) throw new Error("no --inspector-port on the relay's command line");
  return connectInspectorAt(port);
}

/** A DevTools protocol session with the relay's isolate behind an inspector port (wrangler's, or Miniflare's `inspectorPort`). */
async function connectInspectorAt(port: number): Promise<Inspector> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string; title?: string }[];
  const url = (targets.find((target) => target.title?.includes("weft")) ?? targets[0])?.webSocketDebuggerUrl;
  if (!url) throw new Error("the relay's inspector lists no target");
  // The inspector proxy only accepts a local Origin; Node's WebSocket (undici) takes headers as an extension.
  const socket = new WebSocket(url, { headers: { Origin: "http://127.0.0.1" } } as unknown as string[]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${url}`)), 5_000);
    socket.addEventListener("open", () => (clearTimeout(timer), resolve()), { once: true });
    socket.addEventListener("error", () => (clearTimeout(timer), reject(new Error(`cannot connect to ${url}`))), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  return {
    command: <T>(method: string, params: Record<string, unknown> = {}): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        if (socket.readyState !== WebSocket.OPEN) return reject(new Error("the relay's inspector connection closed (the relay restarted?)"));
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error(`inspector: ${method} got no answer`)), 20_000);
        pending.set(id, (result) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(result as T);
        });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/** Starts the V8 sampling profiler inside the relay's workerd; `stop()` returns the profile. */
export async function profileRelay(persistTo: string): Promise<{ stop(): Promise<CpuProfile> }> {
  return startProfiler(await connectInspector(persistTo), 200);
}

/**
 * Starts the profiler in the relay's isolate behind `port` (the measurement scripts' Miniflare), sampling
 * every 100 µs; the returned function stops it and writes the profile to `file`.
 */
export async function startRelayProfile(port: number, file: string): Promise<() => Promise<void>> {
  const profiler = await startProfiler(await connectInspectorAt(port), 100);
  return async () => {
    writeFileSync(file, JSON.stringify(await profiler.stop()));
    console.log(`wrote ${file}`);
  };
}

async function startProfiler(inspector: Inspector, intervalUs: number): Promise<{ stop(): Promise<CpuProfile> }> {
  await inspector.command("Profiler.enable");
  await inspector.command("Profiler.setSamplingInterval", { interval: intervalUs });
  await inspector.command("Profiler.start");
  return {
    async stop() {
      try {
        return (await inspector.command<{ profile: CpuProfile }>("Profiler.stop")).profile;
      } finally {
        inspector.close();
      }
    },
  };
}

/** The relay isolate's JavaScript heap in bytes (V8's used size), to tell it apart from the process's RSS. */
export async function relayHeapUsed(persistTo: string): Promise<number> {
  const inspector = await connectInspector(persistTo);
  try {
    return (await inspector.command<{ usedSize: number }>("Runtime.getHeapUsage")).usedSize;
  } finally {
    inspector.close();
  }
}

/**
 * A full garbage collection in the relay's isolate (V8's HeapProfiler.collectGarbage). workerd runs the
 * command only once something enters the isolate, so a request to the relay at `url` (its health check)
 * follows it.
 */
export async function collectRelayGarbage(persistTo: string, url: string): Promise<void> {
  const inspector = await connectInspector(persistTo);
  try {
    await inspector.command("HeapProfiler.enable");
    const collected = inspector.command("HeapProfiler.collectGarbage");
    await fetch(new URL("/v1/health", url.replace(/^ws/, "http")));
    await collected;
  } finally {
    inspector.close();
  }
}

/** The V8 heap of the relay's isolate behind `port` (a Miniflare's `inspectorPort`): used and committed bytes. */
export async function relayHeapAt(port: number): Promise<{ usedSize: number; totalSize: number }> {
  const inspector = await connectInspectorAt(port);
  try {
    return await inspector.command<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
  } finally {
    inspector.close();
  }
}

/** The most intervals one sample of a profile is charged (topFunctions). */
const GAP_SAMPLES = 2;

/** Self time per function (name and file:line), largest first, as percentages of the sampled time. */
export function topFunctions(profile: CpuProfile, limit = 15): { fn: string; selfMs: number; percent: number }[] {
  // workerd stops sampling an isolate while it waits, and the first sample after carries the whole wait: a
  // sample is charged at most GAP_SAMPLES intervals, the rest is told as a gap. The interval is read off the
  // deltas (their 10th percentile: most samples of a mostly idle relay follow a wait).
  const interval = [...profile.timeDeltas].sort((a, b) => a - b)[Math.floor(profile.timeDeltas.length / 10)] ?? 0;
  const byNode = new Map<number, number>();
  let gaps = 0;
  profile.samples.forEach((node, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const charged = interval > 0 ? Math.min(delta, GAP_SAMPLES * interval) : delta;
    gaps += delta - charged;
    byNode.set(node, (byNode.get(node) ?? 0) + charged);
  });
  const byFunction = new Map<string, number>(gaps > 0 ? [["(not sampled: the isolate waiting)", gaps]] : []);
  let total = gaps;
  for (const node of profile.nodes) {
    const micros = byNode.get(node.id) ?? 0;
    if (micros === 0) continue;
    const file = node.callFrame.url.split("/").slice(-2).join("/");
    const name = `${node.callFrame.functionName || "(anonymous)"} ${file ? `${file}:${node.callFrame.lineNumber + 1}` : ""}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    total += micros;
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, micros]) => ({ fn, selfMs: Math.round(micros / 100) / 10, percent: Math.round((1000 * micros) / total) / 10 }));
}
