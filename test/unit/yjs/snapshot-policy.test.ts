// When weft/yjs takes a snapshot by itself (yjs/snapshot-policy.ts): the log since the last snapshot must
// outgrow the state by the factor and reach the floor, the option is checked at once, and exactly one of
// the editors present leads.
import { describe, expect, it } from "vitest";
import { DEFAULT_SNAPSHOT_POLICY, OFFERS_SNAPSHOTS, REMEASURE_AFTER_LOG_BYTES, leadsSnapshots, mayOutgrow, outgrows, snapshotPolicyOf } from "../../../yjs/snapshot-policy.ts";

describe("snapshot policy", () => {
  it("is due once the log is more than factor times the state and at least the floor", () => {
    const policy = { factor: 4, minLogBytes: 1000 };
    expect(outgrows(policy, 999, 10)).toBe(false); // under the floor, however small the state
    expect(outgrows(policy, 4000, 1000)).toBe(false); // exactly 4 times: not more
    expect(outgrows(policy, 4001, 1000)).toBe(true);
    expect(outgrows(policy, 1000, 0)).toBe(true); // never measured: measure now
    expect(outgrows(policy, 100_000, 30_000)).toBe(false);
    expect(outgrows({ factor: 1.5, minLogBytes: 0 }, 16, 10)).toBe(true);
  });

  it("trusts the state's size measured last until the log has grown REMEASURE_AFTER_LOG_BYTES past it", () => {
    const policy = { factor: 4, minLogBytes: 1000 };
    const measured = { stateBytes: 800_000, atLogBytes: 200_000 };
    expect(mayOutgrow(policy, 200_000 + REMEASURE_AFTER_LOG_BYTES - 1, measured)).toBe(false);
    expect(mayOutgrow(policy, 200_000 + REMEASURE_AFTER_LOG_BYTES, measured)).toBe(true); // measure again
    expect(mayOutgrow(policy, 3_300_000, { stateBytes: 800_000, atLogBytes: 3_290_000 })).toBe(true); // outgrown by the old size too
  });

  it("reads the option: defaults, overrides, off, and wrong input refused at once", () => {
    expect(snapshotPolicyOf(undefined)).toEqual(DEFAULT_SNAPSHOT_POLICY);
    expect(snapshotPolicyOf({ factor: 2 })).toEqual({ factor: 2, minLogBytes: DEFAULT_SNAPSHOT_POLICY.minLogBytes });
    expect(snapshotPolicyOf({ minLogBytes: 0 })).toEqual({ factor: 4, minLogBytes: 0 });
    expect(snapshotPolicyOf(false)).toBeUndefined();
    expect(() => snapshotPolicyOf({ factor: 0 })).toThrow(TypeError);
    expect(() => snapshotPolicyOf({ factor: "4" as never })).toThrow(TypeError);
    expect(() => snapshotPolicyOf({ minLogBytes: -1 })).toThrow(TypeError);
    expect(() => snapshotPolicyOf(true as never)).toThrow(TypeError);
    // A misspelt name would leave the default in place without a word, as a misspelt top-level option would.
    expect(() => snapshotPolicyOf({ factr: 1 } as never)).toThrow(/there is no option "factr"; the options are factor, minLogBytes/);
    expect(() => snapshotPolicyOf([] as never)).toThrow(TypeError);
  });

  it("makes exactly one of the editors present the leader: the first session among those that offer", () => {
    const offering = (session: string) => ({ session, state: { [OFFERS_SNAPSHOTS]: true, awareness: {} } });
    const sessions = ["ag_b~2", "ag_a~9", "ag_c~1"];
    const leaders = sessions.filter((own) => leadsSnapshots(own, sessions.filter((other) => other !== own).map(offering)));
    expect(leaders).toEqual(["ag_a~9"]);
    // A peer that does not offer (snapshots off, a reader, a client without the provider) never leads.
    expect(leadsSnapshots("ag_b~2", [{ session: "ag_a~9", state: { awareness: {} } }, { session: "ag_0~0", state: null }])).toBe(true);
    // Alone, an editor leads.
    expect(leadsSnapshots("ag_z~z", [])).toBe(true);
  });
});
