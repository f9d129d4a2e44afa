// y-protocols awareness carried over a document's presence channel: the local awareness state becomes this
// peer's presence, and other peers' presence becomes remote awareness states, so editor cursor plugins
// (y-codemirror.next, y-prosemirror, ...) work unchanged. The relay sees only JSON presence.
import { applyAwarenessUpdate, removeAwarenessStates, type Awareness } from "y-protocols/awareness";
import { varuint } from "./update-frames.ts";

/** One peer's presence as the SDK reports it (`doc.presence.subscribe`). */
export type PresencePeer = { agent: string; session: string; state: unknown };

/** The part of `doc.presence` this binding uses. */
export type PresenceChannel = {
  set(state: unknown): void;
  clear(): void;
  subscribe(listener: (peers: ReadonlyMap<string, PresencePeer>) => void): () => void;
};

/** What a peer's presence holds: its awareness client id, that state's clock, and the state itself. */
export type AwarenessPresence = { awareness: { client: number; clock: number; state: Record<string, unknown> } };

type AwarenessChange = { added: number[]; updated: number[]; removed: number[] };

export class AwarenessOverPresence {
  readonly #awareness: Awareness;
  readonly #presence: PresenceChannel;
  readonly #origin: unknown;
  readonly #onError: (error: Error) => void;
  /** More of this peer's presence than its awareness (the provider's offer to take snapshots). */
  #extra: Record<string, unknown>;
  /**
   * Which awareness client each presence key (`agent/session`) stands for, at which clock, and the
   * presence state it was read from: a peer whose state object is unchanged is skipped at once, so a
   * change costs the work of the peers it changed, not of everyone here.
   */
  readonly #remote = new Map<string, { client: number; clock: number; from: unknown }>();
  /**
   * The presence key each remote awareness client stands under: the first that claimed it, while present.
   * Presence keys are the relay's (a session's, checked at its hello); awareness client ids are whatever a
   * peer says, so another member naming someone's id neither takes over their state nor, leaving, removes it.
   */
  readonly #claims = new Map<number, string>();
  /** The code of the refusal last reported: the same refusal again (every cursor move) is not reported again. */
  #refused: string | undefined;
  readonly #unsubscribe: () => void;
  readonly #onUpdate = (change: AwarenessChange, origin: unknown): void => {
    if (origin === this.#origin) return;
    const own = this.#awareness.clientID;
    if (change.added.includes(own) || change.updated.includes(own) || change.removed.includes(own)) this.#publish();
  };

