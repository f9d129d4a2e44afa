// The relay's clock as a client last heard it (each `challenge` carries it). One per client, shared by its
// groups: a group opened or reopened later stamps its first writes by it before its own socket is
// welcomed. Writes are stamped by it, so a device whose clock is off writes the times the relay takes
// (MAX_CLOCK_AHEAD_MS) and sorts its writes where they were made. It runs on the monotonic clock from the
// moment it was heard, so setting the device's clock afterwards (a clock put right once online) moves it not.
const monotonic = (): number => globalThis.performance?.now() ?? Date.now();

export class RelayClock {
  /** The relay's time when last heard, and the monotonic clock's then; none heard yet: the device's clock. */
  #heard: { relay: number; at: number } | undefined;

  /** The relay said its time was `relayNow` (ms since the epoch) as it sent what just arrived. */
  heard(relayNow: number): void {
    this.#heard = { relay: relayNow, at: monotonic() };
  }

  now(): number {
    return this.#heard ? Math.round(this.#heard.relay + monotonic() - this.#heard.at) : Date.now();
  }
}
