// Who may do what in a group. Membership is itself a document of kind MEMBERS_KIND whose transactions are
// membership operations signed by admins; every client can replay it to check who may do what.
import * as v from "valibot";
import { isAgentId, type AgentId, type DocHeader } from "./ids.ts";

export const ROLES = ["admin", "writer", "reader"] as const;
export type Role = (typeof ROLES)[number];

/** The document kind of a group's membership log. A group has at most one, created at its genesis. */
export const MEMBERS_KIND = "weft/members";

export type Action = "read" | "write" | "create" | "delete" | "manage";

const ALLOWED: Record<Role, readonly Action[]> = {
  admin: ["read", "write", "create", "delete", "manage"],
  writer: ["read", "write", "create"],
  reader: ["read"],
};

export const can = (role: Role | undefined, action: Action): boolean => role !== undefined && ALLOWED[role].includes(action);

/**
 * Whether an agent may read a document: admins read everything; a document whose header lists
 * `readers` is visible only to them and its creator; any other document to every member.
 */
export function mayRead(role: Role | undefined, agent: AgentId, header: DocHeader): boolean {
  if (!can(role, "read")) return false;
  if (role === "admin" || !header.readers) return true;
  return header.creator === agent || header.readers.includes(agent);
}

/**
 * Whether an agent may publish a snapshot of a document: its creator and the group's admins, while they may
 * write it. A snapshot stands for every writer's signed history, and the relay cannot check its data
 * against them; once stored it is what loaders start from and what pruning replaces them with. So only an
 * agent the document already trusts with all of it may vouch for it: the creator (whose readers' list and
 * life it decides) and an admin (who may delete it anyway). In a group without a membership log the role is
 * the token's (writer without one), so there it is the creator and agents whose token says admin.
 */
export function maySnapshot(role: Role | undefined, agent: AgentId, header: DocHeader): boolean {
  if (!mayRead(role, agent, header) || !can(role, "write")) return false;
  return role === "admin" || header.creator === agent;
}

const agent = v.custom<AgentId>((value) => typeof value === "string" && isAgentId(value), "bad agent id");

/** One membership operation: the `data` of a transaction in the membership log, as JSON. */
export const memberOpSchema = v.variant("op", [
  v.object({ op: v.literal("set"), agent, role: v.picklist(ROLES) }),
  v.object({ op: v.literal("remove"), agent }),
]);
export type MemberOp = v.InferOutput<typeof memberOpSchema>;

export function parseMemberOp(data: string | Uint8Array): MemberOp | undefined {
  if (typeof data !== "string") return undefined; // an operation is JSON text
  try {
    const result = v.safeParse(memberOpSchema, JSON.parse(data));
    return result.success ? result.output : undefined;
  } catch {
    return undefined;
  }
}

/** The log's order, which the relay enforces and every replay follows: by `at`, then session, then index. */
export function logOrder(a: { at: number; session: string; index: number }, b: { at: number; session: string; index: number }): number {
  return a.at - b.at || (a.session < b.session ? -1 : a.session > b.session ? 1 : a.index - b.index);
}

/**
 * Replays membership operations in log order (logOrder). The genesis header's creator starts as the only
 * admin. Operations an admin could not make are skipped, exactly as the relay refused them; the group never
 * loses its last admin.
 */
export function replayMembers(creator: AgentId, ops: readonly { author: AgentId; op: MemberOp }[]): Map<AgentId, Role> {
  return replayMembership(creator, ops).members;
}

/** replayMembers, and the agents whose last operation that took effect removed them. */
export function replayMembership(creator: AgentId, ops: readonly { author: AgentId; op: MemberOp }[]): { members: Map<AgentId, Role>; removed: Set<AgentId> } {
  const members = new Map<AgentId, Role>([[creator, "admin"]]);
  const removed = new Set<AgentId>();
  for (const { author, op } of ops) {
    if (applyMemberOp(members, author, op) !== undefined) continue;
    if (op.op === "remove") removed.add(op.agent);
    else removed.delete(op.agent);
  }
  return { members, removed };
}

/** Applies one operation if `author` may make it; returns an explanation when it may not. */
export function applyMemberOp(members: Map<AgentId, Role>, author: AgentId, op: MemberOp): string | undefined {
  if (members.get(author) !== "admin") return "only an admin may change membership";
  const admins = [...members.values()].filter((role) => role === "admin").length;
  const losesAdmin = members.get(op.agent) === "admin" && (op.op === "remove" || op.role !== "admin");
  if (losesAdmin && admins === 1) return "a group keeps at least one admin";
  if (op.op === "remove") members.delete(op.agent);
  else members.set(op.agent, op.role);
  return undefined;
}
