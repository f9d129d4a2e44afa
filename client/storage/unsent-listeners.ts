// The listeners of a store's onUnsent, shared by the three stores: the first listener opens what listening
// needs (a BroadcastChannel, a file watcher, nothing), the last one's stop closes it again, and what is
// heard goes to every listener, checked first (another tab or process may run another version).
import { unsentOf, type UnsentListener } from "./local-store.ts";

/** Opens listening: calls `hear` with each announcement as it arrives; returns what closes it. */
export type StartListening = (hear: (message: unknown) => void) => () => void;

export class UnsentListeners {
  readonly #listeners = new Set<UnsentListener>();
  readonly #start: StartListening;
  #stop: (() => void) | undefined;

  constructor(start: StartListening = () => () => {}) {
    this.#start = start;
  }

  add(listener: UnsentListener): () => void {
    this.#listeners.add(listener);
    this.#stop ??= this.#start((message) => this.tell(message));
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#close();
    };
  }

  /** Tells every listener an announcement, if it is one. */
  tell(message: unknown): void {
    const unsent = unsentOf(message);
    if (unsent) for (const listener of [...this.#listeners]) listener(unsent.group, [...unsent.docs]);
  }

  /** The store closed: nobody listens any more. */
  clear(): void {
    this.#listeners.clear();
    this.#close();
  }

  #close(): void {
    const stop = this.#stop;
    this.#stop = undefined;
    stop?.();
  }
}
