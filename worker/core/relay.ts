// Drives the pure relay core: feeds it one event at a time and carries out its effects against a
// GroupStore and a Transport. Shared by the Durable Object and the Node tests, so both run the same code.
import {
  CHUNK_TARGET_BYTES,
  MAX_DOCS_PER_DIR_FRAME,
  DIR_SLICE_DOCS,
  LOAD_SLICE_ROWS,
  OPEN_SLICE_DOCS,
  OPEN_SLICE_ROWS,
  digestOf,
  emptyKnownState,
  encodeForBatch,
  encodedLength,
  fromBase64Url,
  mayRead,
  missing,
  packBatches,
  publicKeyOfAgent,
  verify,
  type DirEntry,
  type DocHeader,
  type DocId,
  type KnownState,
  type Range,
  type EncodedMessage,
  type ServerMessage,
  type WireFrame,
} from "../../protocol/index.ts";
import { ContentPacker } from "./content-packer.ts";
import { assertNever, type Effect, type Reader, type RelayEvent, type RelayState, type SignatureCheck, type TokenResult } from "./effects.ts";
import { step } from "./relay-core.ts";
import type { GroupStore, PeerId } from "./store.ts";

export interface Transport {
  /** Sends one frame (text, or binary when it carries bytes); throws if the socket is gone. */
  send(peer: PeerId, frame: WireFrame): void;
  close(peer: PeerId, code: number, reason: string): void;
  /** Remembers what the relay must know of a peer after the object was evicted from memory. */
  savePeer(peer: PeerId, record: unknown): void;
  /** Makes sure the object wakes (an `alarm` event) at or before `at`; transports without alarms may omit it. */
  wakeAt?(at: number): void;
}

/** Checks an app-issued token (worker/tokens.ts); without one, the relay refuses every token. */
export type TokenVerifier = (token: string) => Promise<TokenResult>;

type SendGroup = Extract<Effect, { type: "sendGroup" }>;
/** An open part being streamed: `after` moves past each document sent; `sending` while its slice runs. */
type OpenPart = SendGroup & { kind: "open"; sending?: boolean };
/** A directory listing being streamed: `since` moves past each document listed. */
type DirListing = { kind: "dir"; peer: PeerId; since: number; reader: Reader; readerDigest?: string; sending?: boolean };
/** A load being streamed: `have` is what the peer holds so far, advanced as transactions are sent. */
type LoadStream = { kind: "load"; peer: PeerId; doc: DocId; have: KnownState; sending?: boolean };
type Streamed = OpenPart | DirListing | LoadStream;

/** Readers whose private digest is kept between `dir` requests. */
const READER_DIGESTS_KEPT = 64;

/** Effects that write storage. */
const WRITES = new Set<Effect["type"]>(["commit", "deleteDoc", "subscribe", "unsubscribe", "forgetPeer"]);

const NO_TOKENS: TokenVerifier = async () => ({ ok: false, code: "unauthorized", reason: "this relay is not configured to accept tokens" });

export class Relay {
  #state: RelayState;
  #queue: Promise<void> = Promise.resolve();
  /** Peers whose socket failed during the current event: later frames of the same event skip them. */
  readonly #failed = new Set<PeerId>();
  /** Frames already encoded: a fan-out sends one message object to every subscriber, encoded once. */
  readonly #encoded = new WeakMap<ServerMessage, EncodedMessage>();
  /**
   * What each peer is to be sent, gathered until it is half of CHUNK_TARGET_BYTES, the event ends or a
   * storage write comes, then sent in as few frames as fit (packBatches: a batch stays far under
   * MAX_FRAME_BYTES, a message larger than the target goes alone).
   */
  readonly #outbox = new Map<PeerId, { frames: EncodedMessage[]; size: number }>();
  /** Digests of what one reader may see, by role and agent, with the group cursor they were computed at. */
  readonly #readerDigests = new Map<string, { cursor: number; digest: string }>();
  /** Each peer's long answers (open parts, directory listings) still being streamed, the current one first. */
  readonly #streams = new Map<PeerId, Streamed[]>();
  /** Documents an open has sent a peer so far, over all its parts, for `opened`. */
  readonly #openedCount = new Map<PeerId, number>();
  /** Events being handled, nested ones included (a batch's messages, verified signatures). */
  #depth = 0;

  readonly store: GroupStore;
  readonly transport: Transport;
  readonly verifyToken: TokenVerifier;

