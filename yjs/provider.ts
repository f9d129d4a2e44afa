// WeftProvider: a Y.Doc kept in sync through one Weft document, shaped like the providers Yjs users know
// (y-websocket, y-partyserver). Local updates become transactions of this client's session, merged per
// microtask; other sessions' transactions are applied to the Y.Doc once each, with the provider as origin;
// awareness travels over the document's presence. Snapshots (the merged state as one update) are applied
// when received, and taken by one editor when the log outgrows the state (snapshot-policy.ts). The relay
// never sees anything Yjs-specific.
import * as Y from "yjs";
import { Awareness } from "y-protocols/awareness";
import type { Doc, DocChange, DocTransaction } from "../client/doc.ts";
import type { Group } from "../client/group.ts";
import type { Status } from "../client/status.ts";
import { notifyAll } from "../client/listeners.ts";
import { deletedError } from "../client/core/relay-messages.ts";
import { ClosedError, LocalRefusalError, RelayError } from "../client/errors.ts";
import { checkListener, snapshotRefusal } from "../client/local-checks.ts";
import { agentOfSession, type DocId } from "../protocol/ids.ts";
import { isSubset } from "../protocol/known-state.ts";
import { MAX_SNAPSHOT_BYTES } from "../protocol/limits.ts";
import type { Snapshot } from "../protocol/snapshot.ts";
import type { Role } from "../protocol/roles.ts";
import { AwarenessOverPresence, type PresenceChannel, type PresencePeer } from "./awareness-presence.ts";
import { OFFERS_SNAPSHOTS, leadsSnapshots, logSize, mayOutgrow, outgrows, overdue, snapshotPolicyOf, type SnapshotOptions, type SnapshotPolicy } from "./snapshot-policy.ts";
import { MAX_PAYLOAD_BYTES, dataToPayload, payloadToData } from "./payload.ts";
import { UpdateAssembler, appliedThrough, decodeUpdatePayload, encodeUpdatePayloads } from "./update-frames.ts";
import { forgetSent, rememberSent, unsentUpdate } from "./rebinding.ts";
import { LocalUpdates } from "./local-updates.ts";
import { UndecodableUpdateError, applyEach, notAState, reasonOf, type ReceivedUpdate } from "./received-updates.ts";
import { MissingUpdatesWatch } from "./missing-updates-watch.ts";
import { checkProviderArguments } from "./provider-arguments.ts";
import { checkStandsFor, claimFor } from "./standing-for.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

/** Why a transaction's or snapshot's text is no update: this binding writes updates as base64url. */
const NOT_BASE64 = "text that is not base64";

/** The connection as y-websocket reports it. */
export type ProviderStatus = "connecting" | "connected" | "disconnected";

export type WeftProviderOptions = {
  /** Shared with editor bindings for cursors; one is made (and destroyed with the provider) if not given. */
  awareness?: Awareness;
  /**
   * Snapshots taken by this provider: when the log held since the document's last snapshot (its data, and
   * TRANSACTION_OVERHEAD_BYTES per transaction) is more than `factor` times the state and at least
   * `minLogBytes`, the editor that leads (see docs/bindings.md)
   * publishes the merged state. Default `{ factor: 4, minLogBytes: 65536 }`; `false` never takes one
   * (received snapshots are applied either way).
   */
  snapshots?: SnapshotOptions;
};

const EVENTS: readonly (keyof Events)[] = ["status", "sync", "synced", "error"];

