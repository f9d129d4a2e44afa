// Who may do what: a peer's role, and what a write to the membership log changes. Pure, like the core.
import { applyMemberOp, parseMemberOp, type AgentId, type Role } from "../../protocol/index.ts";
import type { ReadyPeer } from "./effects.ts";
import type { LogPosition, MemberChange, SessionAppend, StoreReader, Write } from "./store.ts";

/** A peer's role: from its token, else from the membership log; in a group without one, everyone writes. */
export function roleOf(peer: ReadyPeer, store: StoreReader): Role | undefined {
  if (peer.token) return peer.token.role;
  if (!store.info().membersDoc) return "writer";
  return store.role(peer.agent);
}

/**
 * The role changes a write to the membership log makes, replayed on the current members; a string
 * explains why the whole write is refused. Operations must not go back in time, so the relay's order
 * (by `at`, then session, then index) is the order every client replays.
 */
export function membershipChanges(creator: AgentId, genesis: boolean, author: AgentId, pending: SessionAppend[], store: StoreReader): Write["members"] | string {
  const before = genesis ? new Map<AgentId, Role>() : store.members();
  const members = genesis ? new Map<AgentId, Role>([[creator, "admin"]]) : new Map(before);
  let last: LogPosition = genesis ? { at: 0, session: "" } : store.info().membersLast;
  // Within a session, operations must not go back in time (sorting would reorder them otherwise).
  for (const append of pending) {
    if (append.transactions.some((transaction, index) => index > 0 && transaction.at < append.transactions[index - 1]!.at)) {
      return "membership operations must not go back in time";
    }
  }
  // Apply in the order every client replays the log: by `at`, then session, then index.
  const ops = pending
    .flatMap((append) => append.transactions.map((transaction, index) => ({ ...transaction, session: append.session, index })))
    .sort((a, b) => a.at - b.at || (a.session < b.session ? -1 : a.session > b.session ? 1 : a.index - b.index));
  for (const transaction of ops) {
    if (transaction.at < last.at || (transaction.at === last.at && transaction.session < last.session)) {
      return "membership operations must not go back in time: each sorts after the newest one (by at, then session)";
    }
    const op = parseMemberOp(transaction.data);
    if (!op) return 'a membership operation is {"op":"set","agent":…,"role":…} or {"op":"remove","agent":…}';
    const problem = applyMemberOp(members, author, op);
    if (problem) return problem;
    last = { at: transaction.at, session: transaction.session };
  }
  const changes: MemberChange[] = [];
  for (const [agent, role] of members) if (before.get(agent) !== role) changes.push({ agent, role });
  for (const agent of before.keys()) if (!members.has(agent)) changes.push({ agent, role: null });
  return { changes, genesis, last };
}

