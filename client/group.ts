// A group as one client sees it: the app's face of it, and the shell around the client core
// (core/client-core.ts). Each call is checked locally, then becomes a core event; the core's effects are
// carried out here in one switch: frames to the connection, saves to the local store, settlements to the
// promises waiting, changes to listeners.
import { notifyAll } from "./listeners.ts";
import { CLOSE_WAITS_FOR_STORE_MS, MEMBERS_KIND, RELAY_CLOCK_SLACK_MS, mayRead, newHeader, verifySnapshot, type AgentId, type DocHeader, type DocId, type DocMeta, type Role, type ServerMessage, type SessionId } from "../protocol/index.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import { digestOfState, initialState, step } from "./core/client-core.ts";
import { hasUnsynced, unsavedOf, type DocState } from "./core/doc-state.ts";
import { assertNever, type CoreEffect, type CoreEvent, type CoreState, type Directory, type WaiterKey } from "./core/effects.ts";
import { Doc, type DocHost, type RefusedWrites } from "./doc.ts";
import { ClosedError, LocalRefusalError, LocalStoreError, RelayError, storeFailureText, type ConnectionError } from "./errors.ts";
import { afterMs } from "./runtime-timers.ts";
import type { Identity } from "./identity.ts";
import { sentOrCutOff } from "./sent-before-close.ts";
import { checkDocId, checkGroupId, checkHeader, checkKnownOptions, checkListener, checkRoleMay, checkSignalOptions, checkSince, describe, shown } from "./local-checks.ts";
import { changeMembers, verifiedMembers, type MembershipHost } from "./membership.ts";
import { PresenceChannel } from "./presence.ts";
import { loadUntilClosed, unlessAborted, untilClosed } from "./store-load.ts";
import { PushPump } from "./push-pump.ts";
import { RelayClock } from "./relay-clock.ts";
import { LeftBehind } from "./left-behind.ts";
import { DEFAULT_PUSH_INTERVAL_MS } from "./core/push.ts";
import type { Status } from "./status.ts";
import { carriesWrites, cutStoredSession, storedRole, type LocalStore } from "./storage/local-store.ts";
import { SocketOrder } from "./socket-order.ts";
import { WaiterTable } from "./waiters.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

export { RelayError } from "./errors.ts";
export type { Directory } from "./core/effects.ts";

export type GroupOptions = Omit<ConnectionOptions, "group" | "identity" | "session"> & {
  /**
   * While appends keep coming, the least time in ms between two frames of a document's writes that are not
   * full (default DEFAULT_PUSH_INTERVAL_MS, 10). The first write after a pause leaves at once, as does a
   * full frame; what is appended within the interval waits and travels in the next frame. A stream of 500
   * appends a second then costs the relay, and every subscriber, about 100 frames a second instead of one
   * per round trip. 0: a frame as soon as nothing is in flight.
   */
  pushIntervalMs?: number;
};

type Signal = { signal?: AbortSignal };

/** Groups the app closed (`close()`), the relay having closed them first or not: the client lets go of them. */
const closedByApp = new WeakSet<Group>();
export const wasClosedByApp = (group: Group): boolean => closedByApp.has(group);
const saved = new WeakMap<Group, () => Promise<void>>();
/**
 * Settles once nothing `group` was given waits to be saved: a close it put off has happened, and the saves
 * of its writes have finished (or failed, and were reported). The client reads the store for a group
 * replacing a closed one after it, and gives its session up after it.
 */
export const untilSaved = (group: Group): Promise<void> => saved.get(group)?.() ?? Promise.resolve();

export class Group {
  /** What error messages call it (describe, protocol/messages.ts): a bundler's minifier renames the class, not this. */
  get [Symbol.toStringTag](): string {
    return "Group";
  }