type Events = {
  status: (event: { status: ProviderStatus; relay: Status }) => void;
  /** True once the relay's state of the document is in the Y.Doc on the current connection; false when it drops. */
  sync: (synced: boolean) => void;
  synced: (synced: boolean) => void;
  /**
   * The document could not be opened, a local update could not be appended, or the relay refused edits
   * this Y.Doc holds (the group's RelayError: `forbidden` for edits made cut off by an agent made a reader
   * meanwhile, say). Yjs cannot take an edit out again: to show the document as it is, bind a fresh Y.Doc
   * (after `group.discardRefused(doc)`, or `group.retryRefused(doc)` once the edits may go through; edits
   * refused as `forbidden` go by themselves once a role change lets the agent write). Once
   * they are discarded, a DivergedError says that this Y.Doc's later edits are no longer sent. Edits made
   * while the agent is known not to be allowed to write the document (a reader) are not sent to be refused:
   * they wait (see `waitingToWrite`), and a LocalRefusalError (`forbidden`) says so once. The relay speaks
   * another protocol version (the group's RelayError `unsupported_version`, once per run of refusals, and
   * once at bind during one): the binding stays, edits are saved locally and go once a relay of this version answers; ask for a reload.
   * The document was deleted (a RelayError `doc_deleted`, once): the provider stops, and later edits go nowhere.
   * The group closed for good: the first edit made in the Y.Doc afterwards (neither saved nor sent) gives its ClosedError, once.
   */
  error: (error: Error) => void;
};

/**
 * The Y.Doc holds edits of the document that were discarded (`group.discardRefused`). Its later edits would
 * follow them in its client's clock and sit next to them, and Yjs elsewhere would wait for them for ever:
 * acknowledged, stored, and shown by no other replica. The provider sends none of them; bind a fresh Y.Doc.
 */
export class DivergedError extends Error {
  override readonly name = "DivergedError";
  readonly doc: DocId;

  constructor(doc: DocId) {
    super(`WeftProvider: this Y.Doc holds edits of ${doc} that were discarded; its later edits are not sent, as no other replica could apply them: bind a fresh Y.Doc to the document`);
    this.doc = doc;
  }
}

/** The live provider of each document, per group: one client shows one presence per document, so one provider. */
const providers = new WeakMap<Group, Map<DocId, WeftProvider>>();

export class WeftProvider {
  /** What error messages call it (describe, protocol/messages.ts): a bundler's minifier renames the class, not this. */
  get [Symbol.toStringTag](): string {
    return "WeftProvider";
  }

  readonly group: Group;
  readonly docId: DocId;
  readonly ydoc: Y.Doc;
  readonly awareness: Awareness;
  /**
   * Resolves once the Y.Doc holds the document as saved on this device or, if it is not, as the relay has it.
   * Rejects with why it cannot: the relay's refusal (a RelayError: `forbidden`, `unknown_doc`, ...), a
   * ClosedError once the group is closed, or an Error when the provider was destroyed before the document
   * opened (see destroy()). Resolves with the Weft document (`doc`), for `snapshot()` and `synced()`.
   */
  readonly loaded: Promise<Doc>;
  /** The Weft document, once opened. */
  doc: Doc | undefined;
  status: ProviderStatus;
  synced = false;
  readonly #ownsAwareness: boolean;
  /** Parts it drops (they can never complete) are reported, once per update: every replica drops them alike. */
  readonly #assembler = new UpdateAssembler(({ session, index, reason }) => this.#emit("error", new UndecodableUpdateError(this.docId, session, index, reason)));
  readonly #listeners = new Map<keyof Events, Set<(...args: never) => void>>();
  readonly #cleanups: (() => void)[] = [];
  /** Local updates not yet appended, merged into one transaction (or a few parts) per flush. */
  readonly #pending: LocalUpdates;
  #flushQueued = false;
  #destroyed = false;
  /** Ends the document's open when the provider is destroyed before it with nothing pending. */
  readonly #opening = new AbortController();
  readonly #policy: SnapshotPolicy | undefined;
  /** The size of the log held since the document's last snapshot (logSize), and the state's size last measured (at what log size). */
  #logBytes = 0;
  #measured = { stateBytes: 0, atLogBytes: 0 };
  /** A snapshot of ours is on its way to the relay. */
  #snapshotting = false;
  /** A snapshot was due and the state was too large for one (said once, until it fits again). */
  #reportedTooLarge = false;
  /**
   * Refused edits the Y.Doc holds (this client's, or another tab's it took in) were discarded: Yjs cannot
   * take them out, so the Y.Doc no longer stands for the document (see DivergedError).
   */
  #diverged = false;
  /** Edits wait in #pending: the group refused to append them at once, as its agent may not write the document. */
  #waitingToWrite = false;
  /** This provider is appending its Y.Doc's edits: the changes they make come from this Y.Doc. */
  #appending = false;
  /** An append failed (not for want of a role): those edits were dropped, never sent. */
  #appendFailed = false;
  #snapshotCheckQueued = false;
  /** Stops listening for edits made after the group closed (#sayEditsAfterClose). */
  #stopSaying = (): void => {};
  /** The other peers present in the document, as its presence reports them. */
  #present: ReadonlyMap<string, PresencePeer> = new Map();
  /** A status was emitted: the one it started with need not be. */
  #statusSaid = false;
  /** Reports what the Y.Doc waits for, if it waits for long while in sync. */
  readonly #missing: MissingUpdatesWatch;

