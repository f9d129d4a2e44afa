// What the store will hold once some writes, judged but not yet committed, are: the relay core judges each
// `content` message of a frame against the storage the ones before it leave, so the frame's writes can be
// verified and committed together (relay.ts). A StoreReader over the real store, with the staged writes'
// headers, session heads, session counts and agents' usage laid over it. Writes to the membership log are
// never staged (they change roles, which this view does not follow): they are committed on their own.
import type { AgentId, DocHeader, DocId, KnownState, Role, SessionId } from "../../protocol/index.ts";
import { agentOfSession } from "../../protocol/index.ts";
import { appendQuotaBytes, type AgentUsage, type GroupInfo, type PeerId, type SessionHead, type SnapshotHead, type StoreReader, type Write } from "./store.ts";

export class StagedWrites implements StoreReader {
  readonly #base: StoreReader;
  readonly #headers = new Map<DocId, DocHeader>();
  /** Heads by `<doc> <session>`. */
  readonly #heads = new Map<string, SessionHead>();
  readonly #newSessions = new Map<DocId, number>();
  /** New sessions by `<doc> <agent>`. */
  readonly #newAgentSessions = new Map<string, number>();
  /** What the staged writes add to each agent's usage. */
  readonly #usage = new Map<AgentId, AgentUsage>();

  constructor(base: StoreReader) {
    this.#base = base;
  }

  /** Lays a write over the view, as if it were committed. */
  stage(write: Write): void {
    if (write.members) throw new Error("a write to the membership log is not staged");
    if (write.header) this.#headers.set(write.doc, write.header);
    let newSessions = 0;
    for (const append of write.appends) {
      if (append.after === 0) {
        newSessions++;
        const key = `${write.doc} ${agentOfSession(append.session)}`;
        this.#newAgentSessions.set(key, (this.#newAgentSessions.get(key) ?? 0) + 1);
      }
      this.#heads.set(`${write.doc} ${append.session}`, { count: append.after + append.transactions.length, lastHash: append.lastHash });
      this.#added(agentOfSession(append.session)).bytes += appendQuotaBytes(append);
    }
    this.#newSessions.set(write.doc, (this.#newSessions.get(write.doc) ?? 0) + newSessions);
    if (write.header || newSessions > 0) {
      const usage = this.#added(write.header?.creator ?? agentOfSession(write.appends[0]!.session));
      usage.docs += write.header ? 1 : 0;
      usage.sessions += newSessions;
    }
  }

  /** Forgets every staged write: they were committed, or are to be judged again. */
  clear(): void {
    this.#headers.clear();
    this.#heads.clear();
    this.#newSessions.clear();
    this.#newAgentSessions.clear();
    this.#usage.clear();
  }

  #added(agent: AgentId): AgentUsage {
    let usage = this.#usage.get(agent);
    if (!usage) this.#usage.set(agent, (usage = { docs: 0, sessions: 0, bytes: 0 }));
    return usage;
  }

  info(): GroupInfo {
    return this.#base.info();
  }

  role(agent: AgentId): Role | undefined {
    return this.#base.role(agent);
  }

  members(): Map<AgentId, Role> {
    return this.#base.members();
  }

  header(doc: DocId): DocHeader | undefined {
    return this.#headers.get(doc) ?? this.#base.header(doc);
  }

  deleted(doc: DocId): boolean {
    return !this.#headers.has(doc) && this.#base.deleted(doc);
  }

  tombstone(doc: DocId): DocHeader | undefined {
    return this.#headers.has(doc) ? undefined : this.#base.tombstone(doc);
  }

  hasRestrictedDocs(): boolean {
    return this.#base.hasRestrictedDocs() || [...this.#headers.values()].some((header) => header.readers !== undefined);
  }

  knownState(doc: DocId): KnownState {
    const known = this.#base.knownState(doc);
    const sessions = { ...known.sessions };
    for (const [key, head] of this.#heads) {
      const space = key.indexOf(" ");
      if (key.slice(0, space) === doc) sessions[key.slice(space + 1) as SessionId] = head.count;
    }
    return { header: known.header || this.#headers.has(doc), sessions };
  }

  sessionHead(doc: DocId, session: SessionId): SessionHead | undefined {
    return this.#heads.get(`${doc} ${session}`) ?? this.#base.sessionHead(doc, session);
  }

  sessionCount(doc: DocId): number {
    return this.#base.sessionCount(doc) + (this.#newSessions.get(doc) ?? 0);
  }

  agentSessionCount(doc: DocId, agent: AgentId): number {
    return this.#base.agentSessionCount(doc, agent) + (this.#newAgentSessions.get(`${doc} ${agent}`) ?? 0);
  }

  usage(agent: AgentId): AgentUsage {
    const stored = this.#base.usage(agent);
    const added = this.#usage.get(agent);
    return added ? { docs: stored.docs + added.docs, sessions: stored.sessions + added.sessions, bytes: stored.bytes + added.bytes } : stored;
  }

  subscribers(doc: DocId): PeerId[] {
    return this.#base.subscribers(doc);
  }

  docSubscribers(doc: DocId): PeerId[] {
    return this.#base.docSubscribers(doc);
  }

  snapshotHead(doc: DocId): SnapshotHead | undefined {
    // A document the staged writes create has no snapshot yet.
    return this.#headers.has(doc) ? undefined : this.#base.snapshotHead(doc);
  }
}
