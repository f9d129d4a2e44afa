// Drives the pure relay core: feeds it one event at a time and carries out its effects against a
// GroupStore and a Transport: writes (a frame's contents committed together), frames gathered per peer and
// sent in as few as fit, and long answers handed to answer-streams.ts. Shared by the Durable Object and the
// Node tests, so both run the same code.
import {
  COMPRESS_MIN_BYTES,
  batchFrame,
  compressFrame,
  frameBytes,
  inflatedBytes,
  type Deflate,
  MAX_FRAME_BYTES,
  MAX_UNREAD_BYTES,
  PRUNE_WORK_PER_EVENT,
  RELAY_FRAME_TARGET_BYTES,
  RETRY_AFTER_TOO_SLOW_SECONDS,
  closeCodeOf,
  digestOfSum,
  encodeForBatch,
  encodedLength,
  fromBase64Url,
  packBatches,
  publicKeyOfAgent,
  utf8Length,
  verify,
  type ClientMessage,
  type DocId,
  type EncodedMessage,
  type ServerMessage,
  type WireFrame,
} from "../../protocol/index.ts";
import { roleOf } from "./access.ts";
import { AnswerStreams } from "./answer-streams.ts";
import { AnswerWindow } from "./answer-window.ts";
import { isAsciiContent } from "./content-packer.ts";
import { assertNever, type Continuation, type Effect, type Reader, type RelayEvent, type SignatureCheck, type TokenResult } from "./effects.ts";
import type { RelayState } from "./relay-state.ts";
import { step } from "./relay-core.ts";
import { watchedPeers } from "./silent-peers.ts";
import type { SavedPresence } from "./peer-records.ts";
import { StagedWrites } from "./staged-writes.ts";
import type { GroupStore, PeerId, SessionAppend } from "./store.ts";

export interface Transport {
  /** Sends one frame (text, or binary when it carries bytes); throws if the socket is gone. */
  send(peer: PeerId, frame: WireFrame): void;
  /**
   * Compresses bytes in deflate-raw, synchronously (so frames keep their order on the socket). Without it
   * the relay sends every frame as it is; with it, frames of COMPRESS_MIN_BYTES and up go compressed to
   * peers that can inflate them (protocol/binary-frame.ts).
   */
  readonly deflateRaw?: Deflate;
  close(peer: PeerId, code: number, reason: string): void;
  /** Remembers what the relay must know of a peer after the object was evicted from memory. */
  savePeer(peer: PeerId, record: unknown): void;
  /** Remembers a peer's presence beside its record, out of storage (the Durable Object: in the socket attachment). */
  savePresence?(peer: PeerId, presence: SavedPresence): void;
  /**
   * Remembers the mark where a peer's answers last paused beside its record, out of storage (the Durable
   * Object: in the socket attachment), for the relay woken after an eviction (RelayOptions' lostPauses).
   */
  savePause?(peer: PeerId, mark: string): void;
  /**
   * When the runtime last answered a ping from this peer by itself, without handing the frame to the relay
   * (the Durable Object's auto-response), if it did.
   */
  pingedAt?(peer: PeerId): number | undefined;
  /**
   * Makes sure the object wakes (an `alarm` event) at or before `at`; an `at` already past means as soon
   * as other events allow. Every alarm event asks again for whatever is still due, so the earliest wins.
   */
  wakeAt(at: number): void;
  /**
   * Resolves once the runtime has had a turn to put the frames handed to `send` on their sockets. A
   * Durable Object's runtime holds back every frame not yet on its socket once a storage write starts (the
   * output gate), until the write is durable; the relay awaits this before the first write of an event
   * that has sent frames, so that answers which do not depend on the write leave without waiting for it.
   */
  flushOutput?(): Promise<void>;
}

export type RelayOptions = {
  /**
   * Seconds a stored snapshot waits before the transactions it covers are pruned (0: at the next alarm);
   * unset or Infinity: never pruned.
   */
  snapshotRetentionSeconds?: number;
  /**
   * The mark where each peer's answers last paused, as the Transport's savePause kept it for an instance
   * evicted from memory since: an echo of it is answered with `internal` (answer-window.ts).
   */
  lostPauses?: ReadonlyMap<PeerId, string>;
};

