// Presence on the client: `doc.presence` shows this client's ephemeral state in a document ("Alice, cursor
// at 42") and tells who else is there. One PresenceChannel per group carries it over the group's socket:
// it sends only the latest state of each document, paced under the relay's rate limit, sends it again
// after a reconnect, and forgets everyone else's when the socket goes down (the relay clears ours then).
import { notifyAll } from "./listeners.ts";
import {
  PRESENCE_BURST,
  PRESENCE_MAX_BYTES,
  PRESENCE_MAX_DOCS_PER_PEER,
  PRESENCE_UPDATES_PER_SECOND,
  jsonProblem,
  utf8Length,
  type AgentId,
  type DocId,
  type Json,
  type Presence,
  type ServerPresence,
  type SessionId,
} from "../protocol/index.ts";
import { LocalRefusalError, type ClosedError } from "./errors.ts";
import { checkListener, refuseTextAsRelayWould } from "./local-checks.ts";

/** A peer's key in the presence map: its agent and session, since one agent may be here in several tabs. */
export type PresenceKey = `${AgentId}/${SessionId}`;
export type PresencePeerState = { agent: AgentId; session: SessionId; state: Json };
/** Every other peer's state in a document (this client's own excluded). */
export type PresenceMap = ReadonlyMap<PresenceKey, PresencePeerState>;
export type PresenceListener = (peers: PresenceMap) => void;

/**
 * The client paces itself at half the relay's rate and burst, so network jitter (frames sent apart that
 * arrive together) never makes the relay drop one.
 */
const PACED_PER_SECOND = PRESENCE_UPDATES_PER_SECOND / 2;
const PACED_BURST = PRESENCE_BURST / 2;

type OwnState = { state: Json; json: string; bytes: number };

export type PresenceHooks = {
  readonly session: SessionId;
  /** Sends a message on the current socket; false when there is none (it is sent again on the next hello). */
  send(message: Presence): boolean;
  /**
   * The relay holds the document (its load was answered, or its header acknowledged) and this agent may read
   * it there: presence there is welcome.
   */
  mayShowIn(doc: DocId): boolean;
  /** Why presence can never be shown in the document (deleted, no longer held), if it cannot. */
  goneWhy?(doc: DocId): string | undefined;
  /** Why the group closed for good, once it did: set() throws it. */
  closedError?(): ClosedError | undefined;
  /**
   * Runs `send` right behind the content about to be pushed, if some is (false otherwise), so a cursor
   * moved by a keystroke travels in the keystroke's frame: one frame to send, and one for each reader.
   */
  afterNextPush?(send: () => void): boolean;
};

/** `doc.presence`: this client's state in one document, and everyone else's. */
export class DocPresence {
  readonly #doc: DocId;
  readonly #channel: PresenceChannel;
  #peers = new Map<PresenceKey, PresencePeerState>();
  readonly #listeners = new Set<PresenceListener>();

  constructor(doc: DocId, channel: PresenceChannel) {
    this.#doc = doc;
    this.#channel = channel;
  }

  /**
   * Shows `state` (any JSON value) to the document's other readers, replacing what this client showed.
   * Throws a LocalRefusalError, synchronously, for what the relay would refuse: a value that is not JSON
   * (`bad_frame`), a document deleted or no longer held by the group (`presence_refused`), or states over
   * PRESENCE_MAX_BYTES or PRESENCE_MAX_DOCS_PER_PEER documents, this client's documents in the group
   * together (`presence_too_large`). Throws the group's ClosedError once it is closed for good.
   */
  set(state: Json): void {
    this.#channel.set(this.#doc, state);
  }

  /** Stops showing anything in this document. */
  clear(): void {
    this.#channel.clear(this.#doc);
  }

  /** What this client shows here, as the others receive it; undefined when it shows nothing. */
  get state(): Json | undefined {
    return this.#channel.own(this.#doc);
  }

  /** Every other peer's state now. */
  get peers(): PresenceMap {
    return this.#peers;
  }

