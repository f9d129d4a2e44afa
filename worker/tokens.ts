// App-issued tokens: an app's backend that already knows its users mints a JWT naming the agent, the group
// and a role, signed with a key the relay is configured with (a Worker secret). The relay checks it in
// the handshake; an expired token gets its own error code so the SDK asks the app for a fresh one.
import * as v from "valibot";
import { verify } from "hono/jwt";
import { JwtTokenExpired } from "hono/utils/jwt/types";
import { ROLES, agentIdSchema, groupIdSchema } from "../protocol/index.ts";
import type { TokenVerifier } from "./core/relay.ts";

const claimsSchema = v.object({
  sub: agentIdSchema,
  group: groupIdSchema,
  role: v.picklist(ROLES),
  exp: v.pipe(v.number(), v.safeInteger()),
});

export type TokenKeys = {
  /** Shared secret for HS256 tokens. */
  WEFT_TOKEN_SECRET?: string;
  /** Public key (JWK JSON, OKP Ed25519) for EdDSA tokens. */
  WEFT_TOKEN_PUBLIC_KEY?: string;
};

/**
 * The configured Ed25519 public key. WebCrypto now exports such keys with `alg: "Ed25519"`, a name hono's
 * JWT helpers do not know (they say "EdDSA"); the algorithm is fixed here anyway, so the field is dropped.
 */
function publicJwk(json: string): JsonWebKey {
  const { alg: _alg, ...jwk } = JSON.parse(json) as JsonWebKey;
  return jwk;
}

/** The verifier for the configured key, or undefined when the relay accepts no tokens. */
export function tokenVerifier(keys: TokenKeys): TokenVerifier | undefined {
  const key = keys.WEFT_TOKEN_PUBLIC_KEY
    ? { key: publicJwk(keys.WEFT_TOKEN_PUBLIC_KEY), alg: "EdDSA" as const }
    : keys.WEFT_TOKEN_SECRET
      ? { key: keys.WEFT_TOKEN_SECRET, alg: "HS256" as const }
      : undefined;
  if (!key) return undefined;
  return async (token) => {
    let payload: unknown;
    try {
      payload = await verify(token, key.key, key.alg);
    } catch (error) {
      if (error instanceof JwtTokenExpired) return { ok: false, expired: true, reason: "the token has expired" };
      return { ok: false, expired: false, reason: `the token does not verify: ${(error as Error).name}` };
    }
    const claims = v.safeParse(claimsSchema, payload);
    if (!claims.success) return { ok: false, expired: false, reason: "the token lacks sub (agent id), group, role or exp" };
    return { ok: true, agent: claims.output.sub, group: claims.output.group, role: claims.output.role, expiresAt: claims.output.exp * 1000 };
  };
}
