// What a local store gives back, checked once before the client takes any of it in. A file changed on the
// disk after it was saved (a flipped bit, a stray null) may still parse, and so may a store of the app's own
// with a bug: whatever of a document is not in the shape this SDK saved is left out here, and told once.
// Nothing of it then reaches the relay (a garbled session id in a load frame made the relay refuse every
// resume of the group) or throws out of open() and append(). Every read of every store passes through here
// (client.ts: LeaseholderStore.loadGroup). What this agent's own sessions hold that is a transaction in
// shape but one the relay would refuse (an older SDK let data of another type, a lone surrogate or too
// large a transaction into the store) is not damage: it is held back and surfaced (restoreDoc).
import { agentOfSession, fromBase64Url, isSessionId, type AgentId, type SessionId } from "../protocol/index.ts";
import { isTransactionData } from "./local-checks.ts";
import { isKnownState, type StoredDoc, type StrandedRun } from "./storage/local-store.ts";

/**
 * `docs`, as the client of `agent` reads them, less what is damaged in them, each part left out told to
 * `onDamage`: a document whose snapshot is damaged (its sessions' logs start where the snapshot says), and a
 * session's log from its first entry that is not a transaction on (a log keeps no holes), or whole under a
 * key that is not a session id. What the relay was last heard to hold is no write, only a head start on its
 * answer: one that names no session ids goes unsaid. Runs kept aside past a hole (StoredDoc.stranded) are
 * checked as logs are, a session's whole. The store's own objects are never changed (a MemoryLocalStore hands
 * out what it holds).
 */
export function soundStoredDocs(docs: StoredDoc[], agent: AgentId, onDamage?: (problem: string) => void): StoredDoc[] {
  const sound: StoredDoc[] = [];
  for (const doc of docs) {
    const { snapshot: held, relayHeld } = doc;
    if (held && !(isSessionId(held.snapshot?.session) && isTransactionData(held.snapshot.data) && isRecordOf(held.snapshot.covers, isCount) && isRecordOf(held.bases, isCount) && isRecordOf(held.baseHashes, isHash))) {
      onDamage?.(`${doc.id}: its snapshot is damaged, so the document is left out`);
      continue;
    }
    const sessions = { ...doc.sessions };
    for (const [session, log] of Object.entries(sessions) as [SessionId, unknown[]][]) {
      const own = agentOfSession(session) === agent;
      const bad = isSessionId(session) && Array.isArray(log) ? log.findIndex((transaction) => !isTransaction(transaction, own)) : 0;
      if (bad < 0) continue;
      onDamage?.(`${doc.id}: session ${JSON.stringify(session)}: its transactions from ${(held?.bases[session] ?? 0) + bad} on are damaged, and left out`);
      if (bad > 0) sessions[session] = log.slice(0, bad) as StoredDoc["sessions"][SessionId];
      else delete sessions[session];
    }
    const stranded: Record<SessionId, StrandedRun[]> = {};
    for (const [session, runs] of Object.entries(doc.stranded ?? {}) as [SessionId, unknown][]) {
      const own = agentOfSession(session) === agent;
      const sound = isSessionId(session) && Array.isArray(runs) && runs.every((run: Partial<StrandedRun>) => isCount(run?.after) && Array.isArray(run.transactions) && run.transactions.every((transaction) => isTransaction(transaction, own)));
      if (sound) stranded[session] = runs.map((run: StrandedRun) => ({ after: run.after, transactions: [...run.transactions] }));
      else onDamage?.(`${doc.id}: session ${JSON.stringify(session)}: its transactions kept aside past a hole are damaged, and left out`);
    }
    sound.push({ ...doc, sessions, relayHeld: isKnownState(relayHeld) && isRecordOf(relayHeld.sessions, isCount) ? relayHeld : undefined, ...(Object.keys(stranded).length > 0 ? { stranded } : {}) });
  }
  return sound;
}

/**
 * Whether a value read back as a transaction is one. Of this agent (`own`), only what is not even an object
 * is damage (no SDK stored that); what else the relay would refuse is held back (restoreDoc). Another
 * agent's came from the relay, which checked its time and data.
 */
function isTransaction(value: unknown, own: boolean): boolean {
  const { at, data } = (value ?? {}) as { at?: unknown; data?: unknown };
  return typeof value === "object" && value !== null && (own || (isTransactionData(data) && isCount(at)));
}

/** An object keyed by session ids, each value `isValue`. */
const isRecordOf = (value: unknown, isValue: (each: unknown) => boolean): boolean =>
  typeof value === "object" && value !== null && Object.entries(value).every(([session, each]) => isSessionId(session) && isValue(each));

const isCount = (count: unknown): boolean => Number.isSafeInteger(count) && (count as number) >= 0;

const isHash = (hash: unknown): boolean => typeof hash === "string" && fromBase64Url(hash)?.length === 32;