  /**
   * Throws a TypeError if this group already has a live provider of the document: its client shows one
   * presence per document, which two would overwrite. Editor panes of one document share a Y.Doc and its provider.
   * Also if the Y.Doc was ever bound to another document: it holds that one's content, which this document
   * would take in (and the other this one's), so each document needs a Y.Doc of its own.
   */
  constructor(group: Group, docId: DocId, ydoc: Y.Doc, options: WeftProviderOptions = {}) {
    checkProviderArguments(group, docId, ydoc, options);
    const policy = snapshotPolicyOf(options.snapshots);
    // Nothing would stop it (no status change is coming), and it would hold the document's place.
    if (group.status === "closed") throw new ClosedError(group.id, group.connection.closeReason ?? "closed");
    let live = providers.get(group);
    if (!live) providers.set(group, (live = new Map()));
    if (live.has(docId)) {
      throw new ArgumentError(`WeftProvider: group ${group.id} already has a provider of ${docId}; bind every editor of the document to its Y.Doc, or destroy() it first`);
    }
    checkStandsFor(ydoc, group.id, docId);
    this.group = group;
    this.docId = docId;
    this.ydoc = ydoc;
    this.#policy = policy;
    this.#ownsAwareness = options.awareness === undefined;
    this.awareness = options.awareness ?? new Awareness(ydoc);
    this.status = toProviderStatus(group.status);
    // Content the Y.Doc held before the provider (an app's own persistence) is sent once; Yjs drops duplicates.
    // Bound to the document before, only what was added since (rebinding.ts).
    const unsent = unsentUpdate(ydoc, group, docId);
    this.#pending = new LocalUpdates(ydoc, this, () => this.#queueFlush());
    this.#missing = new MissingUpdatesWatch(ydoc, docId, (error) => this.#emit("error", error), () => this.synced && !this.#destroyed);
    if (unsent) this.#pending.push(unsent);
    const onDestroy = () => this.destroy();
    ydoc.on("destroy", onDestroy);
    this.#cleanups.push(() => this.#pending.stop(), () => ydoc.off("destroy", onDestroy));
    this.#cleanups.push(group.onStatus((status) => this.#onStatus(status)));
    // The group stays open through it (offline, saving edits); the app is the one that can update the SDK.
    this.#cleanups.push(group.onError((error) => error instanceof RelayError && error.code === "unsupported_version" && this.#emit("error", error)));
    // Bound during a run of refusals the group told of before: this provider's listeners hear it too, once
    // they are added (right after the constructor returns); the group tells again only of a later run.
    if (group.connection.versionRefusal !== undefined) queueMicrotask(() => this.#reportVersionRefusal());
    this.#cleanups.push(
      group.onRefused((refused) => {
        if (refused.doc.id !== docId) return;
        // Writes lost with the document: its deletion, said once (before it opened, by `loaded`).
        if (!isDeletion(refused.error)) this.#emit("error", refused.error);
        else if (this.doc) this.#onDeleted(refused.error);
      }),
    );
    // A role that may write: the edits that waited go.
    this.#cleanups.push(group.onRole(() => this.#waitingToWrite && this.#flush()));
    // The edits of this tick go before the group closes or looks at what is unsynced (synced()). Edits
    // made before the document opened say so: a group closing while it reads the store lets it open first.
    const stopFlushing = group.onFlush(() => {
      this.#flush();
      return !this.doc && !this.#pending.empty;
    });
    this.#cleanups.push(() => {
      // Destroyed before it opened, with edits that wait for it: they still go once it opens (#open).
      if (this.doc || this.#pending.empty) stopFlushing();
      else void this.loaded.then(stopFlushing, stopFlushing);
    });
    // Registered once nothing above can throw: a constructor that threw holds no place.
    live.set(docId, this);
    claimFor(ydoc, group.id, docId);
    this.#cleanups.push(() => void (live.get(docId) === this && live.delete(docId)));
    // Its listeners are added right after the constructor returns: they hear the status it starts with (a
    // group already live: "connected"), as y-websocket's hear its socket open.
    queueMicrotask(() => {
      if (!this.#statusSaid && !this.#destroyed) this.#emit("status", { status: this.status, relay: group.status });
    });
    this.loaded = this.#open();
    this.loaded.catch((error: unknown) => {
      this.#emit("error", error instanceof Error ? error : new Error(String(error)));
      // A document that cannot be opened (none such, deleted, not readable): the provider stops and gives
      // its place up, so the app may bind another once the document exists.
      this.#stop(false);
    });
  }

