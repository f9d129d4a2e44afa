// Drives the pure relay core: feeds it one event at a time and carries out its effects against a
// GroupStore and a Transport. Shared by the Durable Object and the Node tests, so both run the same code.
import {
  CHUNK_TARGET_BYTES,
  MAX_DOCS_PER_DIR_FRAME,
  digestOf,
  emptyKnownState,
  encodeMessage,
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
  type ServerMessage,
} from "../../protocol/index.ts";
import { ContentPacker } from "./content-packer.ts";
import { assertNever, type Effect, type Reader, type RelayEvent, type RelayState, type SignatureCheck, type TokenResult } from "./effects.ts";
import { step } from "./relay-core.ts";
import type { GroupStore, PeerId } from "./store.ts";

export interface Transport {
  /** Sends one text frame; throws if the socket is gone. */
  send(peer: PeerId, frame: string): void;
  close(peer: PeerId, code: number, reason: string): void;
  /** Remembers what the relay must know of a peer after the object was evicted from memory. */
  savePeer(peer: PeerId, record: unknown): void;
  /** Makes sure the object wakes (an `alarm` event) at or before `at`; transports without alarms may omit it. */
  wakeAt?(at: number): void;
}

/** Checks an app-issued token (worker/tokens.ts); without one, the relay refuses every token. */
export type TokenVerifier = (token: string) => Promise<TokenResult>;

/** Effects that write storage. */
const WRITES = new Set<Effect["type"]>(["commit", "deleteDoc", "subscribe", "unsubscribe", "forgetPeer"]);

const NO_TOKENS: TokenVerifier = async () => ({ ok: false, code: "unauthorized", reason: "this relay is not configured to accept tokens" });

export class Relay {
  #state: RelayState;
  #queue: Promise<void> = Promise.resolve();
  /** Peers whose socket failed during the current event: later frames of the same event skip them. */
  readonly #failed = new Set<PeerId>();
  /** Frames already encoded: a fan-out sends one message object to every subscriber, encoded once. */
  readonly #encoded = new WeakMap<ServerMessage, string>();
  /**
   * What each peer is to be sent, gathered until it is half of CHUNK_TARGET_BYTES, the event ends or a
   * storage write comes, then sent in as few frames as fit (packBatches: a batch stays far under
   * MAX_FRAME_BYTES, a message larger than the target goes alone).
   */
  readonly #outbox = new Map<PeerId, { frames: string[]; size: number }>();
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
    const run = this.#queue.then(() => this.#run(event));
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
      case "sendDelta":
        return this.#sendDelta(effect.peer, effect.doc, effect.header ? this.store.header(effect.doc) : undefined, effect.ranges);
      case "sendDirectory":
        return this.#sendDirectory(effect.peer, effect.since, effect.reader, effect.ownDigest ? this.#digestFor(effect.reader) : undefined, effect.digest);
      case "sendGroup":
        return this.#sendGroup(effect.peer, effect.known, effect.reader);
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
    let frame = this.#encoded.get(message);
    if (frame === undefined) {
      frame = encodeMessage(message);
      this.#encoded.set(message, frame);
    }
    let box = this.#outbox.get(peer);
    if (!box) this.#outbox.set(peer, (box = { frames: [], size: 0 }));
    box.frames.push(frame);
    box.size += frame.length + 1;
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

  /** Streams what a peer lacks straight from storage, in frames under the limit. */
  #sendDelta(peer: PeerId, doc: DocId, header: DocHeader | undefined, ranges: Range[]): void {
    const packer = new ContentPacker(doc, header);
    for (const range of ranges) {
      for (const transaction of this.store.readTransactions(doc, range.session, range.from, range.to)) {
        packer.add(range.session, transaction);
        if (packer.hasFrames) for (const message of packer.take()) this.#send(peer, message);
      }
    }
    packer.flush();
    for (const message of packer.take()) this.#send(peer, message);
  }

  /** The digest of the documents one reader may see: a scan, for groups with private documents. */
  #digestFor(reader: Reader): string {
    const readable = function* (entries: Iterable<DirEntry>): Iterable<[DocId, KnownState]> {
      for (const entry of entries) if (!entry.deleted && mayRead(reader.role, reader.agent, entry.header)) yield [entry.id, entry.known];
    };
    return digestOf(readable(this.store.listDocuments(0)));
  }

  /** Documents changed since a cursor that the peer may read, in bounded frames, then the new cursor. */
  #sendDirectory(peer: PeerId, since: number, reader: Reader, readerDigest?: string, clientDigest?: string): void {
    if (readerDigest !== undefined && readerDigest === clientDigest) {
      this.#send(peer, { type: "dir", docs: [], more: false, cursor: this.store.info().cursor, digest: readerDigest, inSync: true });
      return;
    }
    let docs: DirEntry[] = [];
    let bytes = 0;
    for (const entry of this.store.listDocuments(since)) {
      if (!mayRead(reader.role, reader.agent, entry.header)) continue;
      const size = JSON.stringify(entry).length;
      if (docs.length >= MAX_DOCS_PER_DIR_FRAME || (docs.length > 0 && bytes + size > CHUNK_TARGET_BYTES)) {
        this.#sendDirectoryFrame(peer, docs, true, readerDigest);
        docs = [];
        bytes = 0;
      }
      docs.push(entry);
      bytes += size;
    }
    this.#sendDirectoryFrame(peer, docs, false, readerDigest);
  }

  #sendDirectoryFrame(peer: PeerId, docs: DirEntry[], more: boolean, readerDigest?: string): void {
    const { cursor, digest } = this.store.info();
    this.#send(peer, { type: "dir", docs, more, cursor, digest: readerDigest ?? digest, inSync: false });
  }

  /** Every document the peer may read: what it lacks of each, then `known`, then `opened`. */
  #sendGroup(peer: PeerId, known: Record<DocId, KnownState>, reader: Reader): void {
    let docs = 0;
    for (const entry of this.store.listDocuments(0)) {
      const held = known[entry.id];
      if (entry.deleted) {
        if (held) this.#send(peer, { type: "deleted", doc: entry.id });
        continue;
      }
      if (!mayRead(reader.role, reader.agent, entry.header)) continue;
      docs++;
      const delta = missing(held ?? emptyKnownState(), entry.known);
      if (delta.header || delta.ranges.length > 0) this.#sendDelta(peer, entry.id, delta.header ? entry.header : undefined, delta.ranges);
      this.#send(peer, { type: "known", doc: entry.id, ...entry.known, reason: "load" });
    }
    this.#send(peer, { type: "opened", docs, cursor: this.store.info().cursor });
  }
}

async function checkSignature(check: SignatureCheck): Promise<boolean> {
  const publicKey = publicKeyOfAgent(check.publicKeyOf);
  const signature = fromBase64Url(check.signature);
  if (!publicKey || !signature) return false;
  return verify(signature, check.message, publicKey);
}
