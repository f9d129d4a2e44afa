// The app's listeners are called from inside the SDK's own work (a frame being applied, a status changing,
// a close). One that throws must not stop that work half done: every listener is called, the SDK goes on,
// and the error surfaces a moment later, uncaught, as it would from an event handler of the app's own.

/** Where a listener's error goes: thrown again in a microtask of its own (tests collect them instead). */
export const listenerErrors = {
  report(error: unknown): void {
    queueMicrotask(() => {
      throw error;
    });
  },
};

/** Calls each listener with `args`; what one throws is reported after, outside the SDK's work. */
export function notifyAll<A extends unknown[]>(listeners: Iterable<(...args: A) => unknown>, ...args: A): void {
  for (const listener of [...listeners]) {
    try {
      listener(...args);
    } catch (error) {
      listenerErrors.report(error);
    }
  }
}