  readonly id: string;
  readonly identity: Identity;
  readonly session: SessionId;
  readonly connection: Connection;
  /**
   * Resolves once the documents saved on this device are loaded (a store that fails is read again after a
   * wait); rejects with the group's ClosedError if it closes first.
   */
  readonly ready: Promise<void>;
  readonly #store: LocalStore;
  readonly #core: CoreState;
  readonly #pump: PushPump;
  /** The app's Doc for each document the core holds (made on first use). */
  readonly #docs = new Map<DocId, { state: DocState; doc: Doc }>();
  /** Every Doc this group gave the app: one of another group or client is refused where a Doc is taken. */
  readonly #made = new WeakSet<Doc>();
  /** Promises waiting for a settlement from the core, by waiter key. */
  readonly #waiters = new WaiterTable<WaiterKey>();
  readonly #docHost: DocHost;
  /** What waits on the group closing for good: why it closed, once it did, and its status changes. */
  readonly #closing: Pick<MembershipHost, "closed" | "onStatus">;
  readonly #membership: MembershipHost;
  readonly #statusListeners = new Set<(status: Status, reason?: string) => void>();
  readonly #errorListeners = new Set<(error: RelayError | ConnectionError) => void>();
  readonly #refusedListeners = new Set<(refused: RefusedWrites) => void>();
  readonly #roleListeners = new Set<(role: Role) => void>();
  /** What other clients of this device left unsent in the store (left-behind.ts). */
  readonly #leftBehind: LeftBehind;
  /** Bindings' flushes of the edits they gather for a tick (onFlush). */
  readonly #flushers = new Set<() => boolean | void>();
  /** Presence, beside the core: ephemeral, nothing of it is stored or acknowledged. */
  readonly #presence: PresenceChannel;
  /** What the socket reports, in order (behind a received snapshot while its signature is checked). */
  readonly #socketOrder = new SocketOrder();
  /** Stops hearing of writes other clients sharing the store left unsent (LocalStore.onUnsent). */
  readonly #stopHearingUnsent: () => void;
  /** Stops hearing that the store can no longer be used (LocalStore.onLost). */
  readonly #stopHearingLost: () => void;
  /** Why the local store can no longer be used, once it told so: the group closed with it. */
  #storeLost: Error | undefined;
  /** What `docs` gave last: given again while the same documents are held. */
  #docsShown: Doc[] | undefined;
  /** The group still reads what the local store holds of it (`ready` has not settled). */
  #reading = true;
  /** A close put off until the store is read: bindings hold edits for documents being read (close()). */
  #closeOnceRead: Promise<void> | undefined;

