// Promises that settle together: everything waiting for one answer (a load, an ack, a directory) is
// resolved or rejected at once, and each waiter may give up early through an AbortSignal.
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
