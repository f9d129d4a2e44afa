// A client whose local store lives no longer than it (the default, in memory) keeps nothing for a next
// run: before it closes, what its groups hold unsent goes up while they can send it.
import type { Status } from "./status.ts";

/** What a group shows of itself for this wait (group.ts). */
export interface Sending {
  readonly status: Status;
  synced(options: { signal?: AbortSignal }): Promise<void>;
  onStatus(listener: (status: Status) => void): () => void;
}

/** Statuses in which the group is connected, or on its way to it: writes it holds go up. */
const SENDING: readonly Status[] = ["connecting", "authenticating", "syncing", "live"];

/**
 * Resolves once the relay confirmed every write `group` holds, or the group cannot send them now (offline,
 * disconnected by the app, closed), or `signal` aborts; never rejects (a refusal was told as it came).
 */
export function sentOrCutOff(group: Sending, signal: AbortSignal | undefined): Promise<void> {
  if (!SENDING.includes(group.status) || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stopHearing();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const stopHearing = group.onStatus((status) => void (SENDING.includes(status) || done()));
    signal?.addEventListener("abort", done, { once: true });
    group.synced({}).then(done, done);
  });
}
