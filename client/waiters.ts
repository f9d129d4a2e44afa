// Promises that settle together: everything waiting for one answer (a load, an ack, a directory) is
// resolved or rejected at once, and each waiter may give up early through an AbortSignal. A WaiterTable
// keeps them by the answer they wait for.
import { abortReason } from "./errors.ts";

type Pending<T> = { resolve: (value: T) => void; reject: (error: Error) => void };

export class Waiters<T> {
  readonly #pending = new Set<Pending<T>>();

  get size(): number {
    return this.#pending.size;
  }

  /** A promise settled by the next resolveAll/rejectAll, or rejected as soon as `signal` aborts. */
  wait(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.#pending.delete(pending);
        reject(abortReason(signal!));
      };
      const pending: Pending<T> = {
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.add(pending);
    });
  }

  resolveAll(value: T): void {
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const waiter of pending) waiter.resolve(value);
  }

  rejectAll(error: Error): void {
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const waiter of pending) waiter.reject(error);
  }
}

/** Everything waiting, by the key of the answer it waits for. */
export class WaiterTable<K> {
  readonly #byKey = new Map<K, Waiters<unknown>>();

  /** A promise settled when `key` is, or rejected as soon as `signal` aborts. */
  wait(key: K, signal?: AbortSignal): Promise<unknown> {
    let waiters = this.#byKey.get(key);
    if (!waiters) this.#byKey.set(key, (waiters = new Waiters()));
    return waiters.wait(signal);
  }

  /** Takes everything waiting for `key` now out of the table, to be settled later: who waits from now on is not. */
  take(key: K): Waiters<unknown> | undefined {
    const waiters = this.#byKey.get(key);
    this.#byKey.delete(key);
    return waiters;
  }

  /** Settles everything waiting for `key`: rejects it with `error`, or resolves it with `value`. */
  settle(key: K, error: Error | undefined, value?: unknown): void {
    const waiters = this.#byKey.get(key);
    if (!waiters) return;
    this.#byKey.delete(key);
    if (error) waiters.rejectAll(error);
    else waiters.resolveAll(value);
  }
}
