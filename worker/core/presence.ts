// The relay's ephemeral presence channel: what each peer shows in each document ("Alice, cursor at 42"),
// passed to the document's readers and never written to storage. It lives in memory and in each peer's
// socket attachment (SavedPresence), so it outlives the object's hibernation and ends with the socket.
// Pure functions of the table, the peers, the store (read only) and the time, used by the relay core.
import {
  MAX_PRESENCE_PEERS_PER_FRAME,
  PRESENCE_BURST,
  PRESENCE_MAX_BYTES,
  PRESENCE_MAX_DOCS_PER_PEER,
  PRESENCE_SILENT_MS,
  PRESENCE_UPDATES_PER_SECOND,
  fromUtf8,
  mayRead,
  utf8,
  type AgentId,
  type DocHeader,
  type DocId,
  type Json,
  type Presence,
  type PresencePeer,
  type Role,
  type SessionId,
} from "../../protocol/index.ts";
import { deletionRefusal, roleOf } from "./access.ts";
import type { Effect } from "./effects.ts";
import type { PeerRecord, ReadyPeer, SavedPresence } from "./peer-records.ts";
import type { PeerId, StoreReader } from "./store.ts";

type Shown = { state: Json; encoded: Uint8Array };

/** What presence needs of the relay's peer table: who is connected, and as whom. */
type Peers = { get(id: PeerId): PeerRecord | undefined; has(id: PeerId): boolean };

type PeerPresence = {
  agent: AgentId;
  session: SessionId;
  docs: Map<DocId, Shown>;
  /** Messages it may still send now, as of `at` (a token bucket: PRESENCE_UPDATES_PER_SECOND, up to PRESENCE_BURST). */
  tokens: number;
  at: number;
  /** It was told it is over the rate, and nothing got through since: one `rate_limited` per run of drops. */
  limited: boolean;
  /**
   * When its latest frame arrived, as far as this instance knows: after a wake from hibernation, when its
   * presence was last saved (`at`). Pings the runtime answers are not frames the object sees: the alarm
   * hears of those from the driver (silent-peers.ts).
   */
  heardAt: number;
};

/**
 * Every peer's presence, by peer and by document. The one part of the relay's state changed in place:
 * presence changes at typing speed, and copying tables per message would cost O(peers) where a message
 * should cost O(readers of its document).
 */
export class PresenceTable {
  readonly #byPeer = new Map<PeerId, PeerPresence>();
  readonly #byDoc = new Map<DocId, Set<PeerId>>();

  /** The table as the attachments of a woken object's sockets hold it. */
  static restore(peers: readonly PeerRecord[], saved: ReadonlyMap<PeerId, SavedPresence>): PresenceTable {
    const table = new PresenceTable();
    for (const peer of peers) {
      const presence = saved.get(peer.id);
      if (peer.phase !== "ready" || !presence) continue;
      const entry = table.#entry(peer, presence.at);
      entry.tokens = presence.tokens;
      for (const [doc, encoded] of Object.entries(presence.states) as [DocId, Uint8Array][]) {
        table.#show(peer.id, entry, doc, { state: JSON.parse(fromUtf8(encoded)) as Json, encoded });
      }
    }
    return table;
  }

  /** Peers showing presence in `doc`, with what they show. */
  *shownIn(doc: DocId): Iterable<[PeerId, PresencePeer]> {
    for (const id of this.#byDoc.get(doc) ?? []) {
      const entry = this.#byPeer.get(id)!;
      yield [id, { agent: entry.agent, session: entry.session, state: entry.docs.get(doc)!.state }];
    }
  }

  /** Documents someone shows presence in. */
  docs(): Iterable<DocId> {
    return this.#byDoc.keys();
  }

