// The quarantine's pure steps (client/quarantine.ts): suspects in, one probe at a time, one culprit out.
import { describe, expect, it } from "vitest";
import { frameRefused, nextProbe, noQuarantine } from "../../../client/quarantine.ts";

describe("quarantine", () => {
  it("makes suspects of what was in flight, probes them in turn, and convicts the probe refused alone", () => {
    const pending = new Set(["a", "b", "c"]);
    let step = frameRefused(noQuarantine<string>(), ["a", "b", "c"]);
    expect(step.culprit).toBeUndefined();
    let probe = nextProbe(step.state, (doc) => pending.has(doc));
    expect(probe.probe).toBe("a");
    pending.delete("a"); // acknowledged: cleared
    probe = nextProbe(probe.state, (doc) => pending.has(doc));
    expect(probe.probe).toBe("b");
    step = frameRefused(probe.state, ["b"]);
    expect(step.culprit).toBe("b");
    probe = nextProbe(step.state, (doc) => pending.has(doc));
    expect(probe.probe).toBe("c");
    pending.delete("c");
    expect(nextProbe(probe.state, (doc) => pending.has(doc))).toEqual({ state: { suspects: [], probe: undefined }, probe: undefined });
  });

  it("convicts nobody when the probe was not on the wire, and adds the new suspects", () => {
    const state = { suspects: ["a"], probe: "a" };
    const step = frameRefused(state, ["x"]);
    expect(step.culprit).toBeUndefined();
    expect(step.state.suspects).toEqual(["a", "x"]);
  });

  it("without a quarantine, everyone may push", () => {
    expect(nextProbe(noQuarantine<string>(), () => true).probe).toBeUndefined();
  });
});
