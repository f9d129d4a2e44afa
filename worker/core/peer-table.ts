// The relay's table of sockets: every peer's record, with the sockets still in the handshake and the count
// of authenticated peers kept alongside, so admission never scans the whole table. It is updated in place:
// a group may hold tens of thousands of sockets, and copying the table at every connection (as a fresh
// Map per step did) cost more than everything else a connection does (15 ms per copy at 10,000 peers).
import type { ChallengedPeer, PeerRecord } from "./peer-records.ts";
import type { PeerId } from "./store.ts";

export class PeerTable {
  readonly #all = new Map<PeerId, PeerRecord>();
  /** Sockets in the handshake, in the order they opened. */
  readonly #waiting = new Map<PeerId, ChallengedPeer>();
  #ready = 0;

  constructor(peers: Iterable<PeerRecord> = []) {
    for (const peer of peers) this.set(peer);
  }

  get size(): number {
    return this.#all.size;
  }

  /** Authenticated peers. */
  get readyCount(): number {
    return this.#ready;
  }

  get(id: PeerId): PeerRecord | undefined {
    return this.#all.get(id);
  }

  has(id: PeerId): boolean {
    return this.#all.has(id);
  }

  keys(): IterableIterator<PeerId> {
    return this.#all.keys();
  }

  values(): IterableIterator<PeerRecord> {
    return this.#all.values();
  }

  /** Sockets still in the handshake, oldest first. */
  waiting(): IterableIterator<ChallengedPeer> {
    return this.#waiting.values();
  }

  set(peer: PeerRecord): void {
    this.delete(peer.id);
    this.#all.set(peer.id, peer);
    if (peer.phase === "ready") this.#ready++;
    else this.#waiting.set(peer.id, peer);
  }

  delete(id: PeerId): void {
    const old = this.#all.get(id);
    if (!old) return;
    this.#all.delete(id);
    if (old.phase === "ready") this.#ready--;
    else this.#waiting.delete(id);
  }
}