  docsOf(peer: PeerId): DocId[] {
    return [...(this.#byPeer.get(peer)?.docs.keys() ?? [])];
  }

  has(peer: PeerId): boolean {
    return this.#byPeer.has(peer);
  }

  /** A frame arrived from `peer` at `now`: a sign of life, if it has presence to keep. */
  heard(peer: PeerId, now: number): void {
    const entry = this.#byPeer.get(peer);
    if (entry && now > entry.heardAt) entry.heardAt = now;
  }

  /** Peers showing presence in some document, with when their latest frame arrived. */
  *holders(): Iterable<[PeerId, number]> {
    for (const [id, entry] of this.#byPeer) if (entry.docs.size > 0) yield [id, entry.heardAt];
  }

  #entry(peer: ReadyPeer, now: number): PeerPresence {
    let entry = this.#byPeer.get(peer.id);
    if (!entry) this.#byPeer.set(peer.id, (entry = { agent: peer.agent, session: peer.session, docs: new Map(), tokens: PRESENCE_BURST, at: now, limited: false, heardAt: now }));
    return entry;
  }

  #show(id: PeerId, entry: PeerPresence, doc: DocId, shown: Shown): void {
    entry.docs.set(doc, shown);
    let peers = this.#byDoc.get(doc);
    if (!peers) this.#byDoc.set(doc, (peers = new Set()));
    peers.add(id);
  }

  /**
   * What readers should now hold for a session that stopped showing presence through one socket: gone,
   * unless another socket of the same session still shows some (a reconnect the relay has not yet seen
   * the old socket close for), which then stands. Readers key presence by session, not by socket.
   */
  #stillShown(doc: DocId, who: { agent: AgentId; session: SessionId }): PresencePeer {
    for (const [, shown] of this.shownIn(doc)) if (shown.session === who.session) return shown;
    return { agent: who.agent, session: who.session };
  }

