// Reading a group from the local store at start, and what waits for the store. A store that fails (a
// disk gone for a moment, IndexedDB blocked) is read again after a wait, doubling up to SAVE_RETRY's cap,
// and the app hears of it once. A group closed meanwhile stops waiting, so `ready` (and a discard) settles
// however the store behaves, and a call given an AbortSignal gives up when it aborts, even before the store
// answered.
import { abortReason } from "./errors.ts";
import { SAVE_RETRY } from "./push-pump.ts";

/** A group as the load watches it. */
export type LoadWatch = {
  /** Why the group closed for good, once it did. */
  closed(): Error | undefined;
  onStatus(listener: () => void): () => void;
  /** The store failed: called once per run of failures. */
  onFailure(error: unknown): void;
};

/** What `load` gives, read again after each failure until it answers; rejects with the group's ClosedError once it closes. */
export async function loadUntilClosed<T>(load: () => Promise<T>, watch: LoadWatch): Promise<T> {
  for (let waitMs = SAVE_RETRY.firstMs, failing = false; ; waitMs = Math.min(waitMs * 2, SAVE_RETRY.capMs)) {
    try {
      return await untilClosed(load(), watch);
    } catch (error) {
      const closed = watch.closed();
      if (closed) throw closed;
      if (!failing) watch.onFailure(error);
      failing = true;
      await untilClosed(pause(waitMs, watch), watch);
    }
  }
}

/**
 * What `call` gives, as a promise: a call that throws instead of rejecting (a store of the app's own with a
 * bug, an app's getToken) rejects, so the failure is reported and retried like any other, never thrown
 * into a flush or a handshake.
 */
export function settling<T>(call: () => Promise<T> | T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    const done = () => signal.removeEventListener("abort", onAbort);
    promise.then(
      (value) => (done(), resolve(value)),
      (error: unknown) => (done(), reject(error)),
    );
  });
}

/** `promise`, or a rejection with the group's ClosedError once it closes first. */
export function untilClosed<T>(promise: Promise<T>, watch: Pick<LoadWatch, "closed" | "onStatus">): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const check = () => {
      const closed = watch.closed();
      if (closed) (off(), reject(closed));
    };
    const off = watch.onStatus(() => queueMicrotask(check));
    promise.then(
      (value) => (off(), resolve(value)),
      (error: unknown) => (off(), reject(error)),
    );
    check();
  });
}

/** Resolves after `ms`, or at once when the group closes: its timer never keeps a closed client's process alive. */
function pause(ms: number, watch: LoadWatch): Promise<void> {
  return new Promise((resolve) => {
    const done = () => (clearTimeout(timer), off(), resolve());
    const timer = setTimeout(done, ms);
    const off = watch.onStatus(() => queueMicrotask(() => watch.closed() && done()));
  });
}
