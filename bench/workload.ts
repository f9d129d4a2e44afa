// What the bench's worker processes share: one wall clock with sub-millisecond resolution, and the
// transaction payloads, which carry their send time so any process on this machine can compute latency.

/** Wall-clock time in ms with sub-ms resolution; every process on the machine reads the same clock. */
export const wallClock = (): number => performance.timeOrigin + performance.now();

export type Stamp = { t: number; i: number };

/** `{"t":…,"i":…,"p":"xxx…"}`, padded to exactly `bytes` characters (ASCII, so also bytes). */
export function payload(i: number, bytes: number, t = wallClock()): string {
  const bare = JSON.stringify({ t, i, p: "" });
  return JSON.stringify({ t, i, p: "x".repeat(Math.max(0, bytes - bare.length)) });
}

export function readStamp(data: string): Stamp | undefined {
  try {
    const parsed = JSON.parse(data) as Partial<Stamp>;
    return typeof parsed.t === "number" && typeof parsed.i === "number" ? { t: parsed.t, i: parsed.i } : undefined;
  } catch {
    return undefined;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `emit(0)`, `emit(1)`, … `count` times at a steady `perSecond`, catching up after a late timer so
 * the rate holds on a busy machine. Resolves with the wall-clock time it started.
 */
export async function paced(count: number, perSecond: number, emit: (i: number) => void): Promise<number> {
  const start = wallClock();
  for (let sent = 0; sent < count; ) {
    const due = Math.min(count, Math.floor(((wallClock() - start) * perSecond) / 1000) + 1);
    while (sent < due) emit(sent++);
    await sleep(1);
  }
  return start;
}

/** Polls `condition` every `everyMs` until it holds; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs: number, what: string, everyMs = 1): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** CPU time this process has used, in ms (user + system). */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}
