// Waiting in end-to-end tests: bounded, so a test that never gets there fails instead of hanging.
import type { Status } from "../../client/status.ts";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 20 ms until it holds; throws after `timeoutMs`. */
export async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await sleep(20);
  }
}

/** What Yjs emits events with (lib0's observables: `Y.Doc`, y-protocols' `Awareness`). */
interface Emitter {
  on(event: string, listener: () => void): void;
  off(event: string, listener: () => void): void;
}

/** Resolves once `check` holds, checked now and at each `event` of `emitter` (the test's timeout bounds the wait). */
export function untilEvent(emitter: Emitter, event: string, check: () => boolean): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve) => {
    const listener = () => {
      if (!check()) return;
      emitter.off(event, listener);
      resolve();
    };
    emitter.on(event, listener);
  });
}

/** Resolves when the group's status is `status` (at once if it is). */
export function statusOf(group: { status: Status; onStatus(listener: (status: Status) => void): () => void }, status: Status): Promise<void> {
  if (group.status === status) return Promise.resolve();
  return new Promise((resolve) => {
    const off = group.onStatus((now) => {
      if (now !== status) return;
      off();
      resolve();
    });
  });
}
