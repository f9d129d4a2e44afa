// Connection status as a union with a table of the transitions that may happen; anything else is a bug.

export type Status = "idle" | "connecting" | "authenticating" | "syncing" | "live" | "offline" | "closed";

const TRANSITIONS: Record<Status, readonly Status[]> = {
  idle: ["connecting", "closed"],
  connecting: ["authenticating", "offline", "closed"],
  authenticating: ["syncing", "offline", "closed"],
  syncing: ["live", "offline", "closed"],
  live: ["syncing", "offline", "closed"],
  offline: ["connecting", "closed"],
  closed: [],
};

export const canTransition = (from: Status, to: Status): boolean => TRANSITIONS[from].includes(to);

export class StatusError extends Error {
  override readonly name = "StatusError";
  readonly from: Status;
  readonly to: Status;

  constructor(from: Status, to: Status) {
    super(`connection status cannot go from ${from} to ${to}`);
    this.from = from;
    this.to = to;
  }
}