  /** Stops showing `id` in `doc`; returns who it was if it was shown. */
  #hide(id: PeerId, doc: DocId): PeerPresence | undefined {
    const entry = this.#byPeer.get(id);
    if (!entry?.docs.delete(doc)) return undefined;
    const peers = this.#byDoc.get(doc)!;
    peers.delete(id);
    if (peers.size === 0) this.#byDoc.delete(doc);
    return entry;
  }

  #saved(id: PeerId): SavedPresence {
    const entry = this.#byPeer.get(id)!;
    const states: Record<DocId, Uint8Array> = {};
    for (const [doc, shown] of entry.docs) states[doc] = shown.encoded;
    return { states, tokens: entry.tokens, at: entry.at };
  }

  /**
   * A `presence` message from a ready peer with `role`: refused, dropped over the rate, or applied and
   * passed on to the readers of its document. The peer's budget is spent first, so refusals are rate
   * limited too.
   */
  receive(peer: ReadyPeer, role: Role, message: Presence, now: number, peers: Peers, store: StoreReader): Effect[] {
    const { doc } = message;
    const refused = (code: "presence_refused" | "presence_too_large" | "rate_limited", text: string, retryAfter?: number): Effect[] => [
      { type: "send", peer: peer.id, message: { type: "error", code, message: text, doc, ...(retryAfter === undefined ? {} : { retryAfter }) } },
    ];
    const header = store.header(doc);
    if (!header) return refused("presence_refused", deletionRefusal(role, peer.agent, doc, store)?.reason ?? "the relay has no such document");
    if (!mayRead(role, peer.agent, header)) return refused("presence_refused", "this agent may not read this document");

    const entry = this.#entry(peer, now);
    const tokens = Math.min(PRESENCE_BURST, entry.tokens + (Math.max(0, now - entry.at) * PRESENCE_UPDATES_PER_SECOND) / 1000);
    if (tokens < 1) {
      if (entry.limited) return [];
      entry.limited = true;
      return refused("rate_limited", `over ${PRESENCE_UPDATES_PER_SECOND} presence messages a second: dropped until the rate falls (the state shown before stands)`, 1);
    }
    entry.tokens = tokens - 1;
    entry.at = now;
    entry.limited = false;
    // The attachment keeps the spent budget too, so hibernating does not refill it.
    const save = (): Effect => ({ type: "savePresence", peer: peer.id, presence: this.#saved(peer.id) });

    if (message.state === undefined) {
      if (!this.#hide(peer.id, doc)) return [save()];
      return [save(), ...fanOut(doc, header, peer.id, this.#stillShown(doc, peer), peers, store, now)];
    }
    const state = message.state as Json;
    const encoded = utf8(JSON.stringify(state));
    let bytes = encoded.length;
    for (const [other, shown] of entry.docs) if (other !== doc) bytes += shown.encoded.length;
    const docCount = entry.docs.size + (entry.docs.has(doc) ? 0 : 1);
    if (bytes > PRESENCE_MAX_BYTES) return [save(), ...refused("presence_too_large", `${bytes} bytes of presence over this peer's documents; at most ${PRESENCE_MAX_BYTES}`)];
    if (docCount > PRESENCE_MAX_DOCS_PER_PEER) return [save(), ...refused("presence_too_large", `presence in ${docCount} documents; at most ${PRESENCE_MAX_DOCS_PER_PEER} at once`)];
    const wasShowing = entry.docs.size > 0;
    this.#show(peer.id, entry, doc, { state, encoded });
    const shown: PresencePeer = { agent: peer.agent, session: peer.session, state };
    // From now on the alarm watches it for silence (silent-peers.ts); each alarm asks for the next.
    const watch: Effect[] = peer.pings && !wasShowing ? [{ type: "wakeAt", at: now + PRESENCE_SILENT_MS }] : [];
    return [save(), ...watch, ...fanOut(doc, header, peer.id, shown, peers, store, now)];
  }

  /**
   * A peer stops showing presence in `docs` (every document when omitted: its socket closed): its readers
   * hear it is gone. A peer still connected has its attachment updated.
   */
  leave(id: PeerId, docs: readonly DocId[] | undefined, peers: Peers, store: StoreReader): Effect[] {
    const entry = this.#byPeer.get(id);
    if (!entry) return [];
    const effects: Effect[] = [];
    for (const doc of docs ?? [...entry.docs.keys()]) {
      if (!this.#hide(id, doc)) continue;
      const header = store.header(doc);
      if (header) effects.push(...fanOut(doc, header, id, this.#stillShown(doc, entry), peers, store));
    }
    if (docs === undefined || !peers.has(id)) this.#byPeer.delete(id);
    else if (effects.length > 0) effects.unshift({ type: "savePresence", peer: id, presence: this.#saved(id) });
    return effects;
  }

  /**
   * A peer's role changed (to `role`; undefined: no longer a member): it stops showing itself in the
   * documents it may no longer read, and their readers hear it is gone there.
   */
  roleChanged(peer: ReadyPeer, role: Role | undefined, peers: Peers, store: StoreReader): Effect[] {
    const unreadable = this.docsOf(peer.id).filter((doc) => {
      const header = store.header(doc);
      return !header || !mayRead(role, peer.agent, header);
    });
    return unreadable.length > 0 ? this.leave(peer.id, unreadable, peers, store) : [];
  }

  /** The document was deleted: its presence goes with it (its readers are told of the deletion itself). */
  forgetDoc(doc: DocId): Effect[] {
    const effects: Effect[] = [];
    for (const id of [...(this.#byDoc.get(doc) ?? [])]) {
      this.#hide(id, doc);
      effects.push({ type: "savePresence", peer: id, presence: this.#saved(id) });
    }
    return effects;
  }

  /** Every other peer's state in `doc`, for a peer that loads or opens it, in messages of bounded size. */
  snapshot(doc: DocId, to: PeerId): Effect[] {
    const effects: Effect[] = [];
    let batch: PresencePeer[] = [];
    for (const [id, shown] of this.shownIn(doc)) {
      if (id === to) continue;
      batch.push(shown);
      if (batch.length === MAX_PRESENCE_PEERS_PER_FRAME) {
        effects.push({ type: "send", peer: to, message: { type: "presence", doc, peers: batch } });
        batch = [];
      }
    }
    if (batch.length > 0) effects.push({ type: "send", peer: to, message: { type: "presence", doc, peers: batch } });
    return effects;
  }

  /** Snapshots of the documents an open (part) covers, ids in (after, through], that the reader may read. */
  snapshotsForOpen(to: PeerId, reader: { agent: AgentId; role: Role }, after: DocId | undefined, through: DocId | undefined, store: StoreReader): Effect[] {
    const effects: Effect[] = [];
    for (const doc of this.#byDoc.keys()) {
      if ((after !== undefined && doc <= after) || (through !== undefined && doc > through)) continue;
      const header = store.header(doc);
      if (header && mayRead(reader.role, reader.agent, header)) effects.push(...this.snapshot(doc, to));
    }
    return effects;
  }
}

/** One peer's presence change, sent to every other ready peer subscribed to the document that may read it. */
function fanOut(doc: DocId, header: DocHeader, from: PeerId, shown: PresencePeer, peers: Peers, store: StoreReader, now?: number): Effect[] {
  const message = { type: "presence" as const, doc, peers: [shown] };
  const effects: Effect[] = [];
  for (const id of store.subscribers(doc)) {
    const record = peers.get(id);
    if (id === from || record?.phase !== "ready") continue;
    if (now !== undefined && record.token && now >= record.token.expiresAt) continue;
    if (mayRead(roleOf(record, store), record.agent, header)) effects.push({ type: "send", peer: id, message });
  }
  return effects;
}
