// The default LocalStore: keeps documents in memory for the life of the client.
import type { AgentId, DocId, SessionId } from "../../protocol/index.ts";
import { applyChanges, type DocChanges, type LocalStore, type StoredDoc } from "./local-store.ts";

export class MemoryLocalStore implements LocalStore {
  readonly #sessions = new Map<AgentId, SessionId>();
  readonly #groups = new Map<string, Map<DocId, StoredDoc>>();

  async loadSession(agent: AgentId): Promise<SessionId | undefined> {
    return this.#sessions.get(agent);
  }

  async saveSession(agent: AgentId, session: SessionId): Promise<void> {
    this.#sessions.set(agent, session);
  }

  async loadGroup(group: string): Promise<StoredDoc[]> {
    return [...(this.#groups.get(group)?.values() ?? [])].map((doc) => structuredClone(doc));
  }

  async save(group: string, doc: DocId, changes: DocChanges): Promise<void> {
    let docs = this.#groups.get(group);
    if (!docs) this.#groups.set(group, (docs = new Map()));
    let stored = docs.get(doc);
    if (!stored) {
      if (!changes.header) return; // nothing to anchor transactions to yet
      docs.set(doc, (stored = { id: doc, header: changes.header, sessions: {} }));
    }
    applyChanges(stored, structuredClone(changes));
  }

  async close(): Promise<void> {}
}
