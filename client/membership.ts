// Reading the membership log. Only operations this client could verify count: its own, and others' up to
// a checkpoint signature that verifies against the chain held (doc.ts: verifiedTransactions), so a relay
// cannot make members() report a role no admin signed.
import { agentOfSession, parseMemberOp, replayMembers, type AgentId, type Role } from "../protocol/index.ts";
import type { Doc } from "./doc.ts";
import { abortReason } from "./errors.ts";

/** Every member and role, replayed from the verified operations of the membership log `log`. */
export function membersOf(log: Doc): Map<AgentId, Role> {
  if (!log.header) return new Map();
  const ops = log.verifiedTransactions().flatMap((transaction) => {
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