  constructor(state: RelayState, store: GroupStore, transport: Transport, verifyToken: TokenVerifier = NO_TOKENS) {
    this.#state = state;
    this.store = store;
    this.transport = transport;
    this.verifyToken = verifyToken;
  }

  get state(): RelayState {
    return this.#state;
  }

  /**
   * Handles one event after every earlier one has finished. Signature checks are asynchronous, and a
   * frame must not be judged against storage that an earlier, still-verifying frame is about to change.
   */
  dispatch(event: RelayEvent): Promise<void> {
    return this.#enqueue(() => this.#run(event));
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #run(event: RelayEvent): Promise<void> {
    this.#failed.clear();
    const result = step(this.#state, event, this.store);
    this.#state = result.state;
    this.#depth++;
    try {
      for (const effect of result.effects) await this.#carryOut(effect);
    } finally {
      // The outermost event sends what is left: a batch's answers travel together.
      if (--this.#depth === 0) this.#deliverAll();
    }
  }

  async #carryOut(effect: Effect): Promise<void> {
    // Frames queued before a storage write do not depend on it: send them first, or the runtime holds
    // them until the write is durable (the output gate). Frames queued after it wait, as acks must.
    if (WRITES.has(effect.type)) this.#deliverAll();
    switch (effect.type) {
      case "send":
        return this.#send(effect.peer, effect.message);
      case "sendLoad":
        return this.#stream({ kind: "load", peer: effect.peer, doc: effect.doc, have: { header: effect.known.header, sessions: { ...effect.known.sessions } } });
      case "sendDirectory":
        return this.#sendDirectory(effect.peer, effect.since, effect.reader, effect.ownDigest ? this.#digestFor(effect.reader) : undefined, effect.digest);
      case "sendGroup":
        return this.#sendGroup(effect);
      case "verify": {
        const token = effect.then.kind === "hello" && effect.then.token ? this.verifyToken(effect.then.token) : undefined;
        const valid = await Promise.all(effect.checks.map(checkSignature));
        return this.#run({ type: "verified", peer: effect.peer, then: effect.then, valid, ...(token ? { token: await token } : {}) });
      }
      case "commit":
        return this.store.commit(effect.write);
      case "deleteDoc":
        return this.store.deleteDoc(effect.doc, effect.now);
      case "subscribe":
        return this.store.subscribe(effect.peer, effect.doc);
      case "unsubscribe":
        return this.store.unsubscribe(effect.peer, effect.doc);
      case "forgetPeer":
        return this.store.forgetPeer(effect.peer);
      case "savePeer":
        return this.transport.savePeer(effect.peer.id, effect.peer);
      case "close":
        this.#deliver(effect.peer); // what it was told (the error) before it is closed
        return this.transport.close(effect.peer, effect.code, effect.reason);
      case "wakeAt":
        return this.transport.wakeAt?.(effect.at);
      case "handleEach":
        for (const message of effect.messages) await this.#run({ type: "message", peer: effect.peer, message, now: effect.now });
        return;
      default:
        return assertNever(effect);
    }
  }

  #send(peer: PeerId, message: ServerMessage): void {
    if (this.#failed.has(peer)) return;
    if ((message.type === "content" || message.type === "deleted") && this.#streamedLater(peer, message.doc)) return;
    let frame = this.#encoded.get(message);
    if (frame === undefined) {
      frame = encodeForBatch(message);
      this.#encoded.set(message, frame);
    }
    let box = this.#outbox.get(peer);
    if (!box) this.#outbox.set(peer, (box = { frames: [], size: 0 }));
    box.frames.push(frame);
    box.size += encodedLength(frame) + 1;
    // Half full is full enough: the peer starts on it while the rest of a long answer is packed.
    if (box.size >= CHUNK_TARGET_BYTES / 2) this.#deliver(peer);
  }

  #deliverAll(): void {
    for (const peer of [...this.#outbox.keys()]) this.#deliver(peer);
  }

  /** Sends a peer what its outbox holds, in as few frames as fit. */
  #deliver(peer: PeerId): void {
    const box = this.#outbox.get(peer);
    if (!box) return;
    this.#outbox.delete(peer);
    if (this.#failed.has(peer)) return;
    try {
      for (const frame of packBatches(box.frames, CHUNK_TARGET_BYTES)) this.transport.send(peer, frame);
    } catch {
      // A dead socket must not take the others down: close it and forget its subscriptions.
      this.#failed.add(peer);
      this.transport.close(peer, 1011, "send failed");
      this.#state = step(this.#state, { type: "closed", peer }, this.store).state;
      this.store.forgetPeer(peer);
    }
  }

  /** Streams what a peer lacks straight from storage, in frames under the limit; returns the rows read. */
  #sendDelta(peer: PeerId, doc: DocId, header: DocHeader | undefined, ranges: Range[]): number {
    const packer = new ContentPacker(doc, header);
    let rows = 0;
    for (const range of ranges) {
      for (const transaction of this.store.readTransactions(doc, range.session, range.from, range.to)) {
        rows++;
        packer.add(range.session, transaction);
        if (packer.hasFrames) for (const message of packer.take()) this.#send(peer, message);
      }
    }
    packer.flush();
    for (const message of packer.take()) this.#send(peer, message);
    return rows;
  }

  /** The digest of the documents one reader may see: a scan, for groups with private documents. */
  #digestFor(reader: Reader): string {
    // Cached per reader until the group changes: an in-sync reader polling `dir` costs no scan.
    const key = `${reader.role} ${reader.agent}`;
    const { cursor } = this.store.info();
    const cached = this.#readerDigests.get(key);
    if (cached?.cursor === cursor) return cached.digest;
    const readable = function* (entries: Iterable<DirEntry>): Iterable<[DocId, KnownState]> {
      for (const entry of entries) if (!entry.deleted && mayRead(reader.role, reader.agent, entry.header)) yield [entry.id, entry.known];
    };
    const digest = digestOf(readable(this.store.listDocuments(0)));
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
    this.#stream({ kind: "dir", peer, since, reader, ...(readerDigest === undefined ? {} : { readerDigest }) });
  }

  /** One slice of a directory listing (DIR_SLICE_DOCS documents); whether the listing is done. */
  #directorySlice(peer: PeerId, listing: DirListing): boolean {
    let docs: DirEntry[] = [];
    let bytes = 0;
    let listed = 0;
    for (const { cursor, ...entry } of this.store.listDocuments(listing.since)) {
      if (listed >= DIR_SLICE_DOCS) {
        this.#sendDirectoryFrame(peer, docs, true, listing.readerDigest);
        return false;
      }
      listed++;
      listing.since = cursor;
      if (!mayRead(listing.reader.role, listing.reader.agent, entry.header)) continue;
      const size = JSON.stringify(entry).length;
      if (docs.length >= MAX_DOCS_PER_DIR_FRAME || (docs.length > 0 && bytes + size > CHUNK_TARGET_BYTES)) {
        this.#sendDirectoryFrame(peer, docs, true, listing.readerDigest);
        docs = [];
        bytes = 0;
      }
      docs.push(entry);
      bytes += size;
    }
    this.#sendDirectoryFrame(peer, docs, false, listing.readerDigest);
    return true;
  }