  /** Calls `listener` now with the current map, then with a new map on every change; returns a function that stops it. */
  subscribe(listener: PresenceListener): () => void {
    checkListener(listener, "presence.subscribe");
    this.#listeners.add(listener);
    // As every later call: a throw is reported, and the app still gets the function that stops it.
    notifyAll([listener], this.#peers);
    return () => void this.#listeners.delete(listener);
  }

  // The channel's side.

  /** Applies changes from the relay (a snapshot or one peer's change); this client's own session is skipped. */
  apply(message: ServerPresence, ownSession: SessionId): void {
    const next = new Map(this.#peers);
    for (const peer of message.peers) {
      if (peer.session === ownSession) continue;
      const key: PresenceKey = `${peer.agent}/${peer.session}`;
      if (peer.state === undefined) next.delete(key);
      else next.set(key, { agent: peer.agent, session: peer.session, state: peer.state as Json });
    }
    this.#replace(next);
  }

  /** Everyone else's state is unknown now (the socket went down, the document is gone). */
  forgetOthers(): void {
    if (this.#peers.size > 0) this.#replace(new Map());
  }

  #replace(next: Map<PresenceKey, PresencePeerState>): void {
    this.#peers = next;
    notifyAll(this.#listeners, next);
  }
}

/** The presence of every document of one group, over its one socket. */
export class PresenceChannel {
  readonly #hooks: PresenceHooks;
  readonly #docs = new Map<DocId, DocPresence>();
  /** What this client wants to show, per document. */
  readonly #own = new Map<DocId, OwnState>();
  /** What the relay holds of ours on the current socket (JSON text), per document. */
  readonly #sent = new Map<DocId, string>();
  /** Documents whose wanted state differs from what was sent. */
  readonly #dirty = new Set<DocId>();
  #tokens = PACED_BURST;
  #tokensAt = 0;
  #flushQueued = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(hooks: PresenceHooks) {
    this.#hooks = hooks;
  }

  forDoc(doc: DocId): DocPresence {
    let presence = this.#docs.get(doc);
    if (!presence) this.#docs.set(doc, (presence = new DocPresence(doc, this)));
    return presence;
  }

  own(doc: DocId): Json | undefined {
    return this.#own.get(doc)?.state;
  }

  set(doc: DocId, state: Json): void {
    const closed = this.#hooks.closedError?.();
    if (closed) throw closed.again();
    // JSON.stringify would make a Map {} and a Date its text, unsaid: refused as for meta.
    const problem = jsonProblem(state);
    if (problem) throw new LocalRefusalError("bad_frame", `presence.set: the state ${problem}`);
    let json: string | undefined;
    try {
      json = JSON.stringify(state);
    } catch (error) {
      throw new LocalRefusalError("bad_frame", `presence.set: the state cannot be encoded as JSON (${(error as Error).message})`);
    }
    if (json === undefined) throw new LocalRefusalError("bad_frame", `presence.set: ${typeof state} is not a JSON value`);
    // As the others will receive it (NaN becomes null, undefined members vanish), checked as the relay reads
    // it: the message's own JSON text, decoded by the relay's decoder, gives the value.
    const checked = refuseTextAsRelayWould(`{"type":"presence","doc":${JSON.stringify(doc)},"state":${json}}`, "presence.set");
    const value = (checked as Presence).state as Json;
    const gone = this.#hooks.goneWhy?.(doc);
    if (gone) throw new LocalRefusalError("presence_refused", `presence.set: document ${doc} ${gone}`);
    const bytes = utf8Length(json);
    let total = bytes;
    for (const [other, own] of this.#own) if (other !== doc) total += own.bytes;
    if (total > PRESENCE_MAX_BYTES) {
      throw new LocalRefusalError("presence_too_large", `presence.set: ${total} bytes of presence over this client's documents in the group; at most ${PRESENCE_MAX_BYTES}`);
    }
    const docs = this.#own.size + (this.#own.has(doc) ? 0 : 1);
    if (docs > PRESENCE_MAX_DOCS_PER_PEER) {
      throw new LocalRefusalError("presence_too_large", `presence.set: presence in ${docs} documents of the group; at most ${PRESENCE_MAX_DOCS_PER_PEER} at once`);
    }
    this.#own.set(doc, { state: value, json, bytes });
    this.#changed(doc);
  }

  clear(doc: DocId): void {
    if (!this.#own.delete(doc)) return;
    // Shown, the state may be at the relay though it counts as unsent (everything is sent again after a
    // role change, and the relay keeps it where the agent still reads): the clear goes all the same.
    this.#dirty.add(doc);
    this.#queueFlush();
  }

  /** Presence changes from the relay (only for documents this client loaded or opened: it may not hold a Doc for one yet). */
  onMessage(message: ServerPresence): void {
    this.forDoc(message.doc).apply(message, this.#hooks.session);
  }

  /** Right behind the hello on a new socket: the relay holds nothing of ours, so everything is sent again. */
  resume(): void {
    this.#tokens = PACED_BURST;
    this.#tokensAt = Date.now();
    this.#unsendAll();
    this.#flush();
  }

  /**
   * This agent's role changed: the relay dropped our states where it may no longer read, and takes them
   * where it now may. Everything is sent again, where it may show it (mayShowIn).
   */
  roleChanged(): void {
    // Where it may no longer read, the relay stops telling it who is there: what it heard is stale there,
    // and a snapshot, when reading comes back, only adds to what is held.
    for (const [doc, presence] of this.#docs) if (!this.#hooks.mayShowIn(doc)) presence.forgetOthers();
    this.#unsendAll();
    this.#queueFlush();
  }

  /** The relay may hold none of our states: every one is to be sent again. */
  #unsendAll(): void {
    this.#sent.clear();
    for (const doc of this.#own.keys()) this.#dirty.add(doc);
  }

  /** A document became known to the relay (its load answered, its header acknowledged): send what waits for it. */
  poke(): void {
    if (this.#dirty.size > 0) this.#queueFlush();
  }

  /** The socket went down: the relay clears our states, and we no longer hear anyone's. */
  onDown(): void {
    this.#sent.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const presence of this.#docs.values()) presence.forgetOthers();
  }

  /**
   * The document was deleted, or is no longer held: nothing to show there, no one to see. `tellRelay`: the
   * relay may still hold the document (this client dropped it, discarding the writes of a document refused
   * whole), so a state of ours it holds there is cleared; the others would go on seeing it otherwise.
   */
  forgetDoc(doc: DocId, tellRelay = false): void {
    if (tellRelay && this.#sent.has(doc)) this.#hooks.send({ type: "presence", doc });
    this.#own.delete(doc);
    this.#sent.delete(doc);
    this.#dirty.delete(doc);
    this.#docs.get(doc)?.forgetOthers();
  }

  /** The group closed for good. */
  close(): void {
    this.#closed = true;
    this.onDown();
  }

  #changed(doc: DocId): void {
    if (this.#own.get(doc)?.json === this.#sent.get(doc)) this.#dirty.delete(doc);
    else this.#dirty.add(doc);
    this.#queueFlush();
  }

  /** Calls in one tick coalesce: only the latest state of each document goes out, behind content pushed with it. */
  #queueFlush(): void {
    if (this.#flushQueued || this.#timer !== undefined) return;
    this.#flushQueued = true;
    const flush = () => {
      this.#flushQueued = false;
      this.#flush();
    };
    queueMicrotask(() => {
      if (!this.#hooks.afterNextPush?.(flush)) flush();
    });
  }

  #flush(): void {
    if (this.#closed) return;
    const now = Date.now();
    this.#tokens = Math.min(PACED_BURST, this.#tokens + ((now - this.#tokensAt) * PACED_PER_SECOND) / 1000);
    this.#tokensAt = now;
    // Shrinking changes first (clears, smaller states), so the relay never sees the total over the limit
    // on the way to a state within it.
    const growth = (doc: DocId) => (this.#own.get(doc)?.bytes ?? 0) - (this.#sent.has(doc) ? utf8Length(this.#sent.get(doc)!) : 0);
    const ready = [...this.#dirty].filter((doc) => this.#hooks.mayShowIn(doc)).sort((a, b) => growth(a) - growth(b));
    for (const doc of ready) {
      if (this.#tokens < 1) break;
      const own = this.#own.get(doc);
      const message: Presence = own ? { type: "presence", doc, state: own.state } : { type: "presence", doc };
      if (!this.#hooks.send(message)) return; // no socket: resume() sends everything on the next one
      this.#tokens--;
      this.#dirty.delete(doc);
      if (own) this.#sent.set(doc, own.json);
      else this.#sent.delete(doc);
    }
    if (ready.some((doc) => this.#dirty.has(doc))) {
      const wait = Math.ceil(((1 - this.#tokens) * 1000) / PACED_PER_SECOND);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, Math.max(wait, 1));
    }
  }
}

/** Presence for a document outside any group (tests): it is kept, and goes nowhere. */
export const detachedPresence = (doc: DocId, session: SessionId): DocPresence =>
  new PresenceChannel({ session, send: () => false, mayShowIn: () => false }).forDoc(doc);
