// Who a client is: an Ed25519 key pair. The agent id is the public key, so the relay needs no registry.
import {
  agentIdOf,
  fromBase64Url,
  generateSecretKey,
  newSessionId,
  publicKeyOf,
  toBase64Url,
  type AgentId,
  type SessionId,
} from "../protocol/index.ts";
import { checkIdentity, describe } from "./local-checks.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

export type Identity = { readonly agent: AgentId; readonly secretKey: Uint8Array };

/** A new random identity. Keep `exportIdentity(identity)` somewhere safe to be the same agent later. */
export function createIdentity(): Identity {
  const secretKey = generateSecretKey();
  return { agent: agentIdOf(publicKeyOf(secretKey)), secretKey };
}

/** The identity whose secret key is this base64url string (from `exportIdentity`). */
export function importIdentity(secret: string): Identity {
  if (typeof secret !== "string") throw new ArgumentError(`importIdentity: expected the string exportIdentity gave, not ${describe(secret)}`);
  if (secret.trim() !== secret) throw new ArgumentError("importIdentity: the string has whitespace at its start or end (a trailing newline, from a file written with echo?); trim it");
  const secretKey = fromBase64Url(secret);
  if (!secretKey || secretKey.length !== 32) throw new ArgumentError("importIdentity: expected 32 bytes of base64url");
  return { agent: agentIdOf(publicKeyOf(secretKey)), secretKey };
}

export function exportIdentity(identity: Identity): string {
  checkIdentity(identity, "exportIdentity: identity");
  return toBase64Url(identity.secretKey);
}

export const newSession = (identity: Identity): SessionId => newSessionId(identity.agent);