  /**
   * `clock`: the relay's time as the client last heard it, shared by its groups (relay-clock.ts). `after`:
   * what to wait for before reading the store, the saves of a closed group this one replaces.
   */
  constructor(id: string, identity: Identity, session: SessionId, store: LocalStore, options: GroupOptions, clock = new RelayClock(), after?: Promise<void>) {
    checkGroupId(id);
    this.id = id;
    this.identity = identity;
    this.session = session;
    this.#store = store;
    // pushIntervalMs was checked by createClient, synchronously, as the app passed it.
    const { pushIntervalMs = DEFAULT_PUSH_INTERVAL_MS, ...connectionOptions } = options;
    this.#core = initialState(id, { agent: identity.agent, secretKey: identity.secretKey, session }, pushIntervalMs);
    this.#presence = new PresenceChannel({
      session,
      send: (message) => this.connection.send(message),
      // Where this agent may not read now (a role change took it away), the relay would refuse it: it waits.
      mayShowIn: (doc) => {
        const held = this.#core.docs.get(doc);
        return held?.relay.header === true && (this.#core.role === undefined || !held.header || mayRead(this.#core.role, identity.agent, held.header));
      },
      closedError: () => this.#closedError(),
      goneWhy: (doc) => {
        const held = this.#core.docs.get(doc);
        return !held ? "is no longer held by its group" : held.deleted ? "was deleted" : undefined;
      },
      afterNextPush: (send) => this.#pump.afterNextPush(send),
    });
    const group = this;
    this.#docHost = {
      session,
      get closedError() {
        return group.#closedError();
      },
      get role() {
        return group.#core.role;
      },
      stateOf: (doc) => this.#core.docs.get(doc),
      dispatch: (event) => void this.#dispatch(event),
      wait: (key, signal) => this.#waiters.wait(key, signal) as Promise<void>,
      presenceOf: (doc) => this.#presence.forDoc(doc),
      flushEdits: () => this.#flushEdits(),
      relayHeldSaved: (doc) => this.#pump.relayHeldSaved(doc),
      now: () => this.connection.relayNow(),
    };
    this.#closing = { closed: () => this.#closedError(), onStatus: (listener) => this.onStatus(listener) };
    this.#membership = {
      ...this.#closing,
      id,
      get ready() {
        return group.ready;
      },
      membersDoc: () => this.membersDoc,
      role: () => this.#core.role,
      now: () => this.connection.relayNow(),
      session,
      welcomed: () => this.#core.welcomed,
      open: (doc, options) => this.open(doc, options),
      unverified: (doc, sessions) => void this.#dispatch({ type: "unverified", doc, sessions }),
    };
    this.#leftBehind = new LeftBehind({
      id,
      agent: identity.agent,
      store,
      core: this.#core,
      closing: this.#closing,
      dispatchInOrder: (event) => this.#inOrder(() => this.#dispatch(event)),
      report: (error) => this.#report(error),
    });
    this.#pump = new PushPump({
      group: id,
      store,
      session,
      stateOf: (doc) => this.#core.docs.get(doc),
      dispatch: (event) => void this.#dispatch(event),
      onLocalFailure: (doc, message) => {
        // Once the store is lost, each save failing with it tells nothing the app has not heard.
        if (!this.#storeLost) this.#report(new LocalStoreError(message, { doc }));
      },
    });
    saved.set(this, async () => {
      await this.#closeOnceRead;
      await this.#pump.settled();
    });
    this.connection = new Connection(
      { ...connectionOptions, group: id, identity, session },
      {
        onHello: () =>
          this.#inOrder(() => {
            this.#dispatch({ type: "helloSent" });
            // Behind the loads: the relay holds nothing of ours on a new socket.
            this.#presence.resume();
          }),
        onReady: (welcome) => this.#inOrder(() => this.#dispatch({ type: "welcome", welcome })),
        onMessage: (message) => this.#inOrder(() => this.#onMessage(message)),
        onDown: () =>
          this.#inOrder(() => {
            this.#dispatch({ type: "down" });
            this.#presence.onDown();
          }),
        onFailure: (error) => this.#report(error),
        onStatus: (status, reason) => {
          notifyAll(this.#statusListeners, status, reason);
          if (status === "closed") {
            this.#inOrder(() => {
              this.#presence.close();
              this.#stopHearingUnsent();
              this.#stopHearingLost();
              this.#pump.stop();
              this.#dispatch({ type: "closed", error: new ClosedError(id, reason ?? "closed") });
            });
          }
        },
      },
      clock,
    );
    // The socket opens while the store loads, so a resume pays for the slower of the two, not both. A
    // microtask later, so that status listeners added right after client.group() hear "connecting".
    queueMicrotask(() => this.connection.start());
    this.ready = this.#restore(after);
    // It rejects only once the group is closed, as every call then does: not an error of its own to raise.
    const read = () => void (this.#reading = false);
    this.ready.then(read, read);
    this.#stopHearingUnsent = store.onUnsent?.((group, docs) => this.#leftBehind.heard(group, docs)) ?? (() => {});
    this.#stopHearingLost = store.onLost?.((error) => this.#closeForLostStore(error)) ?? (() => {});
  }

  /**
   * The store can no longer be used (another connection took its IndexedDB database): nothing written could
   * be saved, and so none of it sent. The group closes for good with the store's reason, told once, so that
   * no promise waits on saves that cannot hold: synced() of writes not yet acknowledged rejects with it.
   */
  #closeForLostStore(error: Error): void {
    if (this.#storeLost || this.status === "closed") return;
    this.#storeLost = error;
    this.#report(new LocalStoreError(error.message));
    this.connection.close(error.message);
  }

  async #restore(after: Promise<void> | undefined): Promise<void> {
    // After the socket starts (a store that reads synchronously must not delay it), and after the saves of
    // the closed group this one replaces, so it reads what that one wrote.
    await (after ? after.catch(() => {}) : Promise.resolve());
    // What the store found damaged is told once, from the read that succeeds.
    let damage: string[] = [];
    const load = () => {
      damage = [];
      return this.#store.loadGroup(this.id, (problem) => damage.push(problem));
    };
    const [docs, role] = await loadUntilClosed(() => Promise.all([load(), this.#keptRole()]), {
      ...this.#closing,
      onFailure: (error) => {
        const message = `loading group ${this.id} from the local store failed: ${storeFailureText(error)}; trying again`;
        this.#report(new LocalStoreError(message));
      },
    });
    for (const problem of damage) this.#report(new LocalStoreError(`the local store could not read all of group ${this.id}: ${problem}`));
    this.#dispatch({ type: "restored", docs, ...(role ? { role } : {}) });
  }

  /**
   * The role the store kept from the last run: a head start on the relay's word, so a failure to read it,
   * or anything but a role from a store of the app's own, is none.
   */
  async #keptRole(): Promise<Role | undefined> {
    try {
      return storedRole(await this.#store.loadRole?.(this.id, this.identity.agent));
    } catch {
      return undefined;
    }
  }

  get status(): Status {
    return this.connection.status;
  }

  /**
   * This agent's role in the group: from the relay, which tells a change at once (onRole), or createMembers();
   * before the relay's first welcome, the one the local store kept from the last run (LocalStore.saveRole).
   */
  get role(): Role | undefined {
    return this.#core.role;
  }

  /** The group's membership log, once it has one. */
  get membersDoc(): DocId | undefined {
    return this.#core.membersDoc;
  }

  /**
   * Documents this client holds in the group (the membership log is not among them: see members()). The
   * same array comes back until one comes or goes, so it can be a React `useSyncExternalStore` snapshot.
   */
  get docs(): Doc[] {
    const docs = [...this.#core.docs.values()].filter((doc) => doc.header && !doc.deleted && doc.id !== this.membersDoc).map((doc) => this.#doc(doc.id)!);
    const last = this.#docsShown;
    if (last?.length === docs.length && last.every((doc, index) => doc === docs[index])) return last;
    return (this.#docsShown = docs);
  }

  /**
   * Creates a document in this group. It exists locally at once and reaches the relay when connected.
   * `readers`, if given, limits who may see it (with its creator and the group's admins). Throws a
   * LocalRefusalError for anything the relay would refuse (a kind over 64 characters, over 64 readers, ...),
   * a TypeError for an option it does not know, and the group's ClosedError once it is closed for good.
   */
  create(options: { kind?: string; meta?: DocMeta; readers?: AgentId[] } = {}): Doc {
    // A misspelt or null `readers` would make the document readable by the whole group.
    checkKnownOptions(options, ["kind", "meta", "readers"], "create");
    if (options.readers !== undefined && !Array.isArray(options.readers)) throw new ArgumentError(`create: readers must be an array of agent ids, not ${describe(options.readers)}`);
    // Checked before the header is hashed, which would blame meta for a reader that is no string.
    const notText = options.readers?.findIndex((reader) => typeof reader !== "string") ?? -1;
    if (notText >= 0) throw new ArgumentError(`create: readers[${notText}] must be an agent id (a string), not ${shown(options.readers![notText])}`);
    if (options.kind !== undefined && typeof options.kind !== "string") throw new ArgumentError(`create: kind must be a string, not ${shown(options.kind)}`);
    if (options.meta !== undefined && (typeof options.meta !== "object" || options.meta === null || Array.isArray(options.meta))) {
      throw new ArgumentError(`create: meta must be an object, not ${describe(options.meta)}`);
    }
    return this.#createWith(this.#header(options.kind ?? "json", options), false);
  }

  #header(kind: string, options: { meta?: DocMeta; readers?: AgentId[] }): DocHeader {
    return newHeader({
      group: this.id,
      kind,
      creator: this.identity.agent,
      createdAt: Date.now(),
      meta: options.meta ?? {},
      ...(options.readers ? { readers: options.readers } : {}),
    });
  }

  #createWith(header: DocHeader, members: boolean): Doc {
    this.#throwIfClosed();
    const id = checkHeader(header, this.id);
    checkRoleMay(this.#core.role, "create", members ? "createMembers" : "create");
    // The relay's rule (relay-core.ts): a token caps its holder's role under the log it would found.
    const role = this.#core.role;
    if (members && this.connection.options.getToken && role !== undefined && role !== "admin") {
      throw new LocalRefusalError("forbidden", `createMembers: a peer whose token makes it a ${role} may not found a group: the token would cap it at ${role} there, and no one could manage the group; found it with an admin token`);
    }
    if (header.kind === MEMBERS_KIND && this.membersDoc) throw new LocalRefusalError("bad_header", "create: this group already has a membership log");
    // The relay takes the first document of this kind as the membership log: only createMembers() makes one.
    if (header.kind === MEMBERS_KIND && !members) throw new LocalRefusalError("bad_header", `create: the kind ${MEMBERS_KIND} is the membership log's; call createMembers()`);
    // Held as the wire carries it to every other replica (-0 is 0 there), and apart from the app's objects.
    this.#dispatch({ type: "create", id, header: JSON.parse(JSON.stringify(header)) as DocHeader, members });
    return this.#doc(id)!;
  }

  /**
   * Opens a document by id. One saved on this device resolves at once, without the network, and
   * catches up in the background; otherwise this waits until the relay has sent what it holds. Rejects
   * with a RelayError when the relay has no such document (`unknown_doc`), it was deleted (`doc_deleted`)
   * or this agent may not read it (`forbidden`); with a ClosedError once the group is closed.
   */
  open(id: DocId, options: Signal = {}): Promise<Doc> {
    checkDocId(id, "open");
    checkSignalOptions(options, "open");
    return this.#open(id, options.signal);
  }

  async #open(id: DocId, signal: AbortSignal | undefined): Promise<Doc> {
    await unlessAborted(this.ready, signal);
    this.#throwIfClosed();
    // Another client of this device said it left the document unsent in the store. Offline, it is read from
    // there (as a document held here opens without the network); online, the relay is asked first, and the
    // writes the store holds that the relay lacks are taken in once it has answered.
    const announced = this.#leftBehind.takeAnnounced(id);
    if (announced && !this.connection.canSend && (await this.#leftBehind.take(id, signal))) return this.#doc(id)!;
    try {
      await this.#ask(`open:${id}`, { type: "open", doc: id }, signal);
    } catch (error) {
      // The relay has none: another client of this device may have created it since this one read the store.
      const unknown = error instanceof RelayError && error.code === "unknown_doc";
      if (!unknown || !(await this.#leftBehind.take(id, signal))) throw error;
    }
    if (announced) this.#leftBehind.heard(this.id, [id]);
    const doc = this.#doc(id);
    if (!doc?.header) throw new RelayError({ code: "unknown_doc", message: `the relay has no document ${id} in group ${this.id}`, doc: id });
    return doc;
  }

  /**
   * Opens every document of the group this agent may read, over this one socket: the relay streams
   * what this client lacks of each, in bounded frames. Later documents arrive live.
   */
  openAll(options: Signal = {}): Promise<Doc[]> {
    checkSignalOptions(options, "openAll");
    return this.#openAll(options.signal);
  }

  async #openAll(signal: AbortSignal | undefined): Promise<Doc[]> {
    await unlessAborted(this.ready, signal);
    await this.#ask("openAll", { type: "openAll" }, signal);
    return this.docs;
  }

  /**
   * Deletes a document for everyone (admins only); resolves when the relay has done it. Rejects at once
   * with a LocalRefusalError (`forbidden`) when this agent's role, as the relay last told it, is not admin,
   * as setRole and removeMember do, or when `id` is the group's membership log (it cannot be deleted), and
   * with the ClosedError once the group is closed; an id that is not one throws, as for open().
   */
  delete(id: DocId, options: Signal = {}): Promise<void> {
    checkDocId(id, "delete");
    checkSignalOptions(options, "delete");
    try {
      this.#throwIfClosed();
      checkRoleMay(this.#core.role, "delete", "delete");
      if (id === this.membersDoc) throw new LocalRefusalError("forbidden", "delete: the membership log cannot be deleted (removeMember() takes an agent out)");
    } catch (refusal) {
      return Promise.reject(refusal);
    }
    return this.#delete(id, options.signal);
  }

  async #delete(id: DocId, signal: AbortSignal | undefined): Promise<void> {
    await unlessAborted(this.ready, signal);
    await this.#ask(`delete:${id}`, { type: "delete", doc: id }, signal);
  }

  /**
   * Resolves when every change so far is saved locally and acknowledged by the relay. Rejects with the
   * RelayError of a refusal while refused writes are held (see refused()), with a ClosedError once the
   * group is closed with changes unsent, or with the signal's reason.
   */
  synced(options: Signal = {}): Promise<void> {
    checkSignalOptions(options, "synced");
    return this.#synced(options);
  }

  async #synced(options: Signal): Promise<void> {
    this.#flushEdits();
    await unlessAborted(this.ready, options.signal);
    // One listener on the app's signal, not one per document (Node warns past 10 on one signal).
    await unlessAborted(Promise.all([...this.#core.docs.keys()].map((id) => this.#doc(id)!.synced())), options.signal);
  }

  /**
   * What the relay lists: documents changed since `since` (all by default), tombstones included. When this
   * client already holds exactly what the relay holds, the answer says so without listing anything.
   */
  directory(options: { since?: number } & Signal = {}): Promise<Directory> {
    checkSignalOptions(options, "directory", ["since"]);
    checkSince(options.since);
    return this.#directoryAnswer(options.since, options.signal);
  }

  async #directoryAnswer(since: number | undefined, signal: AbortSignal | undefined): Promise<Directory> {
    await unlessAborted(this.ready, signal);
    this.#throwIfClosed();
    this.#dispatch({ type: "directory", request: { type: "dir", ...(since === undefined ? {} : { since }), digest: this.digest() } });
    // The answer comes in a frame, never at once: the request just queued (or the one it shares) is the newest.
    return this.#waiters.wait(`dir:${this.#core.directory[this.#core.directory.length - 1]!.id}`, signal) as Promise<Directory>;
  }

  /** The digest of every document this client holds (protocol/digest.ts), as the relay computes its own. */
  digest(): string {
    return digestOfState(this.#core);
  }

  // Refused writes: held on this device, out of the push path, until discarded or retried.

  /** Every document whose own writes are held back after a refusal, with the writes and the reason. */
  refused(): RefusedWrites[] {
    return [...this.#core.docs.values()].filter((doc) => doc.refusal || doc.orphanRefusal).flatMap((doc) => this.#doc(doc.id)!.refusedWrites() ?? []);
  }

  /**
   * Forgets a document's refused writes (and the document, if it was refused whole); resolves when the store
   * agrees, rejects with its error if it fails, and with the group's ClosedError once it is closed.
   */
  discardRefused(doc: Doc): Promise<void> {
    this.#checkDoc(doc, "discardRefused");
    const closed = this.#closedError();
    if (closed) return Promise.reject(closed);
    // A store that never answers does not hold the app's promise past the group's close.
    const stored = Promise.all(this.#dispatch({ type: "discardRefused", doc: doc.id })).then(() => undefined);
    return untilClosed(stored, this.#closing);
  }

  /**
   * Sends a document's refused writes again; throws the ClosedError once the group is closed. Writes refused
   * as `forbidden` go again by themselves when the relay gives this agent a role that may write.
   */
  retryRefused(doc: Doc): void {
    this.#checkDoc(doc, "retryRefused");
    // Nothing would send them: the refusal stays, and what the app shows of it stays true.
    this.#throwIfClosed();
    this.#dispatch({ type: "retryRefused", doc: doc.id });
  }

  /** Calls `listener` once for each refusal, with the writes held back. */
  onRefused(listener: (refused: RefusedWrites) => void): () => void {
    checkListener(listener, "onRefused");
    this.#refusedListeners.add(listener);
    return () => this.#refusedListeners.delete(listener);
  }

  // Membership. The log is a document of kind MEMBERS_KIND; its creator is the first admin.

  /** Gives the group a membership log with this agent as its admin. From then on only members get in. */
  createMembers(): Doc {
    return this.#createWith(this.#header(MEMBERS_KIND, {}), true);
  }

  /**
   * Grants `agent` a role (admins only); resolves when the relay has stored it. An operation the relay
   * refuses (another admin's newer operation won an offline race, say) rejects with its RelayError and is
   * dropped: it never blocks the operations after it.
   */
  async setRole(agent: AgentId, role: Role, options: Signal = {}): Promise<void> {
    checkSignalOptions(options, "setRole");
    await changeMembers(this.#membership, { op: "set", agent, role }, "setRole", options.signal);
  }

  /**
   * Removes `agent` from the group (admins only); its live connections are cut off at once. `signal`, for
   * both, bounds the wait: aborted before the operation is appended (waiting for the welcome), nothing is
   * changed; after, the operation still goes.
   */
  async removeMember(agent: AgentId, options: Signal = {}): Promise<void> {
    checkSignalOptions(options, "removeMember");
    await changeMembers(this.#membership, { op: "remove", agent }, "removeMember", options.signal);
  }

  /**
   * Every member and role, replayed from the membership operations whose signatures this client verified.
   * Rejects with the ClosedError once the group is closed, though the log is held here.
   */
  members(options: Signal = {}): Promise<Map<AgentId, Role>> {
    checkSignalOptions(options, "members");
    return verifiedMembers(this.#membership, options.signal);
  }

  /**
   * Calls `listener` with this agent's new role each time it changes: an admin changed it while this
   * client was connected (the relay tells at once), or it is found changed at a reconnect.
   */
  onRole(listener: (role: Role) => void): () => void {
    checkListener(listener, "onRole");
    this.#roleListeners.add(listener);
    return () => this.#roleListeners.delete(listener);
  }

  /**
   * For bindings that gather a tick's edits before appending them (`weft/yjs` does): `flush` appends what
   * waits, and is called before the group closes and before `synced()` looks at what is unsynced, so an
   * edit made just before either is not left behind. It returns true when it holds edits for a document
   * that has not opened yet: a group closed while it still reads the local store then lets the document
   * open from it first (at most CLOSE_WAITS_FOR_STORE_MS), so they are appended. Returns a function that
   * stops it.
   */
  onFlush(flush: () => boolean | void): () => void {
    checkListener(flush, "onFlush");
    this.#flushers.add(flush);
    return () => this.#flushers.delete(flush);
  }

  /**
   * Lets the bindings append the edits they gather; one that throws is reported, the others still run.
   * True when one holds edits for a document that has not opened yet.
   */
  #flushEdits(): boolean {
    if (this.#flushers.size === 0 || this.#core.closed) return false;
    let waiting = false;
    notifyAll([...this.#flushers].map((flush) => () => void (flush() === true && (waiting = true))));
    return waiting;
  }

  onStatus(listener: (status: Status, reason?: string) => void): () => void {
    checkListener(listener, "onStatus");
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Errors the relay reported, connection failures (with their reason), and local store failures. */
  onError(listener: (error: RelayError | ConnectionError) => void): () => void {
    checkListener(listener, "onError");
    this.#errorListeners.add(listener);
    return () => this.#errorListeners.delete(listener);
  }

  /** Connects again now instead of waiting out the backoff (after a relay restart, say). */
  reconnectNow(): void {
    this.connection.reconnectNow();
  }

  /**
   * Takes the group offline until connect(), as y-websocket's `provider.disconnect()` does (an app's "work
   * offline" switch): the socket closes, status `offline` with the reason "disconnected by the app" (or it
   * stays `idle` before its first attempt), and no attempt is made meanwhile. Writes go on as offline ones
   * do: saved locally and queued, sent at connect(); synced() waits for them. Presence shown here goes from
   * the others' view. Nothing once the group is closed.
   */
  disconnect(): void {
    this.connection.disconnect();
  }

  /** Connects again after disconnect(), at once; nothing otherwise. */
  connect(): void {
    this.connection.connect();
  }

  /**
   * Closes this group's connection for good: its promises settle with a ClosedError, and the calls that
   * write throw it. `client.group(id)` then gives a new Group, which starts from what this one saved.
   */
  close(): void {
    closedByApp.add(this);
    if (this.#closeOnceRead) return;
    // Edits a binding made before its document opened, while the store is still being read: the document
    // opens from the store first (that read bounded), and takes them, rather than lose them with the close.
    const editsWaitForStore = this.#flushEdits() && this.#reading;
    if (editsWaitForStore) this.#closeOnceRead = this.#closeAfterReading();
    else this.connection.close();
  }

  async #closeAfterReading(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAITS_FOR_STORE_MS)));
    await Promise.race([this.ready.catch(() => {}), bound]);
    clearTimeout(timer);
    // A macrotask: the bindings' opens that the read answered have gone on by then, and appended.
    await afterMs(0);
    this.#flushEdits();
    this.connection.close();
  }

  /**
   * The page is going away (`pagehide`, the client calls it): the edits bindings hold are appended, and what
   * the local store lacks is kept at once, not behind the saves under way. An app need not call it.
   */
  saveBeforeLeaving(): void {
    if (this.#core.closed) return;
    this.#flushEdits();
    this.#pump.keepNow(this.#core.docs.keys());
  }

  /**
   * Before its client closes, where the local store lives no longer than the client (the default, in
   * memory): once the relay confirmed every write, or the group cannot send them now, or `signal` aborts
   * (sent-before-close.ts). Writes still unsent are told to onError then, lost with the store. Undefined
   * when there is nothing to wait for.
   */
  sendBeforeClosing(signal: AbortSignal | undefined): Promise<void> | undefined {
    if (this.#core.closed) return undefined;
    this.#flushEdits();
    if (this.unsentDocs().length === 0) return undefined;
    return sentOrCutOff(this, signal).then(() => {
      const unsent = this.unsentDocs();
      if (unsent.length === 0) return;
      const which = unsent.length === 1 ? `document ${unsent[0]}` : `${unsent.length} documents (${unsent.join(", ")})`;
      const message = `client.close(): writes to ${which} had not reached the relay, and are lost with the in-memory store; pass a FileLocalStore (Node) or an IndexedDbLocalStore (browsers) to keep them for the next run, or await synced() before closing`;
      this.#report(new LocalStoreError(message, { doc: unsent[0] }));
    });
  }

  /** Documents holding own writes the relay has not confirmed (client.close() tells the clients sharing the store). */
  unsentDocs(): DocId[] {
    return [...this.#core.docs.values()].filter((doc) => !doc.deleted && hasUnsynced(doc, this.session)).map((doc) => doc.id);
  }

  /** Whether the local store holds every write this group holds (what the relay holds aside): no save waits, or is under way. */
  allSaved(): boolean {
    return [...this.#core.docs.values()].every((doc) => {
      const unsaved = unsavedOf(doc, this.session);
      return unsaved === undefined || !carriesWrites(unsaved);
    });
  }

  /**
   * Reads the local store again for writes another client of this agent left there unsent, as when one
   * announces them, for every document (the client calls it when such a client went away without a word:
   * a crashed tab). An app need not call it.
   */
  readUnsentAgain(): void {
    this.#leftBehind.readAll();
  }

  /** Why the group closed for good, as soon as its connection did (the core hears of it in order). */
  #closedError(): ClosedError | undefined {
    return this.#core.closed ?? (this.connection.status === "closed" ? new ClosedError(this.id, this.connection.closeReason ?? "closed") : undefined);
  }

  /** A Doc of this group, as refused() and open() give them. */
  #checkDoc(doc: unknown, what: string): asserts doc is Doc {
    if (!(doc instanceof Doc)) throw new ArgumentError(`${what}: expected a Doc, as open() and refused() give them, not ${doc === null ? "null" : typeof doc}`);
    if (!this.#made.has(doc)) throw new ArgumentError(`${what}: ${doc.id} is a Doc of another group or client, not of group ${this.id} of this client`);
  }

  #throwIfClosed(): void {
    const closed = this.#closedError();
    if (closed) throw closed.again();
  }

  /** The app's Doc for a document the core holds (the same object for as long as the core holds that document). */
  #doc(id: DocId): Doc | undefined {
    const state = this.#core.docs.get(id);
    const known = this.#docs.get(id);
    if (!state) return known?.doc;
    if (known?.state === state) return known.doc;
    const doc = new Doc(state, this.#docHost);
    this.#docs.set(id, { state, doc });
    this.#made.add(doc);
    return doc;
  }

  /** Waits for `key` to settle after the event that asks for it (which may settle it at once). */
  #ask(key: WaiterKey, event: CoreEvent, signal: AbortSignal | undefined): Promise<unknown> {
    const answer = this.#waiters.wait(key, signal);
    this.#dispatch(event);
    return answer;
  }

  /** Runs what the socket reported now, or behind the snapshot being verified. */
  #inOrder(run: () => void): void {
    this.#socketOrder.run(run);
  }

  #onMessage(message: Exclude<ServerMessage, { type: "challenge" | "welcome" | "pong" | "mark" }>): void {
    if (message.type === "presence") return this.#presence.onMessage(message);
    if (message.type === "snapshot") return this.#verifyThenTake(message);
    this.#dispatch({ type: "message", message });
    // A document the relay now holds (a load answered, a header acknowledged or received) may have presence waiting.
    if (message.type === "known" || (message.type === "content" && message.header)) this.#presence.poke();
    else if (message.type === "deleted") this.#presence.forgetDoc(message.doc);
  }

  /** Checks a received snapshot's signature, then gives it to the core, then what arrived behind it. */
  #verifyThenTake(snapshot: Extract<ServerMessage, { type: "snapshot" }>): void {
    this.#socketOrder.holdFor(verifySnapshot(snapshot), (verified) => this.#dispatch({ type: "snapshotReceived", snapshot, verified }));
  }

  /** Feeds the core one event and carries out its effects; returns the local store's work it started. */
  #dispatch(event: CoreEvent): Promise<void>[] {
    const stored: Promise<void>[] = [];
    for (const effect of step(this.#core, event)) {
      const work = this.#carryOut(effect);
      if (work) stored.push(work);
    }
    return stored;
  }

  #carryOut(effect: CoreEffect): Promise<void> | undefined {
    switch (effect.type) {
      case "send":
        this.connection.send(effect.message);
        return;
      case "status":
        if (effect.to === "live") this.connection.markLive();
        else this.connection.markSyncing();
        return;
      case "drop":
        this.connection.drop(effect.reason);
        return;
      case "timeRefused":
        if (this.connection.relayNow() < effect.at - RELAY_CLOCK_SLACK_MS) return;
        this.connection.timeRefused();
        this.connection.drop("the relay refused a write's time: connecting again to hear its clock");
        return;
      case "flush":
        this.#pump.markDirty(effect.doc);
        return;
      case "pushAt":
        this.#pump.pushAt(effect.doc, effect.at);
        return;
      case "removeLocal":
        return this.#storeWork(effect.doc, effect.report, `removing ${effect.doc} locally failed`, async () => {
          await this.#store.remove(this.id, effect.doc);
          if (effect.announce) await this.#store.announceUnsent?.(this.id, [effect.doc]);
        });
      case "cutLocal":
        return this.#storeWork(effect.doc, effect.report, `cutting this client's writes to ${effect.doc} in the local store failed`, async () => {
          await cutStoredSession(this.#store, this.id, effect.doc, { session: effect.session, keep: effect.keep });
          this.#pump.markDirty(effect.doc);
          // Another tab may have taken the writes cut in: it forgets them (core: adoptTails).
          await this.#store.announceUnsent?.(this.id, [effect.doc]);
        });
      case "settle": {
        // The store learns that the relay holds the writes before synced() says so: an app that exits as
        // soon as they are synced restarts knowing they were acknowledged (relayHeld), and no refusal names them.
        const kept = !effect.error && effect.waiter.startsWith("synced:") ? this.#pump.relayHeldSaved(effect.waiter.slice("synced:".length) as DocId) : undefined;
        if (!kept) {
          this.#waiters.settle(effect.waiter, effect.error);
          return;
        }
        const waiting = this.#waiters.take(effect.waiter);
        void kept.then(() => waiting?.resolveAll(undefined));
        return;
      }
      case "answer":
        this.#waiters.settle(effect.waiter, undefined, effect.directory);
        return;
      case "changed":
        // Only a Doc the app was given can have listeners.
        this.#docs.get(effect.doc)?.doc.emitChange(effect);
        return;
      case "refused": {
        const doc = this.#doc(effect.doc);
        if (!doc) return;
        notifyAll(this.#refusedListeners, doc.refusedOf(effect));
        return;
      }
      case "role":
        this.#presence.roleChanged();
        notifyAll(this.#roleListeners, effect.role);
        return;
      case "keepRole":
        return this.#store.saveRole?.(this.id, this.identity.agent, effect.role).catch((error: Error) => {
          this.#report(new LocalStoreError(`keeping this agent's role in the local store failed: ${storeFailureText(error)}`));
        });
      case "forget":
        this.#docs.delete(effect.doc);
        this.#presence.forgetDoc(effect.doc, true);
        return;
      case "report":
        this.#report(effect.error);
        return;
      default:
        return assertNever(effect);
    }
  }

  /** Local store work for an effect: a failure goes to onError when `report`, else to whoever awaits it. */
  #storeWork(doc: DocId, report: boolean, what: string, work: () => Promise<void>): Promise<void> {
    const done = work();
    if (!report) return done;
    return done.catch((error: unknown) => this.#report(new LocalStoreError(`${what}: ${storeFailureText(error)}`, { doc })));
  }

  #report(error: RelayError | ConnectionError): void {
    notifyAll(this.#errorListeners, error);
  }
}
