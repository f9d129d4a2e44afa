// Verifying received session chains: the newest checkpoint signature heard per session, checked against
// the chain held, says how much of that session counts. Used today for the membership log only
// (verifiesChains); verifying every document's chains later means widening that one predicate.
import { GENESIS_HASH, MEMBERS_KIND, chainHash, verifyCheckpoint, type DocHeader, type DocId, type SessionId, type Transaction } from "../protocol/index.ts";

/** Which documents' received chains are verified before they count. */
export const verifiesChains = (header: DocHeader | undefined): boolean => header?.kind === MEMBERS_KIND;

export class ChainChecks {
  /** The newest checkpoint signature received per session. */
  readonly #checkpoints = new Map<SessionId, { count: number; signature: string }>();
  /** How many transactions of each session are verified (or were restored: only verified ones are saved). */
  readonly #verified = new Map<SessionId, number>();

  /** A chunk ending at `count` carried the writer's signature. */
  heard(session: SessionId, count: number, signature: string): void {
    if (count > (this.#checkpoints.get(session)?.count ?? 0)) this.#checkpoints.set(session, { count, signature });
  }

  /** Transactions read back from the local store, which holds only verified ones. */
  trust(session: SessionId, count: number): void {
    this.#verified.set(session, Math.max(this.#verified.get(session) ?? 0, count));
  }

  verifiedCount(session: SessionId): number {
    return this.#verified.get(session) ?? 0;
  }

  /** Checks each session's newest checkpoint against `logOf(session)`; returns the sessions whose checkpoint failed. */
  async verify(doc: DocId, logOf: (session: SessionId) => readonly Transaction[], skip: SessionId): Promise<SessionId[]> {
    const failed: SessionId[] = [];
    for (const [session, checkpoint] of [...this.#checkpoints]) {
      if (session === skip || checkpoint.count <= this.verifiedCount(session)) continue;
      const log = logOf(session);
      if (log.length < checkpoint.count) continue;
      const lastHash = chainHash(GENESIS_HASH, log.slice(0, checkpoint.count));
      if (await verifyCheckpoint(checkpoint.signature, doc, session, checkpoint.count, lastHash)) this.trust(session, checkpoint.count);
      else {
        this.#checkpoints.delete(session);
        failed.push(session);
      }
    }
    return failed;
  }
}