  #sendDirectoryFrame(peer: PeerId, docs: DirEntry[], more: boolean, readerDigest?: string): void {
    const { cursor, digest } = this.store.info();
    this.#send(peer, { type: "dir", docs, more, cursor, digest: readerDigest ?? digest, inSync: false });
  }

  /**
   * The documents of an `open` (part) the peer may read, in id order: what it lacks of each, then `known`;
   * after the last part, `opened`. One slice (OPEN_SLICE_DOCS documents or OPEN_SLICE_ROWS transactions)
   * per event: the rest continues in an event queued behind whatever other peers sent meanwhile, so a
   * whole-group open never holds the group up. A peer's parts and slices run one after another.
   */
  #sendGroup(effect: SendGroup): void {
    this.#stream({ ...effect, kind: "open" });
  }

  /**
   * Queues a long answer for a peer: its slices run one per event, and a peer's answers one after another,
   * so other peers' frames are handled between slices.
   */
  #stream(answer: Streamed): void {
    const queue = this.#streams.get(answer.peer);
    if (queue) return void queue.push(answer);
    this.#streams.set(answer.peer, [answer]);
    this.#streamSlice(answer.peer);
  }

  #streamSlice(peer: PeerId): void {
    const queue = this.#streams.get(peer);
    const answer = queue?.[0];
    if (!queue || !answer) return;
    if (this.#state.peers.get(peer)?.phase !== "ready" || this.#failed.has(peer)) {
      this.#streams.delete(peer);
      this.#openedCount.delete(peer);
      return;
    }
    const done =
      answer.kind === "open" ? this.#sendGroupSlice(peer, answer) : answer.kind === "dir" ? this.#directorySlice(peer, answer) : this.#loadSlice(peer, answer);
    if (done) queue.shift();
    if (queue.length === 0) this.#streams.delete(peer);
    else this.#later(() => this.#streamSlice(peer));
  }

  /**
   * One slice of a load (LOAD_SLICE_ROWS transactions); whether it is done. Each slice works out afresh
   * what the peer lacks, so writes that land between slices are included, and live content for the
   * document waits until the load's `known` has gone out.
   */
  #loadSlice(peer: PeerId, load: LoadStream): boolean {
    load.sending = true;
    try {
      const relayKnown = this.store.knownState(load.doc);
      const delta = missing(load.have, relayKnown);
      const packer = new ContentPacker(load.doc, delta.header ? this.store.header(load.doc) : undefined);
      load.have.header ||= delta.header;
      let rows = 0;
      for (const range of delta.ranges) {
        for (const transaction of this.store.readTransactions(load.doc, range.session, range.from, range.to)) {
          if (rows >= LOAD_SLICE_ROWS) {
            packer.flush();
            for (const message of packer.take()) this.#send(peer, message);
            return false;
          }
          rows++;
          packer.add(range.session, transaction);
          load.have.sessions[range.session] = transaction.index + 1;
          if (packer.hasFrames) for (const message of packer.take()) this.#send(peer, message);
        }
      }
      packer.flush();
      for (const message of packer.take()) this.#send(peer, message);
      this.#send(peer, { type: "known", doc: load.doc, ...relayKnown, reason: "load" });
      return true;
    } finally {
      load.sending = false;
    }
  }

  /** One slice of an open part (OPEN_SLICE_DOCS documents or OPEN_SLICE_ROWS transactions); whether the part is done. */
  #sendGroupSlice(peer: PeerId, part: OpenPart): boolean {
    // While this slice is sent, live content for its documents goes out as usual (it follows what is sent).
    part.sending = true;
    let docs = 0;
    let rows = 0;
    try {
      for (const entry of this.store.listDocumentsById(part.after, part.through)) {
        if (docs >= OPEN_SLICE_DOCS || rows >= OPEN_SLICE_ROWS) return false;
        part.after = entry.id;
        docs++;
        const held = part.known[entry.id];
        if (entry.deleted) {
          if (held) this.#send(peer, { type: "deleted", doc: entry.id });
          continue;
        }
        if (!mayRead(part.reader.role, part.reader.agent, entry.header)) continue;
        this.#openedCount.set(peer, (this.#openedCount.get(peer) ?? 0) + 1);
        const delta = missing(held ?? emptyKnownState(), entry.known);
        if (delta.header || delta.ranges.length > 0) rows += this.#sendDelta(peer, entry.id, delta.header ? entry.header : undefined, delta.ranges);
        this.#send(peer, { type: "known", doc: entry.id, ...entry.known, reason: "load" });
      }
    } finally {
      part.sending = false;
    }
    if (part.through === undefined) {
      this.#send(peer, { type: "opened", docs: this.#openedCount.get(peer) ?? 0, cursor: this.store.info().cursor });
      this.#openedCount.delete(peer);
    }
    return true;
  }

  /**
   * Whether live content for `doc` would reach `peer` ahead of an open still streaming it: the open will
   * send the document as it then is, so the live frame is dropped rather than arriving before its past.
   */
  #streamedLater(peer: PeerId, doc: DocId): boolean {
    const queue = this.#streams.get(peer);
    if (!queue) return false;
    return queue.some((answer) =>
      answer.sending
        ? false
        : answer.kind === "open"
          ? (answer.after === undefined || doc > answer.after) && (answer.through === undefined || doc <= answer.through)
          : answer.kind === "load" && answer.doc === doc,
    );
  }

  /**
   * Runs `work` as an event of its own, queued behind the events that arrive meanwhile. A zero-delay
   * yield to the runtime's task queue (not a timer that keeps the object awake), so sockets' messages
   * that arrived during this event are dispatched first.
   */
  #later(work: () => void): void {
    setTimeout(() => {
      this.#enqueue(async () => {
        this.#depth++;
        try {
          work();
        } finally {
          if (--this.#depth === 0) this.#deliverAll();
        }
      }).catch((error: unknown) => console.error("weft: streaming an open failed", error));
    }, 0);
  }
}

async function checkSignature(check: SignatureCheck): Promise<boolean> {
  const publicKey = publicKeyOfAgent(check.publicKeyOf);
  const signature = fromBase64Url(check.signature);
  if (!publicKey || !signature) return false;
  return verify(signature, check.message, publicKey);
}
