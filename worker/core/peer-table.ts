// The relay's table of sockets: every peer's record, with the sockets still in the handshake and the count
// of authenticated peers kept alongside, so admission never scans the whole table. It is updated in place:
// a group may hold tens of thousands of sockets, and copying the table at every connection (as a fresh
// Map per step did) cost more than everything else a connection does (15 ms per copy at 10,000 peers).
import type { AgentId } from "../../protocol/index.ts";
import type { ChallengedPeer, PeerRecord } from "./peer-records.ts";
import type { PeerId } from "./store.ts";

export class PeerTable {
  readonly #all = new Map<PeerId, PeerRecord>();
  /** Sockets in the handshake, in the order they opened. */
  readonly #waiting = new Map<PeerId, ChallengedPeer>();
  #ready = 0;
  /** Authenticated peers of each agent that has any. */
  readonly #readyByAgent = new Map<AgentId, number>();

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

  /** Authenticated peers of `agent`. */
  readyOf(agent: AgentId): number {
    return this.#readyByAgent.get(agent) ?? 0;
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
    if (peer.phase === "ready") {
      this.#ready++;
      this.#readyByAgent.set(peer.agent, this.readyOf(peer.agent) + 1);
    } else this.#waiting.set(peer.id, peer);
  }

  delete(id: PeerId): void {
    const old = this.#all.get(id);
    if (!old) return;
    this.#all.delete(id);
    if (old.phase === "ready") {
      this.#ready--;
      const left = this.readyOf(old.agent) - 1;
      if (left > 0) this.#readyByAgent.set(old.agent, left);
      else this.#readyByAgent.delete(old.agent);
    } else this.#waiting.delete(id);
  }
}
