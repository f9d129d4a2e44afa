// App-issued tokens: an app's backend that already knows its users mints a JWT naming the agent, the group
// and a role, signed with a key the relay is configured with (worker/config.ts). The relay checks it in the
// handshake. The signature is checked first: only a token that verifies can be told apart as expired, so a
// forged token is `unauthorized`, and an honest expired one `token_expired` (the SDK then asks for a fresh one).
// The times a token claims are judged with TOKEN_CLOCK_LEEWAY_SECONDS to spare for its backend's clock.
import * as v from "valibot";
import { verify } from "hono/jwt";
import { ROLES, TOKEN_CLOCK_LEEWAY_SECONDS, agentIdSchema, groupIdSchema, jwtShapeProblem } from "../protocol/index.ts";
import type { RelayConfig, TokenKey, TokenPolicy } from "./config.ts";
import type { TokenVerifier } from "./core/relay.ts";
import type { TokenResult } from "./core/effects.ts";

/** RFC 7519's NumericDate: seconds since 1970, which may have a fraction (some libraries mint `Date.now() / 1000`). */
const seconds = v.pipe(v.number(), v.finite());

const claimsSchema = v.object({
  sub: agentIdSchema,
  group: groupIdSchema,
  role: v.picklist(ROLES),
  exp: seconds,
  iat: v.optional(seconds),
  nbf: v.optional(seconds),
  aud: v.optional(v.union([v.string(), v.array(v.string())])),
  iss: v.optional(v.string()),
});

const refused = (reason: string): TokenResult => ({ ok: false, code: "unauthorized", reason });

/**
 * The verifier for the configured key. Without a key every token is refused; with a key that cannot be
 * used, or any other setting it cannot use (config.problems says which), every token gets `internal`, the same
 * answer each time.
 */
export function tokenVerifier(config: RelayConfig, clock: () => number = Date.now): TokenVerifier {
  const policy = config.tokens;
  if (!policy) {
    const answer: TokenResult = config.access.tokensConfigured
      ? { ok: false, code: "internal", reason: "the relay's configuration has a problem, so no token is checked; its operator has been told" }
      : refused("this relay is not configured to accept tokens");
    return async () => answer;
  }
  return (token) => checkToken(token, policy, clock());
}

/** The token's payload if its signature verifies with `key`; else why not. */
async function verified(token: string, key: TokenKey): Promise<{ payload: unknown } | { error: Error }> {
  try {
    // Only the header and signature here; the claims are judged after, once the signature held.
    return { payload: await verify(token, key.alg === "HS256" ? key.secret : key.publicKey, { alg: key.alg, exp: false, nbf: false, iat: false }) };
  } catch (error) {
    return { error: error as Error };
  }
}

/** Why a token that has a JWT's shape still did not verify, in words for the app's developer. */
function notVerifiedReason(error: Error): string {
  // hono's name for parts that do not decode (once the shape held: a header or claims that are not JSON).
  if (error.name === "JwtTokenInvalid") return "the token is not a JWT: its parts do not decode as a JSON header, JSON claims and a signature";
  if (error.name === "JwtTokenSignatureMismatched") return "the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed";
  if (error.name.startsWith("JwtAlgorithm")) return "the token does not verify: it names another algorithm than the relay's key takes (HS256 for a secret, EdDSA for an Ed25519 key)";
  return `the token does not verify: ${error.name}`;
}

async function checkToken(token: string, policy: TokenPolicy, nowMs: number): Promise<TokenResult> {
  const malformed = jwtShapeProblem(token);
  if (malformed) return refused(malformed);
  // The current key first; during a rotation, the keys tokens were signed with until now. A refusal names
  // the current key's reason, unless only another key takes the token's algorithm: then that key's (a token
  // of the previous key's kind whose signature does not verify is refused for that, not for its algorithm).
  const errors: Error[] = [];
  let payload: unknown;
  for (const key of [policy.key, ...(policy.previousKeys ?? [])]) {
    const result = await verified(token, key);
    if (!("error" in result)) {
      payload = result.payload;
      break;
    }
    errors.push(result.error);
  }
  if (payload === undefined) return refused(notVerifiedReason(errors.find((error) => !error.name.startsWith("JwtAlgorithm")) ?? errors[0]!));
  const parsed = v.safeParse(claimsSchema, payload);
  if (!parsed.success) return refused("the token lacks sub (agent id), group, role or exp, or has a malformed claim");
  const claims = parsed.output;
  const now = nowMs / 1000;
  if (policy.issuer !== undefined && claims.iss !== policy.issuer) return refused(`the token's issuer must be ${policy.issuer}`);
  if (policy.audience !== undefined && ![claims.aud ?? []].flat().includes(policy.audience)) {
    return refused(`the token's audience must include ${policy.audience}`);
  }
  const ahead = now + TOKEN_CLOCK_LEEWAY_SECONDS;
  if (claims.nbf !== undefined && claims.nbf > ahead) return refused("the token is not valid yet (nbf)");
  if (claims.iat !== undefined && claims.iat > ahead) return refused("the token was issued in the future (iat)");
  if (claims.iat !== undefined && claims.exp - claims.iat > policy.maxLifetimeSeconds) {
    return refused(`the token lives ${claims.exp - claims.iat} s; this relay accepts at most ${policy.maxLifetimeSeconds} s`);
  }
  // Without iat, its lifetime is counted from the relay's now: a token minted at the longest lifetime by a
  // clock a little ahead is not refused for it.
  if (claims.iat === undefined && claims.exp - ahead > policy.maxLifetimeSeconds) {
    return refused(`the token expires ${Math.round(claims.exp - now)} s from now; this relay accepts at most ${policy.maxLifetimeSeconds} s`);
  }
  if (claims.exp <= now) return { ok: false, code: "token_expired", reason: "the token has expired" };
  return { ok: true, agent: claims.sub, group: claims.group, role: claims.role, expiresAt: claims.exp * 1000 };
}