  /**
   * True once edits this Y.Doc holds were discarded (`group.discardRefused`): it no longer stands for the
   * document, and its later edits are not sent (see DivergedError). Bind a fresh Y.Doc.
   */
  get diverged(): boolean {
    return this.#diverged;
  }

  /**
   * True while edits made in the Y.Doc wait in this provider, unsent, because the agent may not write the
   * document (it is a reader, or no longer among its `readers`). They go once a role change lets it write;
   * they are kept in memory only, so `destroy()` or a reload drops them. An editor shows a reader the
   * document read-only (`group.role`, `group.onRole`) so that nothing waits.
   */
  get waitingToWrite(): boolean {
    return this.#waitingToWrite;
  }

  /** Listens to `event` (status, sync, synced, error); throws a TypeError for another name or a listener that is not a function. */
  on<E extends keyof Events>(event: E, listener: Events[E]): void {
    if (!EVENTS.includes(event)) throw new ArgumentError(`WeftProvider.on: there is no event ${JSON.stringify(event)}; the events are ${EVENTS.join(", ")}`);
    checkListener(listener, `WeftProvider.on(${JSON.stringify(event)})`);
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
  }

  off<E extends keyof Events>(event: E, listener: Events[E]): void {
    this.#listeners.get(event)?.delete(listener);
  }

  /** Listens to the next `event` only, as y-websocket's `once`; throws as on() does. */
  once<E extends keyof Events>(event: E, listener: Events[E]): void {
    checkListener(listener, `WeftProvider.once(${JSON.stringify(event)})`);
    const once = ((...args: Parameters<Events[E]>) => {
      this.off(event, once);
      (listener as (...values: Parameters<Events[E]>) => void)(...args);
    }) as Events[E];
    this.on(event, once);
  }

  /**
   * Appends what is pending, then stops: no more listeners on the Y.Doc, the awareness or the group, this
   * peer's presence cleared, remote awareness states removed. The Y.Doc and the group stay usable.
   * Before the document opened, `loaded` rejects: at once when nothing is pending; otherwise once the
   * document opened and the pending edits were appended, or with why it could not open (they were not).
   */
  destroy(): void {
    this.#stop(true);
  }