/** Checks an app-issued token (worker/tokens.ts); without one, the relay refuses every token. */
export type TokenVerifier = (token: string) => Promise<TokenResult>;

/** Readers whose private digest is kept between `dir` requests. */
const READER_DIGESTS_KEPT = 64;

/** Effects that write storage. */
const WRITES = new Set<Effect["type"]>(["commit", "storeSnapshot", "deleteDoc", "subscribe", "unsubscribe", "forgetPeer"]);

const NO_TOKENS: TokenVerifier = async () => ({ ok: false, code: "unauthorized", reason: "this relay is not configured to accept tokens" });

/** The compressed frame if it is smaller than the frame it holds, else the frame. */
const smaller = (compressed: Uint8Array, frame: WireFrame, size: number): WireFrame => (compressed.byteLength < size ? compressed : frame);

export class Relay {
  #state: RelayState;
  #queue: Promise<void> = Promise.resolve();
  /**
   * Peers the relay closed in the current event (a socket that failed, one cut off): later frames of the
   * event skip them, and they are forgotten at its end (#forgetGone).
   */
  readonly #gone = new Set<PeerId>();
  /** Frames already encoded: a fan-out sends one message object to every subscriber, encoded once. */
  readonly #encoded = new WeakMap<ServerMessage, EncodedMessage>();
  /** The UTF-8 bytes of each message's encoding (#putInOutbox), once worked out. */
  readonly #wireBytes = new WeakMap<ServerMessage, number>();
  /**
   * What each peer is to be sent, gathered until it is half of RELAY_FRAME_TARGET_BYTES, the event ends or a
   * storage write comes, then sent in as few frames as fit (packBatches: a batch stays far under
   * MAX_FRAME_BYTES, a message larger than the target goes alone).
   */
  readonly #outbox = new Map<PeerId, { frames: EncodedMessage[]; size: number }>();
  /** Compressed forms of binary frames sent (#compressed). */
  readonly #compressedFrames = new WeakMap<Uint8Array, WireFrame>();
  /** Compressed forms of large messages sent alone, by message: one sent again (load-cache.ts) is not compressed again. */
  readonly #compressedOf = new WeakMap<ServerMessage, WireFrame>();
  /** The latest text frame compressed, and what goes in its place. */
  #lastText: { frame: string; compressed: WireFrame } | undefined;
  /** Digests of what one reader may see, by role and agent, with the group cursor they were computed at. */
  readonly #readerDigests = new Map<string, { cursor: number; digest: string }>();
  /** Long answers (loads, directory listings, open parts) being streamed to each peer. */
  readonly #answers: AnswerStreams;
  /** What each peer was sent and has confirmed reading, every frame counted: long answers pause on it. */
  readonly #window: AnswerWindow;
  /**
   * Peers that left more than MAX_UNREAD_BYTES unconfirmed during this event: sent nothing more, and cut
   * off with `too_slow` once the event is done (not in the middle of a fan-out to the others).
   */
  readonly #overrun = new Set<PeerId>();

  /** Writes committed together by #storeStaged, by their appends: the core's commit effect for each is skipped. */
  readonly #committed = new WeakSet<SessionAppend[]>();
  /**
   * While a batch frame is handled: the subscriptions its messages make and end (each load's, each created
   * document's, each unsub's), stored together before any other write and at the end of the frame: one
   * statement each way per peer.
   */
  #subscriptions: SubscriptionChange[] | undefined;
  /** Events being handled, nested ones included (a batch's messages, verified signatures). */
  #depth = 0;
  /**
   * Frames were sent in this event since it began or since its last storage write. Before the event's
   * first write they leave first (Transport's flushOutput); after it, frames wait for the event's writes.
   */
  #unflushed = false;
  /** A storage write has started in this event. */
  #wrote = false;
  /** The time of the latest event that carried one: when a continuation is due (at once). */
  #now = 0;

  readonly store: GroupStore;
  readonly transport: Transport;
  readonly verifyToken: TokenVerifier;
  /** How long (ms) a snapshot is kept before the transactions it covers are pruned; Infinity: never. */
  readonly snapshotRetentionMs: number;

