// A group as one client sees it: one connection, the documents opened in it, and the traffic between.
import {
  MEMBERS_KIND,
  agentOfSession,
  digestOf,
  docIdOf,
  newHeader,
  parseMemberOp,
  replayMembers,
  type AgentId,
  type DirEntry,
  type DocId,
  type DocMeta,
  type ErrorMessage,
  type MemberOp,
  type Role,
  type ServerMessage,
  type SessionId,
  type Welcome,
} from "../protocol/index.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import { Doc } from "./doc.ts";
import { OrphanTails } from "./orphan-tails.ts";
import type { Identity } from "./identity.ts";
import type { Status } from "./status.ts";
import type { LocalStore } from "./storage/local-store.ts";

export type GroupOptions = Omit<ConnectionOptions, "group" | "identity" | "session">;

/** An error the relay reported about one document or the connection. */
export class RelayError extends Error {
  override readonly name = "RelayError";
  readonly code: ErrorMessage["code"];
  readonly doc: DocId | undefined;

  constructor(error: ErrorMessage) {
    super(`${error.code}: ${error.message}`);
    this.code = error.code;
    this.doc = error.doc;
  }
}

/** An answer to `directory()`: what changed since the cursor asked about. */
export type Directory = {
  docs: DirEntry[];
  /** Pass as `since` to hear only of later changes. */
  cursor: number;
  /** True when the relay holds exactly what this client holds (digests matched); `docs` is then empty. */
  inSync: boolean;
};

type Waiter<T> = { resolve: (value: T) => void; reject: (error: Error) => void };

export class Group {
  readonly id: string;
  readonly identity: Identity;
  readonly session: SessionId;
  readonly connection: Connection;
  /** Resolves once the documents saved on this device are loaded; the connection opens after it. */
  readonly ready: Promise<void>;
  /** This agent's role in the group, as of the last handshake. */
  role: Role | undefined;
  /** The group's membership log, once it has one. */
  membersDoc: DocId | undefined;
  readonly #store: LocalStore;
  readonly #docs = new Map<DocId, Doc>();
  /** Documents with changes to save locally or push to the relay. */
  readonly #dirty = new Set<Doc>();
  /** Documents whose load the relay has not answered yet: the group is live when this is empty. */
  readonly #unloaded = new Set<Doc>();
  /** Documents whose load went out on the current socket, so a second `open` does not ask again. */
  readonly #requested = new Set<Doc>();
  /** The local store's documents are tracked: a resume can say what this client holds. */
  #restored = false;
  readonly #statusListeners = new Set<(status: Status, reason?: string) => void>();
  readonly #errorListeners = new Set<(error: RelayError) => void>();
  #directory: { request: { since?: number; digest?: string }; entries: DirEntry[]; waiters: Waiter<Directory>[] } | undefined;
  #openAll: Waiter<Doc[]>[] = [];
  /** The whole group was opened: every reconnect opens it again. */
  #openedWhole = false;
  readonly #deletes = new Map<DocId, Waiter<void>[]>();
  #flushScheduled = false;
  /** Unsent writes of this agent's sessions that no client holds (orphan-tails.ts). */
  readonly #orphans: OrphanTails;
  #flushing: Promise<void> | undefined;

