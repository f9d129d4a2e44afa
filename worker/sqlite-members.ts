// SqliteStore's members: each agent's role from the membership log (`members`), and the agents it removed
// (`removed_members`), cached until a write to the log changes them.
import type { AgentId, Role } from "../protocol/index.ts";
import type { MemberChange } from "./core/store.ts";

export class MemberRows {
  readonly #sql: SqlStorage;
  #roles: Map<AgentId, Role> | undefined;
  #removed: Set<AgentId> | undefined;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** Every member's role (removed agents are not members); the caller must not change it. */
  roles(): ReadonlyMap<AgentId, Role> {
    this.#roles ??= new Map(this.#sql.exec<{ agent: AgentId; role: Role }>("SELECT agent, role FROM members").toArray().map((row) => [row.agent, row.role]));
    return this.#roles;
  }

  /** The agents the log removed and has not set a role for since. */
  removed(): ReadonlySet<AgentId> {
    this.#removed ??= new Set(this.#sql.exec<{ agent: AgentId }>("SELECT agent FROM removed_members").toArray().map((row) => row.agent));
    return this.#removed;
  }

  /** Stores the log's changes, inside the caller's transaction (forget() after it, whether it held or not). */
  apply(changes: readonly MemberChange[]): void {
    for (const change of changes) {
      if (change.role) {
        this.#sql.exec("INSERT INTO members (agent, role) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET role = excluded.role", change.agent, change.role);
        this.#sql.exec("DELETE FROM removed_members WHERE agent = ?", change.agent);
      } else {
        this.#sql.exec("DELETE FROM members WHERE agent = ?", change.agent);
        this.#sql.exec("INSERT OR IGNORE INTO removed_members (agent) VALUES (?)", change.agent);
      }
    }
  }

  /** Remembers agents found removed by replaying the log (groups stored before removals were kept). */
  rememberRemoved(agents: Iterable<AgentId>): void {
    for (const agent of agents) this.#sql.exec("INSERT OR IGNORE INTO removed_members (agent) VALUES (?)", agent);
    this.#removed = undefined;
  }

  /** Drops what is cached: the next read comes from storage. */
  forget(): void {
    this.#roles = undefined;
    this.#removed = undefined;
  }
}
