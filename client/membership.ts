// Reading the membership log. Only operations this client could verify count: its own, and others' up to
// a checkpoint signature that verifies against the chain held (doc.ts: verifiedTransactions), so a relay
// cannot make members() report a role no admin signed.
import { agentOfSession, parseMemberOp, replayMembers, type AgentId, type Role } from "../protocol/index.ts";
import type { Doc } from "./doc.ts";

/** Every member and role, replayed from the verified operations of the membership log `log`. */
export function membersOf(log: Doc): Map<AgentId, Role> {
  if (!log.header) return new Map();
  const ops = log.verifiedTransactions().flatMap((transaction) => {
    const op = parseMemberOp(transaction.data);
    return op ? [{ author: agentOfSession(transaction.session), op }] : [];
  });
  return replayMembers(log.header.creator, ops);
}
