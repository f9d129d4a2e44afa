// The connection status table: exactly these transitions are allowed, everything else is a bug.
import { describe, expect, it } from "vitest";
import { StatusError, canTransition, type Status } from "../../../client/status.ts";

const ALL: Status[] = ["idle", "connecting", "authenticating", "syncing", "live", "offline", "closed"];

const ALLOWED: [Status, Status][] = [
  ["idle", "connecting"],
  ["idle", "closed"],
  ["connecting", "authenticating"],
  ["connecting", "offline"],
  ["connecting", "closed"],
  ["authenticating", "syncing"],
  ["authenticating", "offline"],
  ["authenticating", "closed"],
  ["syncing", "live"],
  ["syncing", "offline"],
  ["syncing", "closed"],
  ["live", "syncing"],
  ["live", "offline"],
  ["live", "closed"],
  ["offline", "connecting"],
  ["offline", "closed"],
];

describe("canTransition", () => {
  it.each(ALLOWED)("allows %s -> %s", (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it("allows nothing else: the table above is the whole table", () => {
    const allowed = new Set(ALLOWED.map(([from, to]) => `${from}->${to}`));
    for (const from of ALL) {
      for (const to of ALL) expect(canTransition(from, to), `${from} -> ${to}`).toBe(allowed.has(`${from}->${to}`));
    }
  });

  it.each(ALL)("never leaves closed (closed -> %s)", (to) => {
    expect(canTransition("closed", to)).toBe(false);
  });

  it.each<[Status, Status]>([
    ["idle", "live"],
    ["idle", "syncing"],
    ["idle", "offline"],
    ["connecting", "live"],
    ["offline", "live"],
    ["offline", "syncing"],
    ["authenticating", "live"],
  ])("forbids %s -> %s (no skipping the handshake)", (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });
});

describe("StatusError", () => {
  it("names both ends of the forbidden transition", () => {
    const error = new StatusError("closed", "connecting");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("StatusError");
    expect(error.from).toBe("closed");
    expect(error.to).toBe("connecting");
    expect(error.message).toContain("closed");
    expect(error.message).toContain("connecting");
  });
});
