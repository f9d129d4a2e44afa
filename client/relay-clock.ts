// The relay's clock as a client last heard it (each `challenge` carries it). One per client, shared by its
// groups: a group opened or reopened later stamps its first writes by it before its own socket is
// welcomed. Writes are stamped by it, so a device whose clock is off writes the times the relay takes
// (MAX_CLOCK_AHEAD_MS) and sorts its writes where they were made.
//
// It runs on from when it was heard by whichever of the device's clocks went further since: the monotonic
// one, so setting the device's clock back changes nothing; the wall clock, because the monotonic one stops
// while the device sleeps (everywhere but Windows), and a laptop opened after a night must not stamp its
// writes hours in the past. A wall clock set forward after it was heard (a clock put right while the
// client was connected) is taken for a sleep: the relay refuses the times (bad_time), and the client
// connects again to hear its clock anew (relay-messages.ts).
const monotonic = (): number => globalThis.performance?.now() ?? Date.now();

export class RelayClock {
  /** The relay's time when last heard, with the wall and monotonic clocks' then; none heard yet: the wall clock. */
  #heard: { relay: number; wall: number; monotonic: number } | undefined;

  /** The relay said its time was `relayNow` (ms since the epoch) as it sent what just arrived. */
  heard(relayNow: number): void {
    this.#heard = { relay: relayNow, wall: Date.now(), monotonic: monotonic() };
  }

  now(): number {
    const heard = this.#heard;
    if (!heard) return Date.now();
    return Math.round(heard.relay + Math.max(Date.now() - heard.wall, monotonic() - heard.monotonic));
  }
}
