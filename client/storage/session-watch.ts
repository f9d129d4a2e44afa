// Noticing that another client of this agent went away without saying so (a tab that crashed, or that the
// browser discarded): it leaves no announcement of the writes it saved and never sent. Its Web Locks are the
// one thing the browser lets go for it. Beside its session's lock (the lease), a leaseholder holds a second
// lock for the session, its "alive" lock; a client queues for the alive lock of every session of its agent
// that another live client holds (those held when it starts, and those leased after, which each lease tells
// on a BroadcastChannel). The browser grants it once the holder is gone, closed or crashed; it is given back
// at once, and the client reads the store again for what that session left. Watching never touches the
// lease's own lock: a tab reloading takes its session back even while a watcher, busy, has not yet given
// the alive lock back. A holder that leaves in good order (closed, or its page hidden with every write
// saved and the unsent ones announced) says so on the same channel first, and is not read for: a tab
// closed or reloaded costs the other tabs no read of the whole store.
import { isSessionId, type AgentId, type SessionId } from "../../protocol/index.ts";
import type { WebLocks } from "./web-apis.ts";

export type SessionWatch = {
  locks: WebLocks;
  /** The name of a session's alive lock, which its leaseholder holds and watchers wait for. */
  aliveName: (session: SessionId) => string;
  /** The sessions of an agent the store has handed out. */
  pool: (agent: AgentId) => Promise<SessionId[]>;
  /** The BroadcastChannel on which leases are told. */
  channel: string;
};

/**
 * Holds `session`'s alive lock from now until the returned function is called; taken as soon as a watcher
 * that was granted it (its previous holder gone) gives it back.
 */
export function holdAlive(watch: SessionWatch, session: SessionId): () => void {
  const stop = new AbortController();
  let release: (() => void) | undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  watch.locks.request(watch.aliveName(session), { signal: stop.signal }, () => held).catch(() => {}); // aborted before granted
  return () => {
    stop.abort();
    release!();
  };
}

/**
 * How long after its holder's word that it is leaving a session's lock may go and still count as that
 * leaving: a page hidden into the back-forward cache and killed much later says nothing of what it did
 * meanwhile (nothing, frozen; but it may have been shown again and crashed).
 */
const LEAVING_WORD_COUNTS_MS = 10_000;
/** A lock granted before the word that its holder left cleanly (the two travel apart) waits this long for it. */
const LEAVING_WORD_LATE_MS = 250;

/** Tells the clients sharing the store that `agent` leased `session`: they watch it from now on. */
export function tellLeased(watch: Pick<SessionWatch, "channel">, agent: AgentId, session: SessionId): void {
  post(watch, { agent, session });
}

/** Tells the clients watching `session` that its holder leaves with nothing of it to read (SessionLease.leaving). */
export function tellLeaving(watch: Pick<SessionWatch, "channel">, agent: AgentId, session: SessionId): void {
  post(watch, { agent, session, leaving: true });
}

function post(watch: Pick<SessionWatch, "channel">, message: { agent: AgentId; session: SessionId; leaving?: true }): void {
  if (typeof BroadcastChannel === "undefined") return;
  const channel = new BroadcastChannel(watch.channel);
  channel.postMessage(message);
  channel.close();
}

/** Calls `gone` with each session of `agent` other than `own` whose holder lets it go; returns what stops it. */
export function watchSessions(watch: SessionWatch, agent: AgentId, own: SessionId, gone: (session: SessionId) => void): () => void {
  const stop = new AbortController();
  const watched = new Set<SessionId>([own]);
  /** When each session's holder said it was leaving cleanly. */
  const leaving = new Map<SessionId, number>();
  const leftCleanly = (session: SessionId): boolean => {
    const saidAt = leaving.get(session);
    leaving.delete(session);
    return saidAt !== undefined && performance.now() - saidAt < LEAVING_WORD_COUNTS_MS;
  };
  /** Sessions leased again (a tab reloaded) while the watch of their previous holder still waited. */
  const leasedAgain = new Set<SessionId>();
  const follow = (session: SessionId) => {
    if (stop.signal.aborted) return;
    if (watched.has(session)) return void (session !== own && leasedAgain.add(session));
    watched.add(session);
    // Granted once the holder is gone; the callback returns at once, so the lock is given back.
    watch.locks
      .request(watch.aliveName(session), { signal: stop.signal }, () => {
        watched.delete(session);
        // Its new holder is watched in turn: queued now, this is granted once that one goes too.
        if (leasedAgain.delete(session)) follow(session);
        if (stop.signal.aborted || leftCleanly(session)) return;
        const timer = setTimeout(() => !stop.signal.aborted && !leftCleanly(session) && gone(session), LEAVING_WORD_LATE_MS);
        (timer as { unref?: () => void }).unref?.(); // Node: waiting does not keep the process alive
      })
      .catch(() => {}); // aborted: this client stopped watching
  };
  void (async () => {
    const held = new Set(((await watch.locks.query()).held ?? []).map((lock) => lock.name));
    for (const session of await watch.pool(agent)) if (held.has(watch.aliveName(session))) follow(session);
  })().catch(() => {});
  let channel: BroadcastChannel | undefined;
  if (typeof BroadcastChannel !== "undefined") {
    channel = new BroadcastChannel(watch.channel);
    channel.onmessage = (event: MessageEvent) => {
      const told = event.data as { agent?: unknown; session?: unknown; leaving?: unknown } | null;
      if (told?.agent !== agent || !isSessionId(told.session)) return;
      if (told.leaving === true) leaving.set(told.session, performance.now());
      else follow(told.session);
    };
    (channel as { unref?: () => void }).unref?.(); // Node: listening does not keep the process alive
  }
  return () => {
    stop.abort();
    channel?.close();
  };
}