  /**
   * destroy(), `byApp`; a group closed for good stops the provider too, but leaves `loaded` to reject with its
   * ClosedError and the app's listeners to hear it.
   */
  #stop(byApp: boolean): void {
    if (this.#destroyed) {
      // Stopped by itself before (its group closed, its document deleted): destroy() lets go of the rest.
      if (byApp) {
        this.#stopSaying();
        this.#listeners.clear();
      }
      return;
    }
    this.#flush();
    this.#rememberWhatWasSent();
    this.#destroyed = true;
    this.#missing.stop();
    if (byApp && !this.doc && this.#pending.empty) this.#opening.abort(this.#destroyedError());
    for (const cleanup of this.#cleanups.splice(0).reverse()) cleanup();
    if (this.#ownsAwareness) this.awareness.destroy();
    if (byApp) this.#listeners.clear();
    // A stopped provider syncs nothing more: what it says must not read "connected", and the app hears so.
    this.#show("disconnected", false, this.group.status);
  }

  /** For the next provider of this Y.Doc and document: how far this one sent it, if nothing was dropped or left waiting. */
  #rememberWhatWasSent(): void {
    if (this.doc && !this.#diverged && !this.#appendFailed && this.#pending.empty) rememberSent(this.ydoc, this.group, this.docId);
    // Not opened and nothing pending: the Y.Doc is as this provider found it, and what was remembered stands.
    else if (this.doc || !this.#pending.empty) forgetSent(this.ydoc, this.docId);
  }

  async #open(): Promise<Doc> {
    const doc = await this.group.open(this.docId, { signal: this.#opening.signal });
    if (this.#destroyed) {
      // Destroyed while opening: what was typed meanwhile still goes into this session, nothing else happens.
      this.#flush(doc);
      throw this.#destroyedError();
    }
    this.doc = doc;
    // The snapshot the document starts from, then everything held after it, every session (this one's too:
    // a reload restores from it), applied as one update.
    if (doc.heldSnapshot) this.#applySnapshot(doc.heldSnapshot);
    this.#applyAll(doc.transactions().flatMap((transaction) => this.#complete(transaction)));
    this.#logBytes = logBytesOf(doc.transactions(), doc.lastSnapshotted?.covers);
    this.#cleanups.push(doc.subscribe((change) => this.#onChange(change)));
    this.#cleanups.push(doc.limitSnapshots((last) => this.#heldUpTo(last)));
    const presence = (doc as Doc & { presence?: PresenceChannel }).presence;
    if (presence) {
      // An editor that takes snapshots says so in its presence, so editors agree on who leads; one whose
      // agent may take none (a reader, a writer that did not create the document) does not offer while it
      // may not (it would keep the others from leading).
      const offer = (role: Role | undefined) => (this.#policy && this.#maySnapshot(doc, role) ? { [OFFERS_SNAPSHOTS]: true } : {});
      const bridge = new AwarenessOverPresence(this.awareness, presence, this, (error) => this.#emit("error", error), offer(this.group.role));
      this.#cleanups.push(() => bridge.destroy());
      this.#cleanups.push(this.group.onRole((role) => bridge.setExtra(offer(role))));
      this.#cleanups.push(
        presence.subscribe((peers) => {
          this.#present = peers;
          this.#maybeSnapshot();
        }),
      );
    }
    this.#flush();
    this.#onStatus(this.group.status);
    return doc;
  }

  #onChange(change: DocChange): void {
    if (change.doc.deleted) return this.#onDeleted();
    // Refused edits discarded: the Y.Doc applied them (they were typed into it, or held when it was bound).
    if (change.removed && !this.#diverged) {
      this.#diverged = true;
      this.#pending.clear();
      this.#emit("error", new DivergedError(this.docId));
    }
    if (change.snapshot) this.#applySnapshot(change.snapshot);
    // A snapshot stored (anyone's): the log since the last snapshot is what follows it.
    if (change.snapshotted) {
      this.#logBytes = logBytesOf(change.doc.transactions(), change.snapshotted.covers);
      this.#measured = { ...this.#measured, atLogBytes: 0 };
    }
    else this.#logBytes += logBytesOf(change.added);
    // This Y.Doc's own appends come back here too (while it appends): they came from it. Writes of the own
    // session the relay held instead (another tab's copy, taken in after a discard) are applied like any.
    const updates = change.added.filter((transaction) => !(this.#appending && transaction.session === this.group.session)).flatMap((transaction) => this.#complete(transaction));
    this.#applyAll(updates);
    this.#watchMissing();
    this.#maybeSnapshot();
  }

  /**
   * Applies updates in one Yjs transaction; one Yjs cannot decode is skipped and reported, the others apply.
   * Local edits gathered in bulk are sealed first, so that what this client sends holds none of them.
   */
  #applyAll(updates: ReceivedUpdate[]): void {
    if (updates.length > 0) this.#pending.seal();
    for (const { update, reason } of applyEach(this.ydoc, updates, this)) this.#emit("error", new UndecodableUpdateError(this.docId, update.session, update.index, reason));
  }

  /** A snapshot's data is the merged state as one Yjs update; applying it again (or an older one) changes nothing. */
  #applySnapshot(snapshot: Snapshot): void {
    for (const [session, count] of Object.entries(snapshot.covers)) this.#assembler.covered(session, count);
    const update = typeof snapshot.data === "string" ? dataToPayload(snapshot.data) : snapshot.data;
    const unreadable = update ? notAState(update) : NOT_BASE64;
    if (!update || unreadable) return this.#emit("error", new UndecodableUpdateError(this.docId, snapshot.session, undefined, unreadable!));
    this.#pending.seal();
    try {
      Y.applyUpdate(this.ydoc, update, this);
    } catch (error) {
      this.#emit("error", new UndecodableUpdateError(this.docId, snapshot.session, undefined, reasonOf(error)));
    }
  }

  /** Whether the Y.Doc still waits for updates never sent is worth watching now: in sync, nothing half received. */
  #watchMissing(): void {
    this.#missing.look(this.synced && !this.#destroyed && this.#assembler.incomplete === 0);
  }

  /**
   * Takes a snapshot when the log since the last one has outgrown the state, this editor leads, the group is
   * live, no update of another session is half received (its parts would be covered but not in the state),
   * the relay confirmed everything this client holds (own edits, and another tab's it took in: the state
   * would otherwise carry edits the snapshot does not cover, which the relay may yet refuse), and the
   * Y.Doc holds no edit the relay refused. It covers what the relay confirmed, which is all the Y.Doc holds.
   */
  #maybeSnapshot(): void {
    // Checked a microtask later: once per burst of changes, and never inside the SDK's own dispatch.
    if (this.#snapshotCheckQueued) return;
    this.#snapshotCheckQueued = true;
    queueMicrotask(() => {
      this.#snapshotCheckQueued = false;
      this.#snapshotIfDue();
    });
  }

  #snapshotIfDue(): void {
    const { doc } = this;
    const policy = this.#policy;
    if (!policy || !doc || this.#destroyed || this.#snapshotting || !mayOutgrow(policy, this.#logBytes, this.#measured)) return;
    if (this.group.status !== "live" || !this.#maySnapshot(doc, this.group.role)) return;
    // Refused edits held back (their covers would leave them out) or discarded (the Y.Doc still has them).
    if (this.#diverged || doc.refused || !this.#pending.empty || !isSubset(doc.known, doc.relayKnown)) return;
    // Another editor leads, or another writer's update is half received (a snapshot would cover none of it):
    // waited for, until the log is overdue (snapshot-policy.ts).
    const waits = this.#assembler.incomplete > 0 || !leadsSnapshots(this.group.session, this.#present.values());
    if (waits && !overdue(policy, this.#logBytes, this.#measured.stateBytes)) return;
    const state = Y.encodeStateAsUpdate(this.ydoc);
    this.#measured = { stateBytes: state.byteLength, atLogBytes: this.#logBytes };
    const tooLarge = state.byteLength > MAX_SNAPSHOT_BYTES;
    if (!tooLarge) this.#reportedTooLarge = false;
    if (!outgrows(policy, this.#logBytes, state.byteLength) || (waits && !overdue(policy, this.#logBytes, state.byteLength))) return;
    if (tooLarge) {
      // The log now grows without a snapshot to compact it, however long: the app hears it, once.
      if (!this.#reportedTooLarge) this.#emit("error", new LocalRefusalError("snapshot_too_large", `WeftProvider: the state of ${this.docId} is ${state.byteLength} bytes, over the ${MAX_SNAPSHOT_BYTES} a snapshot may hold: no snapshot is taken while it is, and every new editor loads the whole log`));
      this.#reportedTooLarge = true;
      return;
    }
    let published: Promise<void>;
    try {
      published = doc.snapshot(state);
    } catch {
      return; // covers nothing newer (another editor's snapshot is newer), say: nothing to do
    }
    this.#snapshotting = true;
    // A refusal (another editor's snapshot was stored first) or a close changes nothing: the next change retries.
    const done = () => void (this.#snapshotting = false);
    published.then(done, done);
  }

  /**
   * Whether this agent may publish a snapshot of the document, for the role the relay last said: only its
   * creator and admins may (protocol/roles.ts maySnapshot); the others' providers never try, and say nothing.
   */
  #maySnapshot(doc: Doc, role: Role | undefined): boolean {
    return doc.header !== undefined && snapshotRefusal(role, agentOfSession(this.group.session), doc.header) === undefined;
  }

  /**
   * How many of a session's transactions, up to `last`, a snapshot of this Y.Doc may cover
   * (Doc.limitSnapshots): any snapshot of the document, the app's own `doc.snapshot()` included. None of
   * a change split into parts unless all of it: the Y.Doc applies one only once its last part is in, and a
   * loader starting from a snapshot that covers its first parts would get the others without them, and
   * drop them all. None at all from a Y.Doc holding edits the relay refused: its state would publish them.
   */
  #heldUpTo(last: DocTransaction): number {
    if (this.#diverged || this.doc?.refused) throw new LocalRefusalError("snapshot_refused", `WeftProvider: this Y.Doc holds edits of ${this.docId} that the relay refused; a snapshot of it would publish them`);
    return appliedThrough(dataToPayload(last.data), last.index);
  }

  /** The update a transaction completes (none while a split update still lacks parts, or if it is no payload of this binding's). */
  #complete(transaction: DocTransaction): ReceivedUpdate[] {
    const { session, index } = transaction;
    const payload = dataToPayload(transaction.data);
    const decoded = payload && decodeUpdatePayload(payload);
    if (!payload || decoded?.kind === "invalid") {
      this.#emit("error", new UndecodableUpdateError(this.docId, session, index, decoded?.kind === "invalid" ? decoded.reason : NOT_BASE64));
      return [];
    }
    const update = this.#assembler.push(session, payload, index);
    return update ? [{ update, session, index }] : [];
  }

  #queueFlush(): void {
    if (this.#destroyed || this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      if (!this.#destroyed) this.#flush();
    });
  }

  /** Appends the pending updates as one: a whole transaction, or parts that fit MAX_TRANSACTION_BYTES. */
  #flush(doc = this.doc): void {
    if (!doc || this.#pending.empty) return;
    if (doc.deleted) return this.#onDeleted();
    if (this.#diverged) {
      this.#pending.clear();
      return;
    }
    const update = this.#pending.take()!;
    const waited = this.#waitingToWrite;
    this.#waitingToWrite = false;
    try {
      this.#appending = true;
      for (const payload of encodeUpdatePayloads(update, MAX_PAYLOAD_BYTES)) doc.append(payloadToData(payload));
    } catch (error) {
      if (error instanceof LocalRefusalError && error.code === "forbidden") {
        // This agent may not write the document now: the edits wait for a role that may (said once).
        this.#pending.putBack(update);
        this.#waitingToWrite = true;
        if (!waited) this.#emit("error", error);
        return;
      }
      this.#appendFailed = true;
      this.#emit("error", error instanceof Error ? error : new Error(String(error)));
      return;
    } finally {
      this.#appending = false;
    }
    // A snapshot waits for the relay to confirm our edits: look again once it has.
    if (this.#policy) doc.synced().then(() => this.#maybeSnapshot(), () => {});
  }

  /**
   * The document was deleted: said once (by the refusal of the writes it lost, or a RelayError
   * `doc_deleted` of its own), and the provider stops as a destroyed one does, disconnected and out of sync
   * (`doc.deleted` says why). What the Y.Doc held unsent, or is typed into it later, goes nowhere.
   */
  #onDeleted(error: Error = deletedError(this.docId)): void {
    if (this.#destroyed) return;
    this.#pending.clear();
    this.#emit("error", error);
    this.#stop(false);
  }

  #reportVersionRefusal(): void {
    const refusal = this.group.connection.versionRefusal;
    if (this.#destroyed || refusal === undefined) return;
    // The connection keeps the refusal as the group reported it: `unsupported_version: <the relay's message>`.
    this.#emit("error", new RelayError({ code: "unsupported_version", message: refusal.replace(/^unsupported_version: /, "") }));
  }

  #destroyedError(): Error {
    return new Error(`WeftProvider: destroyed before document ${this.docId} opened`);
  }

  #onStatus(relay: Status): void {
    if (this.#destroyed) return;
    const synced = relay === "live" && this.doc !== undefined;
    this.#show(toProviderStatus(relay), synced, relay);
    if (synced) {
      this.#watchMissing();
      this.#maybeSnapshot();
    }
    // Closed for good (client.close(), a refused token): nothing will come, and what the provider owns (the
    // awareness and its timer) must not keep a Node process alive.
    if (relay !== "closed") return;
    const opened = this.doc !== undefined;
    this.#stop(false);
    // Not opened: `loaded` rejects with the ClosedError, which says it.
    if (opened) this.#sayEditsAfterClose();
  }

  /**
   * Edits made in the Y.Doc once the group closed go nowhere (an append would throw the ClosedError): the
   * first says so, once, rather than the editor losing them unsaid. destroy() stops listening.
   */
  #sayEditsAfterClose(): void {
    const onUpdate = () => {
      this.#stopSaying();
      this.#emit("error", new ClosedError(this.group.id, this.group.connection.closeReason ?? "closed"));
    };
    this.#stopSaying = () => this.ydoc.off("update", onUpdate);
    this.ydoc.on("update", onUpdate);
  }

  /** Says `status` and `synced`, each to its listeners when it changed. */
  #show(status: ProviderStatus, synced: boolean, relay: Status): void {
    if (status !== this.status) {
      this.status = status;
      this.#statusSaid = true;
      this.#emit("status", { status, relay });
    }
    if (synced !== this.synced) {
      this.synced = synced;
      this.#emit("sync", synced);
      this.#emit("synced", synced);
    }
  }

  #emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    notifyAll((this.#listeners.get(event) ?? []) as Iterable<(...values: Parameters<Events[E]>) => void>, ...args);
  }
}

/** The log size (snapshot-policy.ts: logSize) of `transactions`, of each session only from `from[session]` on when given. */
function logBytesOf(transactions: readonly DocTransaction[], from: Readonly<Record<string, number>> = {}): number {
  let count = 0;
  let dataBytes = 0;
  for (const transaction of transactions) {
    if (transaction.index < (from[transaction.session] ?? 0)) continue;
    count++;
    dataBytes += typeof transaction.data === "string" ? transaction.data.length : transaction.data.byteLength;
  }
  return logSize(count, dataBytes);
}

const isDeletion = (error: Error): boolean => (error as RelayError | LocalRefusalError).code === "doc_deleted";

function toProviderStatus(status: Status): ProviderStatus {
  if (status === "live" || status === "syncing") return "connected";
  if (status === "connecting" || status === "authenticating" || status === "idle") return "connecting";
  return "disconnected";
}
