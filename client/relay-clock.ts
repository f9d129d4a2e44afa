// The relay's clock as a client last heard it (each `challenge` carries it). One per client, shared by its
// groups: a group opened or reopened later stamps its first writes by it before its own socket is
// welcomed. Writes are stamped by it, so a device whose clock is off writes the times the relay takes
// (MAX_CLOCK_AHEAD_MS) and sorts its writes where they were made.
//
// It runs on from when it was heard by whichever of the device's clocks went further since: the monotonic
// one, so setting the device's clock back changes nothing; the wall clock, because the monotonic one stops
// while the device sleeps (everywhere but Windows), and a laptop opened after a night must not stamp its
// writes hours in the past. A wall clock set forward after it was heard (a clock put right, or set wrong,
// while the client ran) is taken for a sleep, but only so far: the wall clock moves it at most
// MAX_CLOCK_AHEAD_MS (less the slack) past the monotonic clock. The relay's clock went on at least as far as
// the monotonic one did, so no time this gives is more than that ahead of it, and no write is refused for
// its time (bad_time) however the device's clock was set while offline: a write held back for good costs the
// user its text, where one stamped early after a sleep of more than a day only sorts early (until the
// client connects again and hears the relay's time). Should the relay refuse a time all the same (its own
// clock set back), the client connects again to hear its clock anew (relay-messages.ts), and until it has
// the wall clock's advance is not taken (distrustWall).
import { MAX_CLOCK_AHEAD_MS, RELAY_CLOCK_SLACK_MS } from "../protocol/index.ts";

/** The most the wall clock moves the relay's time on past the monotonic clock. */
const MAX_WALL_LEAD_MS = MAX_CLOCK_AHEAD_MS - RELAY_CLOCK_SLACK_MS;

const monotonic = (): number => globalThis.performance?.now() ?? Date.now();

export class RelayClock {
  /** The relay's time when last heard, with the wall and monotonic clocks' then; none heard yet: the wall clock. */
  #heard: { relay: number; wall: number; monotonic: number } | undefined;
  /** The relay refused a time this clock gave since it was last heard: the wall clock was set forward, not slept through. */
  #wallSetForward = false;

  /** The relay said its time was `relayNow` (ms since the epoch) as it sent what just arrived. */
  heard(relayNow: number): void {
    this.#heard = { relay: relayNow, wall: Date.now(), monotonic: monotonic() };
    this.#wallSetForward = false;
  }

  /** The relay refused a time as too far ahead (bad_time): until it is heard again, only the monotonic clock runs this one on. */
  distrustWall(): void {
    this.#wallSetForward = this.#heard !== undefined;
  }

  now(): number {
    const heard = this.#heard;
    if (!heard) return Date.now();
    const sinceHeard = monotonic() - heard.monotonic;
    const wallAdvance = this.#wallSetForward ? sinceHeard : Math.min(Date.now() - heard.wall, sinceHeard + MAX_WALL_LEAD_MS);
    return Math.round(heard.relay + Math.max(wallAdvance, sinceHeard));
  }
}
