// The membership log, read and changed. Only operations this client could verify count: its own, and
// others' up to a checkpoint signature that verifies against the chain held (doc.ts: verifiedTransactions),
// so a relay cannot make members() report a role no admin signed. A change is refused here, at once, for
// what the relay would refuse, and appended once the log is known.
import { MAX_CLOCK_AHEAD_MS, ROLES, agentOfSession, applyMemberOp, isAgentId, parseMemberOp, replayMembers, type AgentId, type DocId, type MemberOp, type Role, type SessionId } from "../protocol/index.ts";
import type { Doc } from "./doc.ts";
import { LocalRefusalError, abortReason } from "./errors.ts";
import { checkMemberOp, checkRoleMay, shown } from "./local-checks.ts";
import { unlessAborted } from "./store-load.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

/** What the membership operations need of their group. */
export type MembershipHost = WelcomeWatch & {
  readonly id: string;
  readonly ready: Promise<void>;
  /** The membership log's id, once the group has one. */
  membersDoc(): DocId | undefined;
  /** This agent's role as the relay last said it (or the store kept it). */
  role(): Role | undefined;
  /** The relay's time as this client has it: what a write is stamped with. */
  now(): number;
  /** The session this client writes as. */
  readonly session: SessionId;
  open(id: DocId, options: { signal?: AbortSignal }): Promise<Doc>;
  /** Received operations whose signatures did not verify. */
  unverified(doc: DocId, sessions: SessionId[]): void;
};

/**
 * Changes the membership log: refuses what the relay would before waiting for anything (a bad agent id or
 * role, a role that may not manage members, a closed group), then appends the operation once the log is known.
 */
export async function changeMembers(host: MembershipHost, op: MemberOp, what: "setRole" | "removeMember", signal?: AbortSignal): Promise<void> {
  const closed = host.closed();
  if (closed) throw closed;
  // The app's arguments, told as such: a misspelt role is not a permission the relay withholds.
  if (!isAgentId(op.agent)) throw new ArgumentError(`${what}: the agent must be an agent id (an identity's agent), not ${shown(op.agent)}`);
  if (op.op === "set" && !(ROLES as readonly unknown[]).includes(op.role)) throw new ArgumentError(`${what}: the role must be one of ${ROLES.map((role) => `"${role}"`).join(", ")}, not ${shown(op.role)}`);
  const data = JSON.stringify(op);
  checkMemberOp(data, what);
  // Refused for the role every member has in an open group: the cause to tell is the missing log.
  if (host.welcomed() && !host.membersDoc()) {
    throw new LocalRefusalError("forbidden", `${what}: group ${host.id} has no membership log, so every member is a writer, and a writer may not change membership: call createMembers() first (its caller becomes the first admin)`);
  }
  checkRoleMay(host.role(), "manage", what);
  const madeAt = host.now();
  const log = await membersLog(host, signal);
  checkRoleMay(host.role(), "manage", what);
  if (signal?.aborted) throw abortReason(signal);
  // Made before the log was at hand (offline, say), it would be stamped after what the log brought: another
  // admin's change made since would be overwritten by an older one. Refused, as the relay refuses an
  // operation made offline that another admin's newer one overtook. A time past what the relay takes (stored
  // before it refused such times) was made at no time: the log goes on right after it (nextAt).
  const held = log.transactions();
  const overtaken = held.some((transaction) => transaction.session !== host.session && transaction.at > madeAt && transaction.at <= madeAt + MAX_CLOCK_AHEAD_MS);
  if (overtaken) throw new LocalRefusalError("forbidden", `${what}: another admin changed membership after this operation was made (offline?): not applied, so as not to undo that newer change`);
  // The last admin leaving: refused here as the relay would, on every operation the log holds (verified or not).
  if (applyMemberOp(replayedMembers(log, held), agentOfSession(host.session), op) === LAST_ADMIN) throw new LocalRefusalError("forbidden", `${what}: ${LAST_ADMIN}`);
  log.append(data);
  await log.synced(signal ? { signal } : {});
}

/** Every member and role, replayed from the membership operations whose signatures this client verified. */
export async function verifiedMembers(host: MembershipHost, signal: AbortSignal | undefined): Promise<Map<AgentId, Role>> {
  // Closed first, as every other call: though the log is held here, and before "no membership log".
  const closed = host.closed();
  if (closed) throw closed;
  const log = await membersLog(host, signal);
  const failed = await log.verifyReceived();
  if (failed.length > 0) host.unverified(log.id, failed);
  return membersOf(log);
}

/** The membership log, opened; a log not held here may still exist: the relay names it in its welcome (waited for while offline). */
async function membersLog(host: MembershipHost, signal?: AbortSignal): Promise<Doc> {
  await unlessAborted(host.ready, signal);
  if (!host.membersDoc() && !host.welcomed()) await whenWelcomed(host, signal);
  const id = host.membersDoc();
  // The relay would refuse a write to a log it lacks as unknown_doc: the same code, before anything is sent.
  if (!id) throw new LocalRefusalError("unknown_doc", `group ${host.id} has no membership log: call createMembers() first`);
  return host.open(id, signal ? { signal } : {});
}

/** Every member and role, replayed from the verified operations of the membership log `log`. */
export function membersOf(log: Doc): Map<AgentId, Role> {
  return replayedMembers(log, log.verifiedTransactions());
}

const LAST_ADMIN = "a group keeps at least one admin";

/** Every member and role, replayed from `transactions` of the membership log `log`. */
function replayedMembers(log: Doc, transactions: readonly { data: string | Uint8Array; session: SessionId }[]): Map<AgentId, Role> {
  if (!log.header) return new Map();
  const ops = transactions.flatMap((transaction) => {
    const op = parseMemberOp(transaction.data);
    return op ? [{ author: agentOfSession(transaction.session), op }] : [];
  });
  return replayMembers(log.header.creator, ops);
}

/** A group as whenWelcomed watches it. */
export type WelcomeWatch = {
  /** The relay has welcomed the client. */
  welcomed(): boolean;
  /** Why the group closed for good, once it did. */
  closed(): Error | undefined;
  onStatus(listener: () => void): () => void;
};

/** Resolves once the relay has welcomed the group's client; rejects once the group closes, or `signal` aborts. */
export function whenWelcomed(group: WelcomeWatch, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (group.welcomed()) return finish();
      const closed = group.closed();
      if (closed) finish(closed);
      else if (signal?.aborted) finish(abortReason(signal));
    };
    const finish = (error?: Error) => {
      off();
      signal?.removeEventListener("abort", check);
      if (error) reject(error);
      else resolve();
    };
    const off = group.onStatus(() => queueMicrotask(check));
    signal?.addEventListener("abort", check, { once: true });
    check();
  });
}
