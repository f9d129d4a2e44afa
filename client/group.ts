// A group as one client sees it: one connection, the documents opened in it, and the traffic between.
// This file is the app's face of it; each concern lives in a file of its own: doc-registry.ts (which
// documents, which loads are answered), push-pump.ts (save, push, quarantine), error-routing.ts (who hears
// a relay error), directory.ts, open-all.ts, membership.ts, waiters.ts.
import {
  MEMBERS_KIND,
  digestOf,
  isDocId,
  newHeader,
  type AgentId,
  type DocHeader,
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
import { DirectoryRequests, type Directory } from "./directory.ts";
import { DocRegistry } from "./doc-registry.ts";
import { Doc, type RefusedWrites } from "./doc.ts";
import { OrphanTails } from "./orphan-tails.ts";
import { routeError } from "./error-routing.ts";
import { ClosedError, LocalRefusalError, RelayError, type ConnectionError } from "./errors.ts";
import type { Identity } from "./identity.ts";
import { checkDocId, checkGroupId, checkHeader, checkSince, headerIsFor, relayWouldAccept } from "./local-checks.ts";
import { membersOf } from "./membership.ts";
import { WholeGroupOpen, openGroupMessages } from "./open-all.ts";
import { PresenceChannel } from "./presence.ts";
import { PushPump } from "./push-pump.ts";
import { RefusedWritesKeeper } from "./refusals.ts";
import type { Status } from "./status.ts";
import type { LocalStore } from "./storage/local-store.ts";
import { Waiters } from "./waiters.ts";

export { RelayError } from "./errors.ts";
export type { Directory } from "./directory.ts";

export type GroupOptions = Omit<ConnectionOptions, "group" | "identity" | "session">;

type Signal = { signal?: AbortSignal };

export class Group {
  readonly id: string;
  readonly identity: Identity;
  readonly session: SessionId;
  readonly connection: Connection;
  /** Resolves once the documents saved on this device are loaded; the connection opens after it. */
  readonly ready: Promise<void>;
  /** This agent's role in the group, as of the last handshake (or of createMembers()). */
  role: Role | undefined;
  /** The group's membership log, once it has one. */
  membersDoc: DocId | undefined;
  readonly #store: LocalStore;
  readonly #registry: DocRegistry;
  readonly #pump: PushPump;
  readonly #directory = new DirectoryRequests();
  readonly #whole = new WholeGroupOpen();
  readonly #deletes = new Map<DocId, Waiters<void>>();
  /** Unsent writes of this agent's sessions that no client holds (orphan-tails.ts). */
  readonly #orphans: OrphanTails;
  /** The local store's documents are tracked: a resume can say what this client holds. */
  #restored = false;
  #closed: ClosedError | undefined;
  readonly #statusListeners = new Set<(status: Status, reason?: string) => void>();
  readonly #errorListeners = new Set<(error: RelayError | ConnectionError) => void>();
  readonly #refusals: RefusedWritesKeeper;
  readonly #presence: PresenceChannel;

  constructor(id: string, identity: Identity, session: SessionId, store: LocalStore, options: GroupOptions) {
    checkGroupId(id);
    this.id = id;
    this.identity = identity;
    this.session = session;
    this.#store = store;
    this.#presence = new PresenceChannel({
      session,
      send: (message) => this.connection.send(message),
      knownToRelay: (doc) => this.#registry.get(doc)?.relayKnown.header === true,
    });
    this.#registry = new DocRegistry((docId, header) => {
      const doc: Doc = new Doc(docId, header, identity, session, () => this.#pump.markDirty(doc), this.#presence.forDoc(docId));
      if (this.#closed) doc.close(this.#closed);
      return doc;
    });
    this.#orphans = new OrphanTails(identity, session);
    this.#pump = new PushPump({
      group: id,
      store,
      canPush: () => this.status === "syncing" || this.status === "live",
      // Orphan tails the relay would refuse (an older SDK's) stay behind: no one can discard them here.
      take: (doc) => [...doc.takePush(), ...this.#orphans.take(doc).filter(relayWouldAccept)],
      send: (frame) => this.connection.send(frame),
      onLocalFailure: (doc, message) => this.#report(new RelayError({ code: "internal", message, doc })),
      onUnverified: (doc, sessions) => {
        for (const session of sessions) {
          this.#report(new RelayError({ code: "bad_signature", message: "a received checkpoint does not verify: its transactions do not count", doc: doc.id, session }));
        }
      },
    });
    const group = this;
    this.#refusals = new RefusedWritesKeeper({
      group: id,
      store,
      get membersDoc() {
        return group.membersDoc;
      },
      forget: (doc) => this.#registry.forget(doc),
      changed: (doc) => this.#pump.markDirty(doc),
      report: (error) => this.#report(error),
    });
    this.connection = new Connection(
      { ...options, group: id, identity, session },
      {
        onHello: () => this.#restored && this.#resume(),
        onReady: (welcome) => this.#onReady(welcome),
        onMessage: (message) => this.#onMessage(message),
        onDown: () => this.#onDown(),
        onFailure: (error) => this.#report(error),
        onStatus: (status, reason) => {
          for (const listener of this.#statusListeners) listener(status, reason);
          if (status === "closed") this.#closeAll(new ClosedError(id, reason ?? "closed"));
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
      if (!isDocId(stored.id) || !stored.header || !headerIsFor(stored.header, stored.id, this.id)) {
        this.#report(new RelayError({ code: "bad_header", message: `the local store holds ${String(stored.id)} with a header that is not its own: skipped`, doc: stored.id }));
        continue;
      }
      const doc = this.#registry.get(stored.id) ?? this.#registry.track(stored.id, stored.header);
      doc.restore(stored);
      // Writes an older SDK let into the store that the relay would refuse never leave the device.
      if (doc.refused) this.#refusals.surface(doc);
      if (doc.header?.kind === MEMBERS_KIND) this.membersDoc ??= doc.id;
    }
    this.#restored = true;
    if (this.connection.canSend) this.#resume();
  }

  get status(): Status {
    return this.connection.status;
  }

  /** Documents this client holds in the group (the membership log is not among them: see members()). */
  get docs(): Doc[] {
    return [...this.#registry.all()].filter((doc) => doc.header && !doc.deleted && doc.id !== this.membersDoc);
  }

  /**
   * Creates a document in this group. It exists locally at once and reaches the relay when connected.
   * `readers`, if given, limits who may see it (with its creator and the group's admins). Throws a
   * LocalRefusalError for anything the relay would refuse (a kind over 64 characters, over 64 readers, ...).
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
    return this.#createWith(header);
  }

  #createWith(header: DocHeader): Doc {
    const id = checkHeader(header, this.id);
    if (header.kind === MEMBERS_KIND && this.membersDoc) throw new LocalRefusalError("bad_header", "create: this group already has a membership log");
    const doc = this.#registry.track(id, header);
    this.#load(doc);
    this.#pump.markDirty(doc);
    return doc;
  }

  /**
   * Opens a document by id. One saved on this device resolves at once, without the network, and
   * catches up in the background; otherwise this waits until the relay has sent what it holds. Rejects
   * with a RelayError when the relay has no such document (`unknown_doc`), it was deleted (`doc_deleted`)
   * or this agent may not read it (`forbidden`); with a ClosedError once the group is closed.
   */
  open(id: DocId, options: Signal = {}): Promise<Doc> {
    checkDocId(id, "open");
    return this.#open(id, options.signal);
  }

  async #open(id: DocId, signal: AbortSignal | undefined): Promise<Doc> {
    await this.ready;
    let doc = this.#registry.get(id);
    if (doc?.deleted) throw new RelayError({ code: "doc_deleted", message: "this document was deleted", doc: id });
    if (doc?.header) return doc;
    this.#throwIfClosed();
    doc ??= this.#registry.track(id, undefined);
    this.#load(doc);
    await doc.loaded(signal);
    if (doc.deleted) throw new RelayError({ code: "doc_deleted", message: "this document was deleted", doc: id });
    if (!doc.header) {
      // The relay answered the load with nothing: it has no such document in this group.
      if (this.#registry.get(id) === doc) {
        this.#registry.forget(doc);
        this.connection.send({ type: "unsub", doc: id });
      }
      throw new RelayError({ code: "unknown_doc", message: `the relay has no document ${id} in group ${this.id}`, doc: id });
    }
    return doc;
  }

  /**
   * Opens every document of the group this agent may read, over this one socket: the relay streams
   * what this client lacks of each, in bounded frames. Later documents arrive live.
   */
  async openAll(options: Signal = {}): Promise<Doc[]> {
    await this.ready;
    this.#throwIfClosed();
    const first = !this.#whole.requested;
    this.#whole.requested = true;
    const answered = this.#whole.waiters.wait(options.signal);
    if (first || this.#whole.waiters.size === 1) this.#sendOpen();
    await answered;
    return this.docs;
  }

  /** Deletes a document for everyone (admins only); resolves when the relay has done it. */
  delete(id: DocId, options: Signal = {}): Promise<void> {
    checkDocId(id, "delete");
    return this.#delete(id, options.signal);
  }

  async #delete(id: DocId, signal: AbortSignal | undefined): Promise<void> {
    await this.ready;
    this.#throwIfClosed();
    let waiters = this.#deletes.get(id);
    if (!waiters) this.#deletes.set(id, (waiters = new Waiters()));
    const done = waiters.wait(signal);
    this.connection.send({ type: "delete", doc: id });
    return done;
  }

  /**
   * Resolves when every change so far is saved locally and acknowledged by the relay. Rejects with the
   * RelayError of a refusal while refused writes are held (see refused()), with a ClosedError once the
   * group is closed with changes unsent, or with the signal's reason.
   */
  async synced(options: Signal = {}): Promise<void> {
    await this.ready;
    await Promise.all([...this.#registry.all()].map((doc) => doc.synced(options)));
  }

  /**
   * What the relay lists: documents changed since `since` (all by default), tombstones included. When this
   * client already holds exactly what the relay holds, the answer says so without listing anything.
   */
  directory(options: { since?: number } & Signal = {}): Promise<Directory> {
    checkSince(options.since);
    return this.#directoryAnswer(options.since, options.signal);
  }

  async #directoryAnswer(since: number | undefined, signal: AbortSignal | undefined): Promise<Directory> {
    await this.ready;
    this.#throwIfClosed();
    const request = { type: "dir" as const, ...(since === undefined ? {} : { since }), digest: this.digest() };
    return this.#directory.ask(request, (message) => this.connection.send(message), signal);
  }

  /** The digest of every document this client holds (protocol/digest.ts), as the relay computes its own. */
  digest(): string {
    return digestOfDocs(this.#registry.all());
  }

  // Refused writes (refusals.ts): held on this device, out of the push path, until discarded or retried.

  /** Every document whose own writes are held back after a refusal, with the writes and the reason. */
  refused(): RefusedWrites[] {
    return [...this.#registry.all()].flatMap((doc) => doc.refusedWrites() ?? []);
  }

  /** Forgets a document's refused writes (and the document, if it was refused whole); resolves when the store agrees. */
  discardRefused(doc: Doc): Promise<void> {
    return this.#refusals.discard(doc);
  }

  /** Sends a document's refused writes again (after a role change, say). */
  retryRefused(doc: Doc): void {
    doc.retryRefused();
  }

  /** Calls `listener` once for each refusal, with the writes held back. */
  onRefused(listener: (refused: RefusedWrites) => void): () => void {
    return this.#refusals.listen(listener);
  }

  // Membership. The log is a document of kind MEMBERS_KIND; its creator is the first admin.

  /** Gives the group a membership log with this agent as its admin. From then on only members get in. */
  createMembers(): Doc {
    const doc = this.create({ kind: MEMBERS_KIND });
    this.membersDoc = doc.id;
    this.role = "admin";
    return doc;
  }

  /**
   * Grants `agent` a role (admins only); resolves when the relay has stored it. An operation the relay
   * refuses (another admin's newer operation won an offline race, say) rejects with its RelayError and is
   * dropped: it never blocks the operations after it.
   */
  async setRole(agent: AgentId, role: Role): Promise<void> {
    await this.#changeMembers({ op: "set", agent, role });
  }

  /** Removes `agent` from the group (admins only); its live connections are cut off at once. */
  async removeMember(agent: AgentId): Promise<void> {
    await this.#changeMembers({ op: "remove", agent });
  }

  /** Every member and role, replayed from the membership operations whose signatures this client verified. */
  async members(options: Signal = {}): Promise<Map<AgentId, Role>> {
    const log = await this.#membersLog(options.signal);
    const failed = await log.verifyReceived();
    if (failed.length > 0) this.#pump.markDirty(log);
    for (const session of failed) this.#report(new RelayError({ code: "bad_signature", message: "a received checkpoint does not verify: its operations do not count", doc: log.id, session }));
    return membersOf(log);
  }

  onStatus(listener: (status: Status, reason?: string) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Errors the relay reported, connection failures (with their reason), and local store failures. */
  onError(listener: (error: RelayError | ConnectionError) => void): () => void {
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  /** Connects again now instead of waiting out the backoff (after a relay restart, say). */
  reconnectNow(): void {
    this.connection.reconnectNow();
  }

  close(): void {
    this.connection.close();
  }

  async #membersLog(signal?: AbortSignal): Promise<Doc> {
    if (!this.membersDoc) throw new Error(`group ${this.id} has no membership log: call createMembers() first`);
    return this.open(this.membersDoc, signal ? { signal } : {});
  }

  async #changeMembers(op: MemberOp): Promise<void> {
    this.#throwIfClosed();
    const log = await this.#membersLog();
    log.append(JSON.stringify(op));
    await log.synced();
  }

  #throwIfClosed(): void {
    if (this.#closed) throw this.#closed;
  }

  #load(doc: Doc): void {
    if (doc.isLoaded || this.#registry.wasRequested(doc)) return;
    this.connection.markSyncing();
    this.#sendLoad(doc);
  }

  #sendLoad(doc: Doc): void {
    if (this.connection.send({ type: "load", doc: doc.id, known: doc.known })) this.#registry.markRequested(doc);
  }

  #sendOpen(): void {
    for (const message of openGroupMessages(this.#registry.all())) this.connection.send(message);
  }

  /** Right behind the hello: say what this client holds; the relay answers with exactly what it lacks. */
  #resume(): void {
    this.#registry.clearRequested();
    if (this.#whole.requested) this.#sendOpen();
    for (const doc of this.#registry.all()) {
      if (!this.#whole.requested || !doc.header) this.#sendLoad(doc);
    }
    this.#directory.resend((message) => this.connection.send(message));
    for (const id of this.#deletes.keys()) this.connection.send({ type: "delete", doc: id });
    this.#presence.resume();
  }

  #onReady(welcome: Welcome): void {
    this.role = welcome.role;
    this.membersDoc = welcome.members ?? this.membersDoc;
    if (this.#registry.allAnswered) this.connection.markLive();
  }

  #onDown(): void {
    this.#registry.clearRequested();
    for (const doc of this.#registry.all()) doc.resetInFlight();
    this.#orphans.reset();
    this.#presence.onDown();
  }

  /** A document heard of: tracked if held, or if the whole group is open (documents arriving live). */
  #heardOf(id: DocId): Doc | undefined {
    return this.#registry.get(id) ?? (this.#whole.requested ? this.#registry.track(id, undefined) : undefined);
  }

  #answered(doc: Doc): void {
    if (this.#registry.answered(doc)) this.connection.markLive();
  }

  #onMessage(message: Exclude<ServerMessage, { type: "challenge" | "welcome" | "pong" }>): void {
    switch (message.type) {
      case "known": {
        const doc = this.#heardOf(message.doc);
        if (!doc) return;
        const wasLoaded = doc.isLoaded;
        doc.onKnown({ header: message.header, sessions: message.sessions }, message.reason);
        if (!wasLoaded && doc.isLoaded) this.#answered(doc);
        this.#presence.poke();
        return this.#pump.markDirty(doc);
      }
      case "content": {
        // A header must be the one the id names, in this group: anything else is dropped, not adopted.
        if (message.header && !headerIsFor(message.header, message.doc, this.id)) {
          return this.#report(new RelayError({ code: "bad_header", message: "a received header does not hash to its document id: ignored", doc: message.doc }));
        }
        const doc = this.#heardOf(message.doc);
        if (!doc) return;
        if (!doc.onContent(message)) this.#sendLoad(doc);
        return this.#pump.markDirty(doc);
      }
      case "opened": {
        // Documents the relay did not list are ones it does not have yet (created offline): load them,
        // so their headers and writes go up and the group can go live.
        for (const doc of this.#registry.unanswered()) if (doc.header && !this.#registry.wasRequested(doc)) this.#sendLoad(doc);
        return this.#whole.waiters.resolveAll();
      }
      case "deleted":
        return this.#onDeleted(message.doc);
      case "dir":
        return this.#directory.onFrame(message);
      case "error":
        return this.#onRelayError(message);
      case "presence":
        return this.#presence.onMessage(message);
    }
  }

  #onDeleted(id: DocId): void {
    this.#presence.forgetDoc(id);
    const doc = this.#registry.get(id);
    if (doc) {
      doc.onDeleted();
      this.#answered(doc);
    }
    this.#store.remove(this.id, id).catch((error: Error) => this.#report(new RelayError({ code: "internal", message: `removing ${id} locally failed: ${error.message}`, doc: id })));
    this.#deletes.get(id)?.resolveAll();
    this.#deletes.delete(id);
  }

  #onRelayError(message: ErrorMessage): void {
    const error = new RelayError(message);
    const doc = message.doc ? this.#registry.get(message.doc) : undefined;
    const route = routeError(message, { held: doc !== undefined, awaitingLoad: doc !== undefined && !doc.isLoaded, deleting: message.doc !== undefined && this.#deletes.has(message.doc) });
    switch (route.kind) {
      case "deleted":
        if (doc?.hasUnsynced) this.#refusals.refuse(doc, error);
        this.#onDeleted(message.doc!);
        break;
      case "loadRefused":
        doc!.onLoadRefused(error);
        if (doc!.header) this.#refusals.refuse(doc!, error);
        else this.#registry.forget(doc!);
        this.#answered(doc!);
        if (this.#registry.allAnswered) this.connection.markLive();
        break;
      case "deleteRefused":
        this.#deletes.get(message.doc!)?.rejectAll(error);
        this.#deletes.delete(message.doc!);
        break;
      case "writesRefused":
        this.#refusals.refuse(doc!, error);
        break;
      case "frameRefused": {
        const inFlight = [...this.#registry.all()].filter((held) => held.inFlight);
        const culprit = this.#pump.onFrameRefused(inFlight);
        if (culprit) this.#refusals.refuse(culprit, error);
        // What else the refused frame held is lost with it: start over on a fresh socket.
        this.connection.drop(`the relay refused a frame: ${error.message}`);
        break;
      }
      case "report":
        break;
    }
    this.#report(error);
  }

  #report(error: RelayError | ConnectionError): void {
    for (const listener of this.#errorListeners) listener(error);
  }

  /** Closed for good: every waiter hears why, and later calls fail at once. */
  #closeAll(error: ClosedError): void {
    this.#closed = error;
    this.#presence.close();
    this.#directory.rejectAll(error);
    this.#whole.waiters.rejectAll(error);
    for (const waiters of this.#deletes.values()) waiters.rejectAll(error);
    this.#deletes.clear();
    for (const doc of this.#registry.all()) doc.close(error);
  }
}

function digestOfDocs(docs: Iterable<Doc>): string {
  return digestOf([...docs].filter((doc) => !doc.deleted).map((doc) => [doc.id, doc.known] as const));
}
