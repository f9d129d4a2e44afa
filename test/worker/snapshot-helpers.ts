// Helpers for the snapshot and pruning tests: signed snapshots, and waiting for the alarm to finish pruning.
import { signSnapshot, type DocId, type SessionCounts, type SnapshotMessage } from "../../protocol/index.ts";
import type { TestAgent } from "../support/identity.ts";
import { sqlRows } from "./socket.ts";

/** A snapshot of `doc` signed by `who` (as `session`, its own by default). */
export function snapshotOf(who: TestAgent, doc: DocId, covers: SessionCounts, data: SnapshotMessage["data"], session = who.session): SnapshotMessage {
  return { type: "snapshot", doc, session, covers, data, signature: signSnapshot(who.secretKey, doc, session, covers, data) };
}

/** Waits until every snapshot of the group has been pruned (the alarm does it in slices). */
export async function prunedAll(group: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const left = await sqlRows<{ n: number }>(group, "SELECT count(*) AS n FROM snapshots WHERE prune_after IS NOT NULL");
    if (left[0]!.n === 0) return;
    if (Date.now() > deadline) throw new Error("pruning did not finish");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