  /**
   * `origin` marks the awareness changes this makes, so that they are not sent back. `onError` hears a local
   * state the presence channel refuses (over PRESENCE_MAX_BYTES, say): it is not shown, the last one is
   * cleared. It hears a refusal once: the same refusal of the next states is not reported until one is shown.
   */
  constructor(awareness: Awareness, presence: PresenceChannel, origin: unknown, onError: (error: Error) => void = () => {}, extra: Record<string, unknown> = {}) {
    this.#extra = extra;
    this.#awareness = awareness;
    this.#presence = presence;
    this.#origin = origin;
    this.#onError = onError;
    awareness.on("update", this.#onUpdate);
    this.#unsubscribe = presence.subscribe((peers) => this.#receive(peers));
    this.#publish();
  }

  /** Replaces what this peer's presence carries beside its awareness, and shows it. */
  setExtra(extra: Record<string, unknown>): void {
    this.#extra = extra;
    this.#publish();
  }

  /** Stops both directions, clears this peer's presence and forgets the remote states it brought in. */
  destroy(): void {
    this.#awareness.off("update", this.#onUpdate);
    this.#unsubscribe();
    this.#presence.clear();
    this.#forget([...this.#remote.keys()]);
  }

  #publish(): void {
    const awareness = this.#awareness;
    const state = awareness.getLocalState();
    // One nothing was put in (y-protocols starts each at {}) shows only what the provider adds (its offer to
    // take snapshots), if anything, and where presence has no room for that, nothing, unsaid: the app
    // asked to show nothing in the few documents a session may show presence in (PRESENCE_MAX_DOCS_PER_PEER).
    const untouched = state !== null && Object.keys(state).length === 0;
    if (state === null || (untouched && Object.keys(this.#extra).length === 0)) return this.#presence.clear();
    const clock = awareness.meta.get(awareness.clientID)?.clock ?? 0;
    // Called from inside the awareness's own event: a throw here would reach the app's setLocalState call.
    try {
      // The state as y-protocols sends it, through JSON: editor bindings put class instances in it
      // (y-codemirror.next a cursor's Y.RelativePosition), which presence refuses as it is.
      const presence: AwarenessPresence = { ...this.#extra, awareness: { client: awareness.clientID, clock, state: JSON.parse(JSON.stringify(state)) } };
      this.#presence.set(presence);
      this.#refused = undefined;
    } catch (error) {
      this.#presence.clear();
      if (untouched) return;
      const failure = error instanceof Error ? error : new Error(String(error));
      const code = (failure as { code?: string }).code ?? failure.message;
      if (code === this.#refused) return;
      this.#refused = code;
      this.#onError(failure);
    }
  }

  #receive(peers: ReadonlyMap<string, PresencePeer>): void {
    const changed: { client: number; clock: number; state: unknown }[] = [];
    const gone: string[] = [];
    for (const key of this.#remote.keys()) if (!peers.has(key)) gone.push(key);
    for (const [key, peer] of peers) {
      const known = this.#remote.get(key);
      if (known?.from === peer.state) continue;
      const entry = awarenessOf(peer.state);
      if (!entry || entry.client === this.#awareness.clientID) {
        if (known) gone.push(key);
        continue;
      }
      const claimant = this.#claims.get(entry.client);
      if (claimant !== undefined && claimant !== key) {
        if (known) gone.push(key);
        continue;
      }
      if (known && known.client !== entry.client) this.#forget([key]); // the peer started a new Y.Doc
      if (known && known.client === entry.client && known.clock === entry.clock) {
        known.from = peer.state;
        continue;
      }
      this.#remote.set(key, { client: entry.client, clock: entry.clock, from: peer.state });
      this.#claims.set(entry.client, key);
      changed.push(entry);
    }
    this.#forget(gone);
    if (changed.length === 0) return;
    applyAwarenessUpdate(this.#awareness, encodeAwarenessUpdate(changed), this.#origin);
    for (const entry of changed) {
      if (this.#awareness.meta.get(entry.client)?.clock === entry.clock) this.#awareness.meta.set(entry.client, heldMeta(entry.clock));
    }
  }

  #forget(keys: string[]): void {
    const clients: number[] = [];
    for (const key of keys) {
      const known = this.#remote.get(key);
      if (!known) continue;
      this.#remote.delete(key);
      this.#claims.delete(known.client);
      clients.push(known.client);
    }
    if (clients.length === 0) return;
    removeAwarenessStates(this.#awareness, clients, this.#origin);
    // A peer back after a network blip sends its state at the same clock: let it count as new.
    for (const client of clients) this.#awareness.meta.delete(client);
  }
}

/**
 * The meta of a remote state the presence holds: updated now, for as long as it holds it. y-protocols removes
 * a remote state whose `lastUpdated` is 30 s old (its `outdatedTimeout`), but the presence keeps a silent
 * peer up to 90 s (PRESENCE_SILENT_MS: a hidden tab pings once a minute) and says when it left; a timer of
 * ours to renew it would be throttled in a hidden tab as y-protocols' own check is, and could run after it.
 */
const heldMeta = (clock: number) => ({
  clock,
  get lastUpdated(): number {
    return Date.now();
  },
});

function awarenessOf(state: unknown): AwarenessPresence["awareness"] | undefined {
  if (typeof state !== "object" || state === null || !("awareness" in state)) return undefined;
  const entry = (state as { awareness: unknown }).awareness;
  if (typeof entry !== "object" || entry === null) return undefined;
  const { client, clock, state: inner } = entry as Record<string, unknown>;
  if (!isUint32(client) || !isUint32(clock) || typeof inner !== "object" || inner === null) return undefined;
  return { client, clock, state: inner as Record<string, unknown> };
}

const isUint32 = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 32;

const encoder = new TextEncoder();

/** The y-protocols awareness update format: count, then per client its id, clock and JSON state. */
function encodeAwarenessUpdate(entries: { client: number; clock: number; state: unknown }[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from(varuint(entries.length))];
  for (const entry of entries) {
    const json = encoder.encode(JSON.stringify(entry.state));
    parts.push(Uint8Array.from([...varuint(entry.client), ...varuint(entry.clock), ...varuint(json.length)]), json);
  }
  const update = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    update.set(part, offset);
    offset += part.length;
  }
  return update;
}