  constructor(state: RelayState, store: GroupStore, transport: Transport, verifyToken: TokenVerifier = NO_TOKENS, options: RelayOptions = {}) {
    this.#state = state;
    this.store = store;
    this.transport = transport;
    this.verifyToken = verifyToken;
    this.snapshotRetentionMs = (options.snapshotRetentionSeconds ?? Infinity) * 1000;
    this.#window = new AnswerWindow(options.lostPauses);
    this.#answers = new AnswerStreams({
      store,
      post: (peer, message) => this.#post(peer, message),
      isLive: (peer) => !this.#gone.has(peer) && this.#state.peers.get(peer)?.phase === "ready",
      readerNow: (peer) => this.#readerNow(peer),
      sessionOf: (peer) => {
        const record = this.#state.peers.get(peer);
        return record?.phase === "ready" ? record.session : undefined;
      },
      cutOff: (peer, error) => this.#cutOff(peer, error),
      wakeAt: (at) => this.transport.wakeAt(at),
      keepPause: (peer, mark) => this.transport.savePause?.(peer, mark),
    }, this.#window);
  }

  get state(): RelayState {
    return this.#state;
  }

  /**
   * Handles one event after every earlier one has finished. Signature checks are asynchronous, and a
   * frame must not be judged against storage that an earlier, still-verifying frame is about to change.
   */
  dispatch(event: RelayEvent): Promise<void> {
    if (event.type !== "alarm") return this.#enqueue(() => this.#run(event));
    return this.#enqueue(async () => {
      await this.#run({ ...event, pingedAt: this.#pingTimes() });
      this.#depth++;
      try {
        this.#answers.continue(event.now);
        await this.#prune(event.now);
      } finally {
        if (--this.#depth === 0) this.#endEvent();
      }
    });
  }

  /** Runs `work` once every event dispatched so far is handled, and before any dispatched after it. */
  afterQueued(work: () => Promise<void>): Promise<void> {
    return this.#enqueue(work);
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #run(event: RelayEvent): Promise<void> {
    if (this.#depth === 0) this.#unflushed = this.#wrote = false;
    if ("now" in event) this.#now = event.now;
    const result = step(this.#state, event, this.store);
    this.#state = result.state;
    this.#depth++;
    try {
      for (const effect of result.effects) await this.#carryOut(effect);
    } finally {
      // The outermost event sends what is left: a batch's answers travel together.
      if (--this.#depth === 0) this.#endEvent();
    }
  }

  async #carryOut(effect: Effect): Promise<void> {
    // A write of a frame's contents committed together (#storeStaged) is already stored.
    if (effect.type === "commit" && this.#committed.delete(effect.write.appends)) return;
    if ((effect.type === "subscribe" || effect.type === "unsubscribe") && this.#subscriptions) {
      // Not for a peer cut off meanwhile (checked again when they are stored).
      if (this.#state.peers.has(effect.peer)) this.#subscriptions.push(effect);
      return;
    }
    // Frames queued before a storage write do not depend on it: send them first, and let the runtime put
    // them on their sockets, or it holds them until the write is durable (the output gate). Frames queued
    // after it wait, as acks must. The subscriptions a batch made so far are stored with it, after those
    // frames (#flushBeforeWrite).
    if (WRITES.has(effect.type)) await this.#flushBeforeWrite();
    switch (effect.type) {
      case "send":
        return this.#send(effect.peer, effect.message);
      case "sendLoad":
        return this.#answers.add({ kind: "load", peer: effect.peer, doc: effect.doc, have: { header: effect.known.header, sessions: { ...effect.known.sessions } } }, this.#now);
      case "sendDirectory":
        return this.#sendDirectory(effect.peer, effect.since, effect.reader, effect.ownDigest ? this.#digestFor(effect.reader) : undefined, effect.digest);
      case "sendGroup":
        return this.#answers.add({ ...effect, kind: "open" }, this.#now);
      case "marked":
        return this.#answers.confirm(effect.peer, effect.id, this.#now);
      case "verify": {
        const token = effect.then.kind === "hello" && effect.then.token ? this.verifyToken(effect.then.token) : undefined;
        const valid = await Promise.all(effect.checks.map(checkSignature));
        return this.#run({ type: "verified", peer: effect.peer, then: effect.then, valid, ...(token ? { token: await token } : {}) });
      }
      case "commit":
        return this.store.commit(effect.write);
      case "storeSnapshot":
        this.store.putSnapshot(effect.snapshot);
        if (Number.isFinite(this.snapshotRetentionMs)) this.transport.wakeAt(effect.snapshot.takenAt + this.snapshotRetentionMs);
        return;
      case "deleteDoc":
        this.#answers.forgetDoc(effect.doc);
        return this.store.deleteDoc(effect.doc, effect.now);
      case "subscribe":
        // Not for a peer cut off meanwhile (a refused stream): its subscriptions are already forgotten.
        if (!this.#state.peers.has(effect.peer)) return;
        return this.store.subscribe(effect.peer, effect.doc);
      case "unsubscribe":
        return this.store.unsubscribe(effect.peer, effect.doc);
      case "forgetPeer":
        // Its long answers and their window go with it (a closed peer's answers are otherwise dropped at their next slice).
        this.#answers.forget(effect.peer);
        return this.store.forgetPeer(effect.peer);
      case "savePeer":
        return this.transport.savePeer(effect.peer.id, effect.peer);
      case "savePresence":
        return this.transport.savePresence?.(effect.peer, effect.presence);
      case "close":
        this.#deliver(effect.peer); // what it was told (the error) before it is closed
        this.transport.close(effect.peer, effect.code, effect.reason);
        // Its socket is gone now, whether or not the runtime reports the close later: so is its presence.
        return this.#run({ type: "closed", peer: effect.peer });
      case "wakeAt":
        return this.transport.wakeAt?.(effect.at);
      case "handleEach":
        return this.#handleEach(effect.peer, effect.messages, effect.now);
      default:
        return assertNever(effect);
    }
  }

  /**
   * The messages of a batch frame, in order, each atomic on its own and judged as if the ones before it
   * were stored. A run of `content` messages is committed together: each is judged against what the ones
   * before it leave (StagedWrites) and its signatures checked, the valid ones stored in one transaction and
   * acked. One whose signature does not verify is refused alone, and never staged: the ones after it are
   * judged as if it had never come. Any other message ends the run: what is staged is stored first.
   */
  async #handleEach(peer: PeerId, frame: readonly ClientMessage[], now: number): Promise<void> {
    const messages = withoutRepeatedLoads(frame);
    // Loads of documents this frame also writes read them afresh after the write: not read ahead.
    const written = new Set(messages.flatMap((message) => (message.type === "content" ? [message.doc] : [])));
    this.store.prefetch?.(
      messages.flatMap((message) => (message.type === "content" || message.type === "load" ? [message.doc] : [])),
      messages.flatMap((message) => (message.type === "load" && !written.has(message.doc) ? [message.doc] : [])),
    );
    this.#subscriptions = [];
    try {
      await this.#handleInOrder(peer, messages, now);
    } finally {
      this.store.forgetPrefetched?.();
      // Its subscriptions are its last write; without any, what it queued goes at the end of the event.
      if (this.#subscriptions.length > 0) await this.#flushBeforeWrite();
      else this.#deliverAll();
      this.#subscriptions = undefined;
    }
  }

  /**
   * Sends the frames queued so far (before the event's first write, awaiting the transport's flushOutput,
   * so that they are on their sockets when the write starts), then stores the subscriptions a batch frame
   * made and ended so far: run before every storage write, and at the end of a batch, whose subscriptions
   * are its last write. A subscription is not data, and an answer held until it is durable (the output
   * gate) would wait a round of the storage's replication for nothing. Other events wait in the relay's
   * queue meanwhile (dispatch), so nothing live is missed; a write that fails closes the socket (the
   * object's catch), so the peer never waits in vain for live content. Each peer's document ends as the
   * last change to it left it.
   */
  async #flushBeforeWrite(): Promise<void> {
    this.#deliverAll();
    // The first write of an event holds back whatever the runtime has not put on a socket yet.
    if (this.#unflushed && !this.#wrote) await this.transport.flushOutput?.();
    this.#unflushed = false;
    this.#wrote = true;
    const changes = this.#subscriptions?.splice(0).filter((effect) => this.#state.peers.has(effect.peer)) ?? [];
    for (const [peer, last] of lastChangeByPeer(changes)) {
      const docs = [...last.keys()];
      this.store.subscribeAll(peer, docs.filter((doc) => last.get(doc) === "subscribe"));
      this.store.unsubscribeAll(peer, docs.filter((doc): doc is DocId => last.get(doc) === "unsubscribe"));
    }
  }

  async #handleInOrder(peer: PeerId, messages: readonly ClientMessage[], now: number): Promise<void> {
    const staged = new StagedWrites(this.store);
    const run: StagedContent[] = [];
    for (const message of messages) {
      // Closed meanwhile (its socket failed, or it was cut off): the rest of its frame goes unhandled, as
      // the rest of a refused peer's does.
      if (this.#gone.has(peer)) break;
      if (message.type === "content") {
        const result = step(this.#state, { type: "message", peer, message, now }, staged);
        this.#state = result.state;
        const [only, ...more] = result.effects;
        if (only?.type === "verify" && only.then.kind === "content" && !only.then.write.members && more.length === 0) {
          // Its signatures are checked before the next message is judged: one that does not verify is never
          // staged, so what follows is judged as if it had never come, once, and a frame of them costs in
          // proportion to its length.
          const valid = await Promise.all(only.checks.map(checkSignature));
          if (!valid.includes(false)) staged.stage({ ...only.then.write, appends: only.then.pending });
          run.push({ then: only.then, valid });
          continue;
        }
        // Judged against the staged writes: those are stored first.
        await this.#storeStaged(peer, run, staged);
        for (const effect of result.effects) await this.#carryOut(effect);
        continue;
      }
      await this.#storeStaged(peer, run, staged);
      await this.#run({ type: "message", peer, message, now });
    }
    await this.#storeStaged(peer, run, staged);
  }

  /**
   * Commits the staged contents whose signatures verified, in one transaction, then lets the core answer
   * each content of the run in order: acks and fan-out for those, `bad_signature` for the others.
   */
  async #storeStaged(peer: PeerId, run: StagedContent[], staged: StagedWrites): Promise<void> {
    if (run.length === 0) return;
    const contents = run.splice(0);
    staged.clear();
    const stored = contents.filter(({ valid }) => !valid.includes(false));
    if (stored.length > 0) {
      // Frames queued before a storage write do not wait for it.
      await this.#flushBeforeWrite();
      try {
        this.store.commitAll(stored.map(({ then }) => ({ ...then.write, appends: then.pending })));
        for (const { then } of stored) this.#committed.add(then.pending);
      } catch {
        // Left to commit one by one below, as each message on its own would: those that can be stored are.
      }
    }
    for (const { then, valid } of contents) await this.#run({ type: "verified", peer, then, valid });
  }

  /**
   * Sends a message of the moment (an answer, live content), unless it is content an answer still streaming
   * will cover. A deletion always goes: an open lists live documents only, so it would not tell it.
   */
  #send(peer: PeerId, message: ServerMessage): void {
    if (message.type === "content" && this.#answers.coversLater(peer, message.doc)) return;
    // A peer this far behind is caught up from storage once it reads (AnswerStreams.catchUp), not cut off.
    if (message.type === "content" && this.#window.lagging(peer)) return this.#answers.catchUp(peer, message, this.#now);
    this.#post(peer, message);
  }

  /**
   * Puts a message in the peer's outbox, counted against its window, with a mark behind it when one is due
   * (so a peer sent only live frames confirms them too). A peer that leaves more than MAX_UNREAD_BYTES
   * unconfirmed is sent nothing more: live frames cannot wait, and what it does not read is held in memory.
   */
  #post(peer: PeerId, message: ServerMessage): void {
    if (this.#gone.has(peer) || this.#overrun.has(peer)) return;
    const mark = this.#window.sent(peer, this.#putInOutbox(peer, message));
    if (mark) this.#putInOutbox(peer, { type: "mark", id: mark });
    if (this.#window.overrun(peer)) this.#overrun.add(peer);
    const box = this.#outbox.get(peer);
    // Half full is full enough: the peer starts on it while the rest of a long answer is packed.
    if (box && box.size >= RELAY_FRAME_TARGET_BYTES / 2) this.#deliver(peer);
  }

  /**
   * Puts a message in the peer's outbox as it is, uncounted; returns its size as the runtime holds it: UTF-8
   * (text beyond ASCII takes up to 3 bytes a character, and the window must count what is held), worked out
   * once per message however many peers it goes to. A large message to a peer that inflates goes at once,
   * alone and compressed, after what waited before it, and counts as its compressed bytes: a window then holds
   * as much more of a long answer as compression saves (a tenth, for text), so a reader far away waits a
   * round trip for the next window that much less often.
   */
  #putInOutbox(peer: PeerId, message: ServerMessage): number {
    let frame = this.#encoded.get(message);
    if (frame === undefined) {
      frame = encodeForBatch(message);
      this.#encoded.set(message, frame);
    }
    if (encodedLength(frame) >= COMPRESS_MIN_BYTES && this.#inflates(peer)) {
      this.#deliver(peer);
      const plain = batchFrame([frame]);
      let wire = this.#compressedOf.get(message);
      if (!wire) this.#compressedOf.set(message, (wire = this.#compressed(plain)));
      this.#sendFrames(peer, [wire]);
      return wire === plain ? this.#countedBytes(message, frame) : frameBytes(wire) + 1;
    }
    let box = this.#outbox.get(peer);
    if (!box) this.#outbox.set(peer, (box = { frames: [], size: 0 }));
    box.frames.push(frame);
    box.size += encodedLength(frame) + 1;
    return this.#countedBytes(message, frame);
  }

  /** What a message counts against a window in a batch: its UTF-8 bytes as encoded and the comma that joins it; worked out once. */
  #countedBytes(message: ServerMessage, frame: EncodedMessage): number {
    let bytes = this.#wireBytes.get(message);
    if (bytes === undefined) this.#wireBytes.set(message, (bytes = utf8Bytes(message, frame) + 1));
    return bytes;
  }

  /** Whether the peer is sent large frames compressed: it is ready, its hello said it inflates, and a compressor was given. */
  #inflates(peer: PeerId): boolean {
    const record = this.#state.peers.get(peer);
    return record?.phase === "ready" && record.compression !== undefined && this.transport.deflateRaw !== undefined;
  }

  /** The outermost event is done: peers that overran their window are cut off, every outbox is sent, and the peers closed in it are forgotten. */
  #endEvent(): void {
    // Cutting one off tells the others its presence is gone, which may overrun another: it is cut off too.
    do {
      for (const peer of this.#overrun) {
        // Gone meanwhile (its socket failed, or it was refused): nothing left to cut off.
        if (!this.#state.peers.has(peer) || this.#gone.has(peer)) continue;
        this.#cutOff(peer, {
          type: "error",
          code: "too_slow",
          message: `this connection left more than ${MAX_UNREAD_BYTES} bytes of what the relay sent unread, so it is closed; the client resumes on a new connection`,
          retryAfter: RETRY_AFTER_TOO_SLOW_SECONDS,
        });
      }
      this.#overrun.clear();
      this.#deliverAll();
      this.#forgetGone();
    } while (this.#overrun.size > 0);
  }

  #deliverAll(): void {
    // A socket that fails while delivering queues frames for others (its presence is gone): those go too.
    while (this.#outbox.size > 0) for (const peer of [...this.#outbox.keys()]) this.#deliver(peer);
  }

  /** Sends a peer what its outbox holds, in as few frames as fit. */
  #deliver(peer: PeerId): void {
    const box = this.#outbox.get(peer);
    if (!box) return;
    this.#outbox.delete(peer);
    if (this.#gone.has(peer)) return;
    const frames = packBatches(box.frames, RELAY_FRAME_TARGET_BYTES);
    this.#sendFrames(peer, this.#inflates(peer) ? frames.map((frame) => this.#compressed(frame)) : frames);
  }

  /** Sends frames as they are, unless the peer was closed in this event; a send that fails closes it. */
  #sendFrames(peer: PeerId, frames: readonly WireFrame[]): void {
    if (this.#gone.has(peer)) return;
    try {
      for (const frame of frames) this.transport.send(peer, frame);
      if (frames.length > 0) this.#unflushed = true;
    } catch {
      // A dead socket must not take the others down: closed, and forgotten at the event's end.
      this.#close(peer, 1011, "send failed");
    }
  }

  /**
   * A frame as it goes to a peer that inflates: compressed if it is large and a compressor was given. A
   * fan-out hands every subscriber the same frame, so it is compressed once (binary frames by identity, the
   * latest text frame by value: a fan-out's sends follow one another). A frame that compression would not
   * shrink (random or encrypted data) goes as it is.
   */
  #compressed(frame: WireFrame): WireFrame {
    const deflateRaw = this.transport.deflateRaw;
    const size = frameBytes(frame);
    if (!deflateRaw || size < COMPRESS_MIN_BYTES) return frame;
    // Compressed, a text frame inflates to a binary frame one byte longer: one at the limit goes plain.
    if (inflatedBytes(frame, size) > MAX_FRAME_BYTES) return frame;
    if (typeof frame === "string") {
      if (this.#lastText?.frame !== frame) this.#lastText = { frame, compressed: smaller(compressFrame(frame, deflateRaw), frame, size) };
      return this.#lastText.compressed;
    }
    let compressed = this.#compressedFrames.get(frame);
    if (!compressed) this.#compressedFrames.set(frame, (compressed = smaller(compressFrame(frame, deflateRaw), frame, size)));
    return compressed;
  }

  /** Closes `peer`'s socket: nothing more goes to it, and it is forgotten at the event's end (#forgetGone). */
  #close(peer: PeerId, code: number, reason: string): void {
    if (this.#gone.has(peer)) return;
    this.#gone.add(peer);
    this.#answers.forget(peer);
    this.transport.close(peer, code, reason);
  }

  /**
   * Forgets the peers the relay closed in this event, and tells their readers their presence is gone (the
   * only frames a close sends), then delivers that. At the event's end, not when each was closed: a frame
   * that loads a document stores its subscription as its last write, and its peer, already told of the
   * document's presence, would not hear that one of them left. Their subscriptions go last, after the frames.
   */
  #forgetGone(): void {
    const forgotten = new Set<PeerId>();
    while (forgotten.size < this.#gone.size) {
      for (const peer of this.#gone) {
        if (forgotten.has(peer)) continue;
        const closed = step(this.#state, { type: "closed", peer }, this.store);
        this.#state = closed.state;
        for (const effect of closed.effects) if (effect.type === "send") this.#post(effect.peer, effect.message);
        forgotten.add(peer);
      }
      // A socket that fails on what they are told is closed too, and forgotten in the next round.
      this.#deliverAll();
    }
    for (const peer of this.#gone) this.store.forgetPeer(peer);
    this.#gone.clear();
  }

  /** The digest of the documents one member who is not an admin may see, in a group with private documents. */
  #digestFor(reader: Reader): string {
    // Cached per reader until the group changes: an in-sync reader polling `dir` costs no statement.
    const key = `${reader.role} ${reader.agent}`;
    const { cursor } = this.store.info();
    const cached = this.#readerDigests.get(key);
    if (cached?.cursor === cursor) return cached.digest;
    // The store keeps each agent's share of the documents that limit their readers: no document is read.
    const digest = digestOfSum(this.store.readerSum(reader.agent));
    if (this.#readerDigests.size >= READER_DIGESTS_KEPT) this.#readerDigests.delete(this.#readerDigests.keys().next().value!);
    this.#readerDigests.set(key, { cursor, digest });
    return digest;
  }

  /** Documents changed since a cursor that the peer may read, in bounded frames, then the new cursor. */
  #sendDirectory(peer: PeerId, since: number, reader: Reader, readerDigest?: string, clientDigest?: string): void {
    if (readerDigest !== undefined && readerDigest === clientDigest) {
      this.#send(peer, { type: "dir", docs: [], more: false, cursor: this.store.info().cursor, digest: readerDigest, inSync: true });
      return;
    }
    this.#answers.add({ kind: "dir", peer, since, reader, ...(readerDigest === undefined ? {} : { readerDigest }) }, this.#now);
  }

  /** Tells `peer` why and closes its socket with the code's close code; its answers go now, the peer and its presence at the event's end. */
  #cutOff(peer: PeerId, error: Extract<ServerMessage, { type: "error" }>): void {
    // Its last frame, uncounted: a peer that overran its window is told too.
    this.#putInOutbox(peer, error);
    this.#deliver(peer);
    this.#close(peer, closeCodeOf(error.code) ?? 1008, error.code);
  }

  /**
   * The alarm went off: one bounded slice (PRUNE_WORK_PER_EVENT) of pruning transactions covered by
   * snapshots older than the retention; if more is due, or a later snapshot will be, the alarm is set again.
   * What the event sent first (the next slices of long answers) goes before it: a prune is a write.
   */
  async #prune(now: number): Promise<void> {
    if (!Number.isFinite(this.snapshotRetentionMs)) return;
    await this.#flushBeforeWrite();
    const slice = this.store.prune(now - this.snapshotRetentionMs, PRUNE_WORK_PER_EVENT);
    if (slice.next !== undefined) this.transport.wakeAt(Math.max(now, slice.next + this.snapshotRetentionMs));
  }

  /** When the runtime last answered each watched peer's ping itself, for the alarm to judge their silence. */
  #pingTimes(): Map<PeerId, number> {
    const times = new Map<PeerId, number>();
    if (!this.transport.pingedAt) return times;
    for (const [peer] of watchedPeers(this.#state)) {
      const at = this.transport.pingedAt(peer);
      if (at !== undefined) times.set(peer, at);
    }
    return times;
  }

  /** Who `peer` reads as now (its role as of this moment), or undefined if it is no longer a reader here. */
  #readerNow(peer: PeerId): Reader | undefined {
    const record = this.#state.peers.get(peer);
    if (record?.phase !== "ready") return undefined;
    const role = roleOf(record, this.store);
    return role ? { agent: record.agent, role } : undefined;
  }

}

