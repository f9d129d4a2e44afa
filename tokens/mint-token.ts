// weft/tokens: what an app's backend uses to let its users into a Weft relay. `mintToken` signs the JWT the
// relay checks in the handshake (worker/tokens.ts): HS256 with the relay's shared secret, or EdDSA with an
// Ed25519 private key whose public half the relay holds. WebCrypto only, so it runs on Node 22 and in Workers.
import { sign } from "hono/jwt";
import { MAX_TOKEN_CHARS, ROLES, isAgentId, isGroupId, shortSecretProblem, type AgentId, type Role } from "../protocol/index.ts";
import { ArgumentError } from "../protocol/argument-error.ts";

const CLAIMS = ["agent", "group", "role", "expiresIn", "audience", "issuer"] as const;

export type TokenClaims = {
  /** The agent the token admits (`identity.agent` of the user's client). */
  agent: AgentId | string;
  group: string;
  role: Role;
  /** Seconds from now until the token expires; the relay refuses lifetimes over its maximum (24 h by default). */
  expiresIn: number;
  /** `aud`, when the relay requires one (WEFT_TOKEN_AUDIENCE). */
  audience?: string;
  /** `iss`, when the relay requires one (WEFT_TOKEN_ISSUER). */
  issuer?: string;
};

/**
 * An Ed25519 key as a JWK (RFC 8037): the fields mintToken reads or hands to WebCrypto. It and TokenCryptoKey
 * are declared here rather than as the DOM's JsonWebKey and CryptoKey, so that an app's types need no "dom"
 * lib; WebCrypto's own keys, the DOM's or Node's, fit them.
 */
export type TokenJwk = { kty?: string; crv?: string; x?: string; d?: string; alg?: string; key_ops?: string[]; ext?: boolean };

/** A WebCrypto key (CryptoKey): what mintToken checks of one before it signs with it. */
export type TokenCryptoKey = { readonly type: string; readonly algorithm: { readonly name: string } };

/** An HS256 secret (the relay's WEFT_TOKEN_SECRET, MIN_TOKEN_SECRET_BYTES or more), or an Ed25519 private key (JWK or CryptoKey) for EdDSA. */
export type TokenSigningKey = string | TokenJwk | TokenCryptoKey;

/**
 * Signs a token for `claims`. Rejects with a TypeError or RangeError when a claim or the key is one the relay
 * would refuse (an HS256 secret under MIN_TOKEN_SECRET_BYTES), or when the token would be longer than
 * MAX_TOKEN_CHARS (a long audience or issuer).
 */
