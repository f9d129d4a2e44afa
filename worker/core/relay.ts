// Drives the pure relay core: feeds it one event at a time and carries out its effects against a
// GroupStore and a Transport. Shared by the Durable Object and the Node tests, so both run the same code.
import {
  CHUNK_TARGET_BYTES,
  MAX_DOCS_PER_DIR_FRAME,
  encodeMessage,
  fromBase64Url,
  publicKeyOfAgent,
  verify,
  type DirEntry,
  type DocId,
  type Range,
  type ServerMessage,
} from "../../protocol/index.ts";
import { ContentPacker } from "./content-packer.ts";
import { assertNever, type Effect, type RelayEvent, type RelayState, type SignatureCheck } from "./effects.ts";
import { step } from "./relay-core.ts";
import type { GroupStore, PeerId } from "./store.ts";

export interface Transport {
  /** Sends one text frame; throws if the socket is gone. */
  send(peer: PeerId, frame: string): void;
  close(peer: PeerId, code: number, reason: string): void;
  /** Remembers what the relay must know of a peer after the object was evicted from memory. */
  savePeer(peer: PeerId, record: unknown): void;
}

export class Relay {
  #state: RelayState;
  #queue: Promise<void> = Promise.resolve();

  readonly store: GroupStore;
  readonly transport: Transport;

  constructor(state: RelayState, store: GroupStore, transport: Transport) {
    this.#state = state;
    this.store = store;
    this.transport = transport;
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
    const result = step(this.#state, event, this.store);
    this.#state = result.state;
    for (const effect of result.effects) await this.#carryOut(effect);
  }

  async #carryOut(effect: Effect): Promise<void> {
    switch (effect.type) {
      case "send":
        return this.#send(effect.peer, effect.message);
      case "sendDelta":
        return this.#sendDelta(effect.peer, effect.doc, effect.header, effect.ranges);
      case "sendDirectory":
        return this.#sendDirectory(effect.peer);
      case "verify": {
        const valid = await Promise.all(effect.checks.map(checkSignature));
        return this.#run({ type: "verified", peer: effect.peer, then: effect.then, valid });
      }
      case "commit":
        return this.store.commit(effect.write);
      case "subscribe":
        return this.store.subscribe(effect.peer, effect.doc);
      case "unsubscribe":
        return this.store.unsubscribe(effect.peer, effect.doc);
      case "forgetPeer":
        return this.store.forgetPeer(effect.peer);
      case "savePeer":
        return this.transport.savePeer(effect.peer.id, effect.peer);
      case "close":
        return this.transport.close(effect.peer, effect.code, effect.reason);
      default:
        return assertNever(effect);
    }
  }

  #send(peer: PeerId, message: ServerMessage): void {
    try {
      this.transport.send(peer, encodeMessage(message));
    } catch {
      // A dead socket must not take the others down: close it and forget its subscriptions.
      this.transport.close(peer, 1011, "send failed");
      this.#state = step(this.#state, { type: "closed", peer }, this.store).state;
      this.store.forgetPeer(peer);
    }
  }

  /** Streams what a peer lacks straight from storage, in frames under the limit. */
  #sendDelta(peer: PeerId, doc: DocId, header: boolean, ranges: Range[]): void {
    const packer = new ContentPacker(doc, header ? this.store.header(doc) : undefined);
    for (const range of ranges) {
      for (const transaction of this.store.readTransactions(doc, range.session, range.from, range.to)) {
        packer.add(range.session, transaction);
        for (const message of packer.take()) this.#send(peer, message);
      }
    }
    packer.flush();
    for (const message of packer.take()) this.#send(peer, message);
  }

  #sendDirectory(peer: PeerId): void {
    let docs: DirEntry[] = [];
    let bytes = 0;
    for (const entry of this.store.listDocuments()) {
      const size = JSON.stringify(entry).length;
      if (docs.length >= MAX_DOCS_PER_DIR_FRAME || (docs.length > 0 && bytes + size > CHUNK_TARGET_BYTES)) {
        this.#send(peer, { type: "dir", docs, more: true });
        docs = [];
        bytes = 0;
      }
      docs.push(entry);
      bytes += size;
    }
    this.#send(peer, { type: "dir", docs, more: false });
  }
}

async function checkSignature(check: SignatureCheck): Promise<boolean> {
  const publicKey = publicKeyOfAgent(check.publicKeyOf);
  const signature = fromBase64Url(check.signature);
  if (!publicKey || !signature) return false;
  return verify(signature, check.message, publicKey);
}