/** A content of a batch frame, judged and its signatures checked, waiting to be stored with the others of its run. */
type StagedContent = { then: Extract<Continuation, { kind: "content" }>; valid: boolean[] };

/** A change to a peer's subscriptions, as the core asks for it. */
type SubscriptionChange = Extract<Effect, { type: "subscribe" | "unsubscribe" }>;

/** For each peer, the last change made to its subscription to each document, in the order first changed. */
function lastChangeByPeer(changes: readonly SubscriptionChange[]): Map<PeerId, Map<DocId | "*", SubscriptionChange["type"]>> {
  const byPeer = new Map<PeerId, Map<DocId | "*", SubscriptionChange["type"]>>();
  for (const { peer, doc, type } of changes) {
    let last = byPeer.get(peer);
    if (!last) byPeer.set(peer, (last = new Map()));
    last.set(doc, type);
  }
  return byPeer;
}

/** UTF-8 bytes of a message as encoded: its length if the packer knew it all ASCII (a load's frame of text), else counted. */
function utf8Bytes(message: ServerMessage, frame: EncodedMessage): number {
  if (isAsciiContent(message)) return encodedLength(frame);
  return typeof frame === "string" ? utf8Length(frame) : utf8Length(frame.json) + frame.sectionBytes;
}

async function checkSignature(check: SignatureCheck): Promise<boolean> {
  const publicKey = publicKeyOfAgent(check.publicKeyOf);
  const signature = fromBase64Url(check.signature);
  if (!publicKey || !signature) return false;
  return verify(signature, check.message, publicKey);
}

/**
 * A frame's messages with each run of loads of one document (no write to it between them) answered once,
 * by its last load, which holds what the client knew last: a frame repeating a load thousands of times
 * would otherwise have the relay read and send the document as many times.
 */
export function withoutRepeatedLoads(messages: readonly ClientMessage[]): readonly ClientMessage[] {
  const later = new Set<DocId>();
  let dropped = false;
  const kept: ClientMessage[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.type === "content") later.delete(message.doc);
    else if (message.type === "load") {
      if (later.has(message.doc)) {
        dropped = true;
        continue;
      }
      later.add(message.doc);
    }
    kept.push(message);
  }
  return dropped ? kept.reverse() : messages;
}