  constructor(id: string, identity: Identity, session: SessionId, store: LocalStore, options: GroupOptions) {
    this.id = id;
    this.identity = identity;
    this.session = session;
    this.#store = store;
    this.#orphans = new OrphanTails(identity, session);
    this.connection = new Connection(
      { ...options, group: id, identity, session },
      {
        onHello: () => this.#restored && this.#resume(),
        onReady: (welcome) => this.#onReady(welcome),
        onMessage: (message) => this.#onMessage(message),
        onDown: () => this.#onDown(),
        onStatus: (status, reason) => {
          for (const listener of this.#statusListeners) listener(status, reason);
          if (status === "closed") this.#failWaiters(new Error(`group ${id} is closed: ${reason ?? ""}`));
        },
      },
    );
    // The socket opens while the store loads, so a resume pays for the slower of the two, not both. A
    // microtask later, so that status listeners added right after client.group() hear "connecting".
    queueMicrotask(() => this.connection.start());
    this.ready = this.#restore();
  }

  async #restore(): Promise<void> {
    await Promise.resolve(); // after the socket starts: a store that reads synchronously must not delay it
    for (const stored of await this.#store.loadGroup(this.id)) {
      const doc = this.#docs.get(stored.id) ?? this.#track(stored.id, stored.header);
      doc.restore(stored);
    }
    this.#restored = true;
    if (this.connection.canSend) this.#resume();
  }

  get status(): Status {
    return this.connection.status;
  }

