// The default LocalStore: keeps documents in memory for the life of the client.
import type { AgentId, DocId, Role, SessionId } from "../../protocol/index.ts";
import { applyChanges, type DocChanges, type LocalStore, type SaveResult, type SessionCut, type StoredDoc, type UnsentListener } from "./local-store.ts";
import { UnsentListeners } from "./unsent-listeners.ts";
import { inRealmLocks, leaseSession, type LeaseRequest, type SessionLease } from "./session-pool.ts";

export class MemoryLocalStore implements LocalStore {
  /** What error messages call it (describe, protocol/messages.ts): a bundler's minifier renames the class, not this. */
  get [Symbol.toStringTag](): string {
    return "MemoryLocalStore";
  }

  readonly #locks = inRealmLocks(new Map<AgentId, SessionId[]>());
  readonly #groups = new Map<string, Map<DocId, StoredDoc>>();
  readonly #unsent = new UnsentListeners();
  /** Roles by group, then agent. */
  readonly #roles = new Map<string, Map<AgentId, Role>>();

  leaseSession(agent: AgentId, request: LeaseRequest): Promise<SessionLease> {
    return leaseSession(this.#locks, agent, request);
  }

  async loadGroup(group: string): Promise<StoredDoc[]> {
    // Fresh arrays, shared transactions: a caller extending a log never changes what is stored.
    return [...(this.#groups.get(group)?.values() ?? [])].map((doc) => ({
      ...doc,
      sessions: Object.fromEntries(Object.entries(doc.sessions).map(([session, log]) => [session, [...log]])),
    }));
  }

  async save(group: string, doc: DocId, changes: DocChanges): Promise<SaveResult> {
    let docs = this.#groups.get(group);
    if (!docs) this.#groups.set(group, (docs = new Map()));
    let stored = docs.get(doc);
    if (!stored) {
      if (!changes.header) return "missing"; // removed by a client sharing the instance: nothing to anchor them to
      docs.set(doc, (stored = { id: doc, header: changes.header, sessions: {} }));
    }
    // Transactions are never mutated once made, so the store may share them with the document.
    applyChanges(stored, changes);
  }

  async remove(group: string, doc: DocId): Promise<void> {
    this.#groups.get(group)?.delete(doc);
  }

  async cutSession(group: string, doc: DocId, cut: SessionCut): Promise<void> {
    const stored = this.#groups.get(group)?.get(doc);
    if (stored) applyChanges(stored, { appends: [], cuts: [cut] });
  }

  async close(): Promise<void> {}

  async saveRole(group: string, agent: AgentId, role: Role): Promise<void> {
    let roles = this.#roles.get(group);
    if (!roles) this.#roles.set(group, (roles = new Map()));
    roles.set(agent, role);
  }

  async loadRole(group: string, agent: AgentId): Promise<Role | undefined> {
    return this.#roles.get(group)?.get(agent);
  }

  async announceUnsent(group: string, docs: DocId[]): Promise<void> {
    // Heard later, as another tab or process would hear it (a microtask: no timer outlives a closed client).
    queueMicrotask(() => this.#unsent.tell({ group, docs }));
  }

  onUnsent(listener: UnsentListener): () => void {
    return this.#unsent.add(listener);
  }
}
