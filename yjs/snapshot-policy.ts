// When a Yjs provider takes a snapshot by itself, as pure functions: the log held since the document's last
// snapshot must outgrow the state by a factor (and a floor, so small documents are left alone), and only
// one editor of those present does it: the one whose session sorts first among the editors that offer to
// (their presence says `snapshots: true`). A `snapshotted` from the relay resets everyone's count.
import { checkKnownOptions, describe } from "../client/local-checks.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

/** The provider's option: `false` never snapshots. */
export type SnapshotOptions = false | { factor?: number; minLogBytes?: number };

export type SnapshotPolicy = { factor: number; minLogBytes: number };

/**
 * What each transaction counts in the log's size beyond its data. A keystroke is about 20 bytes of Yjs
 * update but a whole transaction everywhere: about 76 bytes stored at the relay, about 1 KB of a loading
 * client's heap and 50 µs of its time. Counted by its data alone, a log of 60,000 keystrokes was
 * snapshotted (with the defaults) as of 23,474 of them, and a new editor took 1.92 s and 58.6 MB to load
 * it, against 0.33 s and 21 MB from a snapshot of all. Counted at 256 bytes more, a typed log is
 * snapshotted once it is about 4 times the state in transactions of 276 bytes (every ~900 keystrokes of a
 * 60 KB text); a log of large pastes, whose data dominates, is counted much as before.
 */
export const TRANSACTION_OVERHEAD_BYTES = 256;

/** By default: once the log since the last snapshot is 4 times the state, and at least 64 KiB. */
export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = { factor: 4, minLogBytes: 64 * 1024 };

/** The policy an option means, or undefined when snapshots are off. Wrong input throws at once, a misspelt name too. */
export function snapshotPolicyOf(options: SnapshotOptions | undefined): SnapshotPolicy | undefined {
  if (options === false) return undefined;
  if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) throw new ArgumentError(`WeftProvider: snapshots must be false or { factor, minLogBytes }, not ${typeof options === "object" ? describe(options) : String(options)}`);
  checkKnownOptions(options, ["factor", "minLogBytes"], "WeftProvider: snapshots");
  const policy = { ...DEFAULT_SNAPSHOT_POLICY, ...options };
  if (!(typeof policy.factor === "number" && policy.factor > 0) || !(Number.isSafeInteger(policy.minLogBytes) && policy.minLogBytes >= 0)) {
    throw new ArgumentError(`WeftProvider: snapshots must be false or { factor > 0, minLogBytes >= 0 }, not ${JSON.stringify(options)}`);
  }
  return policy;
}

/** The size of a log of `count` transactions with `dataBytes` of data between them, as the policy counts it. */
export const logSize = (count: number, dataBytes: number): number => dataBytes + count * TRANSACTION_OVERHEAD_BYTES;

/**
 * Whether the log held since the last snapshot (`logBytes`, its logSize) has outgrown the state
 * (`stateBytes`, its encoded size). Asked first with the size last measured (0 if never), so the state is
 * encoded only when it may be due, not on every change; then again with the size just measured.
 */
export const outgrows = (policy: SnapshotPolicy, logBytes: number, stateBytes: number): boolean =>
  logBytes >= policy.minLogBytes && logBytes > policy.factor * stateBytes;

/**
 * How far past the policy's bound a log may grow while this editor waits for another to snapshot (the one
 * that leads) or for another writer's update to arrive whole. Past it, any editor that may snapshot takes
 * one: a leader that never does (gone quiet, or a member offering what it may not) and an update whose last
 * part never comes hold snapshots back only this far. Its floor is never below the default's (256 KiB of
 * log), so a leader kept busy by its own typing is not overtaken at once under a small `minLogBytes`. Two
 * may then take one at once; the relay stores the first and answers the other with it.
 */
export const OVERDUE_FACTOR = 4;

/** Whether the log has outgrown the state OVERDUE_FACTOR times past the policy's bound. */
export const overdue = (policy: SnapshotPolicy, logBytes: number, stateBytes: number): boolean =>
  outgrows({ factor: policy.factor * OVERDUE_FACTOR, minLogBytes: Math.max(policy.minLogBytes, DEFAULT_SNAPSHOT_POLICY.minLogBytes) * OVERDUE_FACTOR }, logBytes, stateBytes);

/**
 * The state's size measured last stands until the log has grown this much past that measurement: a delete
 * shrinks the state (a large paste taken out again), and a size measured before it would hold every
 * snapshot back until the log outgrew the old size.
 */
export const REMEASURE_AFTER_LOG_BYTES = 64 * 1024;

/** Whether a snapshot may be due, by the size measured last, unless the log has grown enough since to measure again. */
export const mayOutgrow = (policy: SnapshotPolicy, logBytes: number, measured: { stateBytes: number; atLogBytes: number }): boolean =>
  outgrows(policy, logBytes, logBytes - measured.atLogBytes >= REMEASURE_AFTER_LOG_BYTES ? 0 : measured.stateBytes);

/** The presence marker of an editor that takes snapshots. */
export const OFFERS_SNAPSHOTS = "snapshots";

/**
 * Whether this editor is the one to take snapshots: its session sorts first among itself and the editors
 * present that offer to (their presence states hold `snapshots: true`). Each editor computes the same answer
 * from the same presence; while presence is settling two may both take one, and the relay stores the first
 * and answers the other with it (or refuses it as stale), so nothing is lost either way.
 */
export function leadsSnapshots(own: string, present: Iterable<{ session: string; state: unknown }>): boolean {
  for (const peer of present) {
    const state = peer.state as Record<string, unknown> | null | undefined;
    if (typeof state === "object" && state !== null && state[OFFERS_SNAPSHOTS] === true && peer.session < own) return false;
  }
  return true;
}