  /** Documents this client holds in the group. */
  get docs(): Doc[] {
    return [...this.#docs.values()].filter((doc) => doc.header && !doc.deleted);
  }

  /**
   * Creates a document in this group. It exists locally at once and reaches the relay when connected.
   * `readers`, if given, limits who may see it (with its creator and the group's admins).
   */
  create(options: { kind?: string; meta?: DocMeta; readers?: AgentId[] } = {}): Doc {
    const header = newHeader({
      group: this.id,
      kind: options.kind ?? "json",
      creator: this.identity.agent,
      createdAt: Date.now(),
      meta: options.meta ?? {},
      ...(options.readers ? { readers: options.readers } : {}),
    });
    const doc = this.#track(docIdOf(header), header);
    this.#load(doc);
    this.#markDirty(doc);
    return doc;
  }

  /**
   * Opens a document by id. One saved on this device resolves at once, without the network, and
   * catches up in the background; otherwise this waits until the relay has sent what it holds.
   */
  async open(id: DocId): Promise<Doc> {
    await this.ready;
    const doc = this.#docs.get(id) ?? this.#track(id, undefined);
    this.#load(doc);
    if (!doc.header) await doc.loaded();
    return doc;
  }

  /**
   * Opens every document of the group this agent may read, over this one socket: the relay streams
   * what this client lacks of each, in bounded frames. Later documents arrive live.
   */
  async openAll(): Promise<Doc[]> {
    await this.ready;
    this.#openedWhole = true;
    return new Promise((resolve, reject) => {
      this.#openAll.push({ resolve, reject });
      if (this.#openAll.length === 1) this.#sendOpen();
    });
  }

  /** Deletes a document for everyone (admins only); resolves when the relay has done it. */
  async delete(id: DocId): Promise<void> {
    await this.ready;
    return new Promise((resolve, reject) => {
      const waiters = this.#deletes.get(id) ?? [];
      waiters.push({ resolve, reject });
      this.#deletes.set(id, waiters);
      this.connection.send({ type: "delete", doc: id });
    });
  }

  /** Resolves when every change so far is saved locally and acknowledged by the relay. */
  async synced(): Promise<void> {
    await this.ready;
    await Promise.all([...this.#docs.values()].map((doc) => doc.synced()));
  }

  /**
   * What the relay lists: documents changed since `since` (all by default), tombstones included. When this
   * client already holds exactly what the relay holds, the answer says so without listing anything.
   */
  async directory(options: { since?: number } = {}): Promise<Directory> {
    await this.ready;
    return new Promise((resolve, reject) => {
      if (this.status === "closed") return reject(new Error(`group ${this.id} is closed: ${this.connection.closeReason}`));
      if (this.#directory) return void this.#directory.waiters.push({ resolve, reject });
      const request = { ...options, digest: this.digest() };
      this.#directory = { request, entries: [], waiters: [{ resolve, reject }] };
      this.connection.send({ type: "dir", ...request });
    });
  }

  /** The digest of every document this client holds (protocol/digest.ts), as the relay computes its own. */
  digest(): string {
    return digestOf([...this.#docs.values()].filter((doc) => !doc.deleted).map((doc) => [doc.id, doc.known] as const));
  }

  // Membership. The log is a document of kind MEMBERS_KIND; its creator is the first admin.

  /** Gives the group a membership log with this agent as its admin. From then on only members get in. */
  createMembers(): Doc {
    const doc = this.create({ kind: MEMBERS_KIND });
    this.membersDoc = doc.id;
    return doc;
  }

  /** Grants `agent` a role (admins only); resolves when the relay has stored it. */
  async setRole(agent: AgentId, role: Role): Promise<void> {
    await this.#changeMembers({ op: "set", agent, role });
  }

  /** Removes `agent` from the group (admins only); its live connections are cut off at once. */
  async removeMember(agent: AgentId): Promise<void> {
    await this.#changeMembers({ op: "remove", agent });
  }

  /** Every member and role, replayed from the signed membership log this client holds. */
  async members(): Promise<Map<AgentId, Role>> {
    const log = await this.#membersLog();
    const ops = log.transactions().flatMap((transaction) => {
      const op = parseMemberOp(transaction.data);
      return op ? [{ author: agentOfSession(transaction.session), op }] : [];
    });
    return replayMembers(log.header!.creator, ops);
  }

  onStatus(listener: (status: Status, reason?: string) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  onError(listener: (error: RelayError) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  close(): void {
    this.connection.close();
  }

  async #membersLog(): Promise<Doc> {
    if (!this.membersDoc) throw new Error(`group ${this.id} has no membership log: call createMembers() first`);
    return this.open(this.membersDoc);
  }

  async #changeMembers(op: MemberOp): Promise<void> {
    const log = await this.#membersLog();
    log.append(JSON.stringify(op));
    await log.synced();
  }

  #track(id: DocId, header: Doc["header"]): Doc {
    const doc = new Doc(id, header, this.identity, this.session, () => this.#markDirty(doc));
    this.#docs.set(id, doc);
    this.#unloaded.add(doc);
    return doc;
  }

  #load(doc: Doc): void {
    if (doc.isLoaded || this.#requested.has(doc)) return;
    this.connection.markSyncing();
    this.#sendLoad(doc);
  }

  #sendLoad(doc: Doc): void {
    if (this.connection.send({ type: "load", doc: doc.id, known: doc.known })) this.#requested.add(doc);
  }

  #sendOpen(): void {
    const known = Object.fromEntries([...this.#docs.values()].filter((doc) => doc.header).map((doc) => [doc.id, doc.known]));
    this.connection.send({ type: "open", known });
  }

  /** Right behind the hello: say what this client holds; the relay answers with exactly what it lacks. */
  #resume(): void {
    this.#requested.clear();
    if (this.#openedWhole) this.#sendOpen();
    for (const doc of this.#docs.values()) {
      if (!this.#openedWhole || !doc.header) this.#sendLoad(doc);
    }
    if (this.#directory) {
      this.#directory.entries = [];
      this.connection.send({ type: "dir", ...this.#directory.request });
    }
    for (const id of this.#deletes.keys()) this.connection.send({ type: "delete", doc: id });
  }

  #onReady(welcome: Welcome): void {
    this.role = welcome.role;
    this.membersDoc = welcome.members ?? this.membersDoc;
    this.#checkLive();
  }

  #onDown(): void {
    this.#requested.clear();
    for (const doc of this.#docs.values()) doc.resetInFlight();
    this.#orphans.reset();
  }

  #onMessage(message: Exclude<ServerMessage, { type: "challenge" | "welcome" | "pong" }>): void {
    switch (message.type) {
      case "known": {
        // Documents first heard of through `open` are tracked as they arrive.
        const doc = this.#docs.get(message.doc) ?? (this.#openedWhole ? this.#track(message.doc, undefined) : undefined);
        if (!doc) return;
        const wasLoaded = doc.isLoaded;
        doc.onKnown({ header: message.header, sessions: message.sessions }, message.reason);
        if (!wasLoaded && doc.isLoaded) {
          this.#unloaded.delete(doc);
          this.#checkLive();
        }
        return this.#markDirty(doc);
      }
      case "content": {
        const doc = this.#docs.get(message.doc) ?? (this.#openedWhole ? this.#track(message.doc, undefined) : undefined);
        if (!doc) return;
        if (!doc.onContent(message)) this.#sendLoad(doc);
        return this.#markDirty(doc);
      }
      case "opened": {
        const docs = this.docs;
        for (const waiter of this.#openAll.splice(0)) waiter.resolve(docs);
        return;
      }
      case "deleted": {
        const deleted = this.#docs.get(message.doc);
        deleted?.onDeleted();
        if (deleted && this.#unloaded.delete(deleted)) this.#checkLive();
        this.#store.remove(this.id, message.doc).catch((error: Error) => this.#localFailure(message.doc, `removing ${message.doc} locally failed: ${error.message}`));
        for (const waiter of this.#deletes.get(message.doc) ?? []) waiter.resolve();
        this.#deletes.delete(message.doc);
        return;
      }
      case "dir": {
        const pending = this.#directory;
        if (!pending) return;
        pending.entries.push(...message.docs);
        if (message.more) return;
        this.#directory = undefined;
        for (const waiter of pending.waiters) waiter.resolve({ docs: pending.entries, cursor: message.cursor, inSync: message.inSync });
        return;
      }
      case "error": {
        const error = new RelayError(message);
        const refusals: ErrorMessage["code"][] = ["forbidden", "doc_deleted", "bad_header", "transaction_too_large", "too_many_sessions"];
        if (message.doc && refusals.includes(message.code)) this.#docs.get(message.doc)?.onRefused(error);
        if (message.doc && this.#deletes.has(message.doc)) {
          for (const waiter of this.#deletes.get(message.doc)!) waiter.reject(error);
          this.#deletes.delete(message.doc);
        }
        for (const listener of this.#errorListeners) listener(error);
        return;
      }
    }
  }

  #checkLive(): void {
    if (this.#unloaded.size === 0) this.connection.markLive();
  }

  #markDirty(doc: Doc): void {
    this.#dirty.add(doc);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Changes made in the same tick travel together: one save, one signature and one frame per batch.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      void this.#flush();
    });
  }

  /** Saves what the local store lacks, then pushes what the relay lacks; one flush at a time. */
  async #flush(): Promise<void> {
    if (this.#flushing) {
      await this.#flushing;
      if (this.#dirty.size > 0) this.#markDirty(this.#dirty.values().next().value!);
      return;
    }
    const docs = [...this.#dirty];
    this.#dirty.clear();
    this.#flushing = (async () => {
      for (const doc of docs) {
        const changes = doc.unsaved();
        if (!changes) continue;
        try {
          await this.#store.save(this.id, doc.id, changes);
          doc.markSaved(changes);
        } catch (error) {
          this.#localFailure(doc.id, `saving ${doc.id} locally failed: ${(error as Error).message}`);
        }
      }
      if (this.status === "syncing" || this.status === "live") {
        for (const doc of docs) for (const frame of [...doc.takePush(), ...this.#orphans.take(doc)]) this.connection.send(frame);
      }
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
  }

  /** The local store failed: the app hears of it through onError, as code `internal`. */
  #localFailure(doc: DocId, message: string): void {
    for (const listener of this.#errorListeners) listener(new RelayError({ type: "error", code: "internal", message, doc }));
  }

  #failWaiters(error: Error): void {
    // Waiters of a closed group would wait forever.
    for (const waiter of this.#directory?.waiters ?? []) waiter.reject(error);
    this.#directory = undefined;
    for (const waiter of this.#openAll.splice(0)) waiter.reject(error);
    for (const waiters of this.#deletes.values()) for (const waiter of waiters) waiter.reject(error);
    this.#deletes.clear();
  }
}