export async function mintToken(claims: TokenClaims, secretOrKey: TokenSigningKey, now: number = Date.now()): Promise<string> {
  // What was given is named by its kind, never printed: a whole identity passed by mistake holds its secret key.
  if (claims === null || typeof claims !== "object") throw new ArgumentError(`mintToken: claims must be an object ({ agent, group, role, expiresIn }), not ${kindOf(claims)}`);
  // A misspelt claim (`rol`, `audiance`) would be left out of the token, and the relay's refusal come much later.
  const unknown = Object.keys(claims).filter((name) => !(CLAIMS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new ArgumentError(`mintToken: unknown claim ${unknown.join(", ")} (it takes ${CLAIMS.join(", ")})`);
  if (!isAgentId(claims.agent)) throw new ArgumentError(`agent must be an agent id (ag_...), not ${kindOf(claims.agent)}`);
  if (!isGroupId(claims.group)) throw new ArgumentError(`group must be 1-128 characters of A-Z a-z 0-9 . _ ~ -, not ${kindOf(claims.group)}`);
  if (!ROLES.includes(claims.role)) throw new ArgumentError(`role must be one of ${ROLES.join(", ")}`);
  if (!Number.isSafeInteger(claims.expiresIn) || claims.expiresIn <= 0) throw new RangeError("expiresIn must be a positive whole number of seconds");
  for (const name of ["audience", "issuer"] as const) {
    const value = claims[name];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) throw new ArgumentError(`${name} must be a non-empty string, not ${kindOf(value)}`);
  }
  if (!Number.isFinite(now)) throw new ArgumentError(`now must be a time in milliseconds (Date.now()), not ${kindOf(now)}`);
  // Milliseconds since 1970 have been over 10^12 since 2001: a smaller `now` is seconds, and would mint a token long expired.
  if (now < 1e12) throw new RangeError(`now must be a time in milliseconds (Date.now()), not ${now}: that is in seconds, or before 2001`);
  checkSigningKey(secretOrKey);
  const issuedAt = Math.floor(now / 1000);
  const payload = {
    sub: claims.agent,
    group: claims.group,
    role: claims.role,
    iat: issuedAt,
    exp: issuedAt + claims.expiresIn,
    ...(claims.audience === undefined ? {} : { aud: claims.audience }),
    ...(claims.issuer === undefined ? {} : { iss: claims.issuer }),
  };
  const token =
    typeof secretOrKey === "string"
      ? await sign(payload, secretOrKey, "HS256")
      : // Not a CryptoKey, it is a JWK: checkSigningKey refused anything else.
        await sign(payload, secretOrKey instanceof CryptoKey ? secretOrKey : await importSigningJwk(secretOrKey as TokenJwk), "EdDSA");
  // Its length is known once signed (the header and signature depend on the key, a JWK's kid included): a
  // token longer than any relay and the SDK take is measured here, and never handed out.
  if (token.length > MAX_TOKEN_CHARS) {
    const given = (["audience", "issuer"] as const).flatMap((name) => (claims[name] === undefined ? [] : [`its ${name} has ${claims[name].length} characters`]));
    throw new RangeError(`the token would have ${token.length} characters, over the ${MAX_TOKEN_CHARS} a relay takes (MAX_TOKEN_CHARS)${given.length > 0 ? `: ${given.join(", ")}` : ""}`);
  }
  return token;
}

/** The private key of an Ed25519 JWK; one WebCrypto cannot import (a `d` or `x` that is not its key) is a TypeError naming that. */
async function importSigningJwk(jwk: TokenJwk): Promise<CryptoKey> {
  try {
    // checkSigningKey saw its kty (which Workers' JsonWebKey requires): OKP.
    return await crypto.subtle.importKey("jwk", withoutAlg(jwk) as JsonWebKey, { name: "Ed25519" }, false, ["sign"]);
  } catch (error) {
    throw new ArgumentError(`the signing JWK is not a usable Ed25519 private key (${error instanceof Error ? error.message : String(error)})`);
  }
}

export type TokenKeyPair = {
  /** Keep on the app's backend (a secret); pass to `mintToken`. */
  privateKey: TokenJwk;
  /** Give the relay: `WEFT_TOKEN_PUBLIC_KEY` is `JSON.stringify(publicKey)`. */
  publicKey: TokenJwk;
};

/** A new Ed25519 key pair for EdDSA tokens, as JWKs. */
export async function generateTokenKeys(): Promise<TokenKeyPair> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const [privateKey, publicKey] = await Promise.all([crypto.subtle.exportKey("jwk", pair.privateKey), crypto.subtle.exportKey("jwk", pair.publicKey)]);
  return { privateKey: withoutAlg(privateKey as JsonWebKey), publicKey: withoutAlg(publicKey as JsonWebKey) };
}

/** A key the relay could never check: an empty or short secret, a JWK's JSON text taken for a secret, or not a key at all. */
function checkSigningKey(key: unknown): void {
  if (typeof key === "string") {
    if (key.length === 0) throw new ArgumentError("the HS256 secret is empty");
    // A JWK's JSON text would be taken for an HS256 secret, and every token refused as forged.
    if (/^\s*\{[\s\S]*"kty"/.test(key)) throw new ArgumentError("the key is a JWK's JSON text: pass the JWK object (JSON.parse it), or the HS256 secret itself");
    // The relay refuses such a secret too (worker/config.ts): a token signed with it gives it away to anyone who tries keys.
    const short = shortSecretProblem("the HS256 secret", key);
    if (short) throw new ArgumentError(short);
    return;
  }
  if (key instanceof CryptoKey) {
    if (key.type !== "private" || key.algorithm.name !== "Ed25519") throw new ArgumentError(`the signing key must be an Ed25519 private key, not a ${key.type} ${key.algorithm.name} key`);
    return;
  }
  if (key === null || typeof key !== "object" || Array.isArray(key) || ArrayBuffer.isView(key)) throw new ArgumentError(`the signing key must be an HS256 secret, an Ed25519 private JWK or a CryptoKey, not ${kindOf(key)}`);
  const jwk = key as TokenJwk;
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") throw new ArgumentError("the signing JWK must be an Ed25519 key (kty OKP, crv Ed25519)");
  if (typeof jwk.d !== "string") throw new ArgumentError("the signing JWK is a public key: mintToken needs the private key (generateTokenKeys().privateKey)");
}

/** WebCrypto labels Ed25519 JWKs `alg: "Ed25519"`, which hono's JWT helpers do not know (they say "EdDSA"). */
function withoutAlg({ alg: _alg, key_ops: _keyOps, ...jwk }: TokenJwk): TokenJwk {
  return jwk;
}

/** What a wrong claim is, without its content: `a string of 12 characters`, `an object`, `undefined`. */
function kindOf(value: unknown): string {
  if (typeof value === "string") return `a string of ${value.length} characters`;
  if (typeof value === "number") return String(value);
  if (value === null || value === undefined) return String(value);
  return typeof value === "object" ? (Array.isArray(value) ? "an array" : "an object") : `a ${typeof value}`;
}
