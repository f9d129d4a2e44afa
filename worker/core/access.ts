// Who may do what: a peer's role, and what a write to the membership log changes. Pure, like the core.
import { applyMemberOp, logOrder, mayRead, parseMemberOp, type AgentId, type DocId, type Role } from "../../protocol/index.ts";
import type { ReadyPeer } from "./peer-records.ts";
import type { LogPosition, MemberChange, SessionAppend, StoreReader, Write } from "./store.ts";

/** A peer's role: in a group without a membership log, its token's, else writer; with one, see roleUnderLog. */
export function roleOf(peer: ReadyPeer, store: StoreReader): Role | undefined {
  const info = store.info();
  if (!info.membersDoc) return peer.token?.role ?? "writer";
  const logged = store.role(peer.agent);
  // Removals are read only for an agent the log does not name: members never need them.
  return roleUnderLog(peer.token?.role, logged, logged === undefined && info.removed.has(peer.agent));
}

/**
 * How a deleted document is refused to an agent that names it: as deleted to whoever may read it (its
 * tombstone keeps the creator and readers), as any document it may not read to anyone else, so a member
 * left out learns nothing of its deletion. Undefined for a document that is not deleted.
 */
export function deletionRefusal(role: Role | undefined, agent: AgentId, doc: DocId, store: StoreReader): { code: "doc_deleted" | "forbidden"; reason: string } | undefined {
  if (!store.deleted(doc)) return undefined;
  const tombstone = store.tombstone(doc);
  if (tombstone && !mayRead(role, agent, tombstone)) return { code: "forbidden", reason: "this agent may not read this document" };
  return { code: "doc_deleted", reason: "this document was deleted" };
}

const RANK: Record<Role, number> = { reader: 0, writer: 1, admin: 2 };

/**
 * The role of an agent in a group with a membership log, from its token's role (if it has one), its role
 * in the log, and whether the log removed it. The log may lower or revoke what a token grants, never
 * raise it: an agent the log names gets the lower of the two; one it removed gets nothing, token or not,
 * until an admin sets a role for it again; one it never named gets its token's role (an app's own users).
 */
export function roleUnderLog(token: Role | undefined, logged: Role | undefined, removed: boolean): Role | undefined {
  if (logged) return token !== undefined && RANK[token] < RANK[logged] ? token : logged;
  return removed ? undefined : token;
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
    .sort(logOrder);
  // Agents whose last operation here removes them: remembered as removed even if they were never members.
  const removedHere = new Set<AgentId>();
  for (const transaction of ops) {
    if (transaction.at < last.at || (transaction.at === last.at && transaction.session < last.session)) {
      return "membership operations must not go back in time: each sorts after the newest one (by at, then session)";
    }
    const op = parseMemberOp(transaction.data);
    if (!op) return 'a membership operation is {"op":"set","agent":…,"role":…} or {"op":"remove","agent":…}';
    const problem = applyMemberOp(members, author, op);
    if (problem) return problem;
    if (op.op === "remove") removedHere.add(op.agent);
    else removedHere.delete(op.agent);
    last = { at: transaction.at, session: transaction.session };
  }
  const changes: MemberChange[] = [];
  for (const [agent, role] of members) if (before.get(agent) !== role) changes.push({ agent, role });
  for (const agent of before.keys()) if (!members.has(agent)) changes.push({ agent, role: null });
  const removedBefore = genesis ? new Set<AgentId>() : store.info().removed;
  for (const agent of removedHere) if (!before.has(agent) && !removedBefore.has(agent)) changes.push({ agent, role: null });
  return { changes, genesis, last };
}

