// Session ownership: every running client writes into a session no other live client holds. A store keeps a
// pool of sessions per agent; a client leases one for its lifetime (a free one of the pool, or a fresh one
// when all are taken), so two tabs or two processes on one store never append to the same session log.
import { agentOfSession, isSessionId, type AgentId, type SessionId } from "../../protocol/index.ts";

/** A session held by one client until `release()`; nobody else appends to it meanwhile. */
export type SessionLease = {
  readonly session: SessionId;
  release(): Promise<void>;
  /**
   * The leaseholder's page is going away (`pagehide`) with every write it made saved, and those the relay
   * lacks announced (announceUnsent): the clients watching its session (onSessionGone) need not read the
   * store for it once its locks go. Optional; a release says as much.
   */
  leaving?(): void;
};

export type LeaseRequest = {
  /** Makes a new session id when every pooled one is held. */
  fresh: () => SessionId;
  /** This exact session, or SessionInUseError if another live client holds it. */
  wanted?: SessionId;
};

/** The session the app asked for is held by another live client (another tab, process or client). */
export class SessionInUseError extends Error {
  override readonly name = "SessionInUseError";
  readonly session: SessionId;

  constructor(session: SessionId) {
    super(`session ${session} is in use by another live client on this device`);
    this.session = session;
  }
}

/** What a store provides for leases: its pool of sessions, and an exclusive lock that outlives no client. */
export interface SessionLocks {
  /** The sessions of `agent` this store has handed out, oldest first (as far as the store can tell). */
  pool(agent: AgentId): Promise<SessionId[]>;
  addToPool(agent: AgentId, session: SessionId): Promise<void>;
  /** Locks `session` if nobody else (in any tab or process) holds it; returns the unlock, or undefined. */
  tryLock(session: SessionId): Promise<(() => Promise<void>) | undefined>;
  /**
   * False where tryLock cannot see other tabs or processes (a page without Web Locks): a pooled session
   * may then be another tab's, so every lease takes a fresh one.
   */
  readonly seesOtherRealms?: boolean;
}

/**
 * Sessions held in this JavaScript realm. Checked before the platform's own lock, so two clients in one
 * tab or process exclude each other even where the platform lock cannot tell them apart.
 */
const heldHere = new Set<SessionId>();

/** Leases the wanted session, else the oldest free one of the pool, else a fresh one (added to the pool). */
export async function leaseSession(locks: SessionLocks, agent: AgentId, request: LeaseRequest): Promise<SessionLease> {
  const { wanted } = request;
  if (wanted !== undefined) {
    // Refused here: the relay would refuse it at the handshake, and a store names files after it.
    if (!isSessionId(wanted) || agentOfSession(wanted) !== agent) {
      throw new TypeError(`session ${String(wanted)} is not a session id of agent ${agent}`);
    }
    const lease = await tryLease(locks, wanted);
    if (!lease) throw new SessionInUseError(wanted);
    return joinedToPool(lease, async () => {
      if (!(await locks.pool(agent)).includes(wanted)) await locks.addToPool(agent, wanted);
    });
  }
  const pooled = locks.seesOtherRealms === false ? [] : await locks.pool(agent);
  for (const session of pooled) {
    const lease = await tryLease(locks, session);
    if (lease) return lease;
  }
  // Locked before it joins the pool, so no other client can take it in between.
  const session = request.fresh();
  const lease = await tryLease(locks, session);
  if (!lease) throw new SessionInUseError(session); // a fresh random id: only if the platform lock is broken
  return joinedToPool(lease, () => locks.addToPool(agent, session));
}

/**
 * `lease` once `addToPool` has put its session in the pool. If that fails (a store that cannot be used), the
 * lease is given up before the failure is passed on: the app fixing its store and asking for the same session
 * again must not find it held by a client that never started.
 */
async function joinedToPool(lease: SessionLease, addToPool: () => Promise<void>): Promise<SessionLease> {
  try {
    await addToPool();
  } catch (error) {
    await lease.release();
    throw error;
  }
  return lease;
}

async function tryLease(locks: SessionLocks, session: SessionId): Promise<SessionLease | undefined> {
  if (heldHere.has(session)) return undefined;
  heldHere.add(session); // claimed before awaiting, so a concurrent lease in this realm skips it
  let unlock: (() => Promise<void>) | undefined;
  try {
    unlock = await locks.tryLock(session);
  } finally {
    if (!unlock) heldHere.delete(session);
  }
  if (!unlock) return undefined;
  let released: Promise<void> | undefined;
  return {
    session,
    release: () =>
      (released ??= unlock().finally(() => {
        heldHere.delete(session);
      })),
  };
}

/** Locks for a store that lives in one realm (MemoryLocalStore): the realm's own registry is the lock. */
export function inRealmLocks(pools: Map<AgentId, SessionId[]>): SessionLocks {
  return {
    pool: async (agent) => [...(pools.get(agent) ?? [])],
    addToPool: async (agent, session) => {
      const pool = pools.get(agent) ?? [];
      if (!pool.includes(session)) pool.push(session);
      pools.set(agent, pool);
    },
    tryLock: async () => async () => {},
  };
}
