// The runtime's own timers and clock, taken as this module loads, for the SDK's waits that are about order
// or about other processes rather than the app's time: a turn of the event loop, a poll for what another
// process does to a file, and the deadlines of those polls. A test that fakes timers afterwards (vitest's
// vi.useFakeTimers() fakes setTimeout, setImmediate and performance) never fires a faked timer until it
// moves the clock, and `client.close()`, or a FileLocalStore's load, waited for good.
type Schedule = (callback: () => void, ms?: number) => unknown;
const runtime = globalThis as { setImmediate?: Schedule; setTimeout: Schedule };
const immediate = runtime.setImmediate?.bind(globalThis);
const timeout = runtime.setTimeout.bind(globalThis);
const monotonic = performance.now.bind(performance);

/** After the microtasks queued so far and the I/O polled this turn (Node's and Bun's setImmediate; elsewhere a 0 ms timer). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => void (immediate ?? timeout)(resolve, 0));
}

/** After `ms` of the runtime's time. */
export function afterMs(ms: number): Promise<void> {
  return new Promise((resolve) => void timeout(resolve, ms));
}

/** The runtime's monotonic clock (performance.now()), in ms. */
export function runtimeNow(): number {
  return monotonic();
}
