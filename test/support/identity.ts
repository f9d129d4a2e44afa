// Test identities: deterministic keys, sessions, and signed batches, built only from the public protocol.
import {
  GENESIS_HASH,
  PROTOCOL_VERSION,
  agentIdOf,
  chainHash,
  docIdOf,
  helloMessage,
  publicKeyOf,
  sign,
  signCheckpoint,
  toBase64Url,
  type AgentId,
  type DocHeader,
  type DocId,
  type SessionId,
  type Transaction,
} from "../../protocol/index.ts";

export type TestAgent = { secretKey: Uint8Array; agent: AgentId; session: SessionId };

/** An agent whose secret key is 32 bytes of `seed`, with session `<agent>~<name>`. */
export function testAgent(seed: number, sessionName = "session-one"): TestAgent {
  const secretKey = new Uint8Array(32).fill(seed);
  const agent = agentIdOf(publicKeyOf(secretKey));
  return { secretKey, agent, session: `${agent}~${sessionName}` };
}

export function helloFrame(who: TestAgent, group: string, nonce: string) {
  const signature = toBase64Url(sign(helloMessage(group, who.session, nonce), who.secretKey));
  return { type: "hello" as const, v: PROTOCOL_VERSION, agent: who.agent, session: who.session, group, signature };
}

export function testHeader(who: TestAgent, group: string, nonce = "nonce-0000"): { id: DocId; header: DocHeader } {
  const header: DocHeader = { group, kind: "json", creator: who.agent, createdAt: 1_700_000_000_000, nonce, meta: { title: "test" } };
  return { id: docIdOf(header), header };
}

export function transactions(count: number, prefix = "tx", at = 1_700_000_000_000): Transaction[] {
  return Array.from({ length: count }, (_, i) => ({ at: at + i, data: `${prefix}-${i}` }));
}

/** A signed chunk appending `txs` after `after` transactions whose chain ends at `previousHash`. */
export function signedChunk(who: TestAgent, doc: DocId, after: number, txs: Transaction[], previousHash = GENESIS_HASH) {
  const lastHash = chainHash(previousHash, txs);
  return { chunk: { after, transactions: txs, signature: signCheckpoint(who.secretKey, doc, who.session, after + txs.length, lastHash) }, lastHash };
}
