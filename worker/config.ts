// The relay's keys and policies, in one place: the Worker and every group's Durable Object read them from
// here. `configFromEnv` reads the Worker's bindings (the default); a library user may build a RelayConfig
// in code instead. Reading never throws: a value that cannot be used is named in `problems`, and the relay
// then fails closed (no token is checked, so no one gets in by token or without one).
import { shortSecretProblem } from "../protocol/index.ts";

/** Longest lifetime (exp − iat, or exp − now without iat) a token may claim, unless configured otherwise. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** How long a stored snapshot is kept before the transactions it covers are pruned, unless configured otherwise: 7 days. */
export const DEFAULT_SNAPSHOT_RETENTION_SECONDS = 7 * 24 * 60 * 60;

/** The key app tokens are signed with: a shared HS256 secret, or an Ed25519 public key for EdDSA. */
export type TokenKey = { alg: "HS256"; secret: string } | { alg: "EdDSA"; publicKey: JsonWebKey };

/** How app tokens are checked. */
export type TokenPolicy = {
  key: TokenKey;
  /**
   * Keys tokens may still be signed with while the app's backend moves to `key` (a rotation): a token that
   * verifies with any of them is checked like one signed with `key`.
   */
  previousKeys?: TokenKey[];
  /** When set, a token's `aud` must be (or include) this value. */
  audience?: string;
  /** When set, a token's `iss` must be this value. */
  issuer?: string;
  /** A token whose lifetime is longer is refused, so a leaked one cannot live for ever. */
  maxLifetimeSeconds: number;
};

/**
 * Who may found a group, that is create its membership log and become its first admin:
 * - `anyone`: any peer that may write to the open group;
 * - `token-admins`: only a peer whose app token grants `admin` for the group.
 */
export type Founders = "anyone" | "token-admins";

/** What the relay core enforces at the handshake and when a membership log is created. */
export type AccessPolicy = {
  /** Whether a hello without a token is admitted by its signature alone (open groups, membership logs). */
  openGroups: boolean;
  founders: Founders;
  /** Whether a token key was configured (even a broken one): then a hello's token is checked, never ignored. */
  tokensConfigured: boolean;
};

/** A relay without a token key: every agent with a key pair gets in, and anyone may found a group. */
export const OPEN_ACCESS: AccessPolicy = { openGroups: true, founders: "anyone", tokensConfigured: false };

export type RelayConfig = {
  /** How tokens are checked; undefined when no key is configured or the configured key cannot be used. */
  tokens: TokenPolicy | undefined;
  access: AccessPolicy;
  /** Why a configured value cannot be used; the relay logs each once and fails closed. */
  problems: string[];
  /**
   * Seconds after a snapshot is stored until the transactions it covers are pruned (0: at once); Infinity:
   * never. Unset: DEFAULT_SNAPSHOT_RETENTION_SECONDS. History before the retention horizon is gone for good.
   */
  snapshotRetentionSeconds?: number;
};

/**
 * The Worker bindings `configFromEnv` reads; all optional, all strings (vars or secrets). A token key given
 * as undefined (an app passing a binding of its own that does not exist) fails the relay closed.
 */
export type ConfigEnv = {
  /** Shared secret for HS256 tokens (`wrangler secret put WEFT_TOKEN_SECRET`), of MIN_TOKEN_SECRET_BYTES or more. */
  WEFT_TOKEN_SECRET?: string | undefined;
  /** Ed25519 public key (JWK JSON, kty OKP, crv Ed25519) for EdDSA tokens; set it or the secret, not both. */
  WEFT_TOKEN_PUBLIC_KEY?: string | undefined;
  /** During a key rotation, the secret the app's backend signed with until now: tokens signed with it still verify. */
  WEFT_TOKEN_SECRET_PREVIOUS?: string | undefined;
  /** During a key rotation, the public key tokens were checked with until now: tokens signed with its private key still verify. */
  WEFT_TOKEN_PUBLIC_KEY_PREVIOUS?: string | undefined;
  /** Required `aud` of every token. */
  WEFT_TOKEN_AUDIENCE?: string | undefined;
  /** Required `iss` of every token. */
  WEFT_TOKEN_ISSUER?: string | undefined;
  /** Longest token lifetime in seconds (default DEFAULT_MAX_TOKEN_LIFETIME_SECONDS). */
  WEFT_TOKEN_MAX_LIFETIME_SECONDS?: string | undefined;
  /** "true" admits hellos without a token although a token key is configured; "false" refuses them. */
  WEFT_OPEN_GROUPS?: string | undefined;
  /** "anyone" or "token-admins" (see Founders). */
  WEFT_FOUNDERS?: string | undefined;
  /** Seconds a snapshot is kept before what it covers is pruned: a whole number (0: at once) or "never" (default 7 days). */
  WEFT_SNAPSHOT_RETENTION_SECONDS?: string | undefined;
};

/** Every `WEFT_*` binding the relay reads. Another (a misspelt one, say) fails the relay closed: no one gets in. */
export const RELAY_VARS: readonly (keyof ConfigEnv | "WEFT_SQL_STATS")[] = [
  "WEFT_TOKEN_SECRET",
  "WEFT_TOKEN_PUBLIC_KEY",
  "WEFT_TOKEN_SECRET_PREVIOUS",
  "WEFT_TOKEN_PUBLIC_KEY_PREVIOUS",
  "WEFT_TOKEN_AUDIENCE",
  "WEFT_TOKEN_ISSUER",
  "WEFT_TOKEN_MAX_LIFETIME_SECONDS",
  "WEFT_OPEN_GROUPS",
  "WEFT_FOUNDERS",
  "WEFT_SNAPSHOT_RETENTION_SECONDS",
  "WEFT_SQL_STATS",
];

/**
 * The relay's configuration from Worker bindings. Without a token key the relay is open: every agent with
 * a key pair gets in, and groups close themselves with a membership log. Once a key is configured the
 * secure choice is the default: every hello needs a valid token, and only a token admin founds a group.
 */
export function configFromEnv(bindings: ConfigEnv): RelayConfig {
  const env = asText(bindings);
  const problems: string[] = [];
  // A setting the relay does not read is likely one it should (WEFT_TOKEN_SECRETS for WEFT_TOKEN_SECRET): the
  // relay would run open where its operator meant it locked. It fails closed instead, and says why.
  const unknown = Object.keys(env).filter((name) => name.toUpperCase().startsWith("WEFT_") && !(RELAY_VARS as readonly string[]).includes(name));
  for (const name of unknown) problems.push(`${name} is not a setting the relay reads (${RELAY_VARS.join(", ")}); no one gets in until it is removed or corrected`);
  const current = unknown.length > 0 ? undefined : tokenKeyOf(env, "", problems);
  // During a rotation, the key tokens were signed with until now. One that cannot be used, or one without a
  // current key, fails closed too: the rotation is not what its operator meant.
  const previousSet = given(env, "WEFT_TOKEN_SECRET_PREVIOUS") || given(env, "WEFT_TOKEN_PUBLIC_KEY_PREVIOUS");
  const currentSet = given(env, "WEFT_TOKEN_SECRET") || given(env, "WEFT_TOKEN_PUBLIC_KEY");
  if (previousSet && !currentSet) problems.push("a previous token key is set without a current one (WEFT_TOKEN_SECRET or WEFT_TOKEN_PUBLIC_KEY); tokens cannot be checked");
  const previous = previousSet && currentSet ? tokenKeyOf(env, "_PREVIOUS", problems) : undefined;
  const key = previousSet && !previous ? undefined : current;
  // A key var that is there but empty or undefined (an app's `configFromEnv({ WEFT_TOKEN_SECRET: env.MY_SECRET })`
  // whose secret was never put) is a key that cannot be used: closed, not open.
  const tokensConfigured = currentSet || previousSet || unknown.length > 0;
  const maxLifetimeSeconds = maxLifetimeOf(env.WEFT_TOKEN_MAX_LIFETIME_SECONDS, problems);
  // A lifetime the relay cannot read fails closed, like a key it cannot use: longer tokens are not let in instead.
  const tokens: TokenPolicy | undefined = key && maxLifetimeSeconds !== undefined
    ? {
        key,
        ...(previous ? { previousKeys: [previous] } : {}),
        maxLifetimeSeconds,
        ...(env.WEFT_TOKEN_AUDIENCE ? { audience: env.WEFT_TOKEN_AUDIENCE } : {}),
        ...(env.WEFT_TOKEN_ISSUER ? { issuer: env.WEFT_TOKEN_ISSUER } : {}),
      }
    : undefined;
  const openGroups = unknown.length === 0 && flag(env.WEFT_OPEN_GROUPS, !tokensConfigured, "WEFT_OPEN_GROUPS", problems);
  const founders = foundersOf(env.WEFT_FOUNDERS, tokensConfigured ? "token-admins" : "anyone", problems);
  const snapshotRetentionSeconds = retentionOf(env.WEFT_SNAPSHOT_RETENTION_SECONDS, problems);
  const config: RelayConfig = { tokens, access: { openGroups, founders, tokensConfigured }, problems, snapshotRetentionSeconds };
  // Any problem fails the relay closed, as its health check says: a relay running on a guess at what its
  // operator meant (open groups for "yes", say) would look like a working one.
  return problems.length > 0 ? failedClosed(config, problems) : config;
}

/** `config` with `problems`, closed: no token is checked, and no hello gets in without one. */
function failedClosed(config: RelayConfig, problems: string[]): RelayConfig {
  return { ...config, tokens: undefined, access: { openGroups: false, founders: "token-admins", tokensConfigured: true }, problems };
}

/**
 * The `WEFT_*` vars as text. wrangler hands a var over as its config wrote it: `WEFT_OPEN_GROUPS = true` in
 * wrangler.toml arrives as a boolean, a JWK written as an object in wrangler.jsonc as an object. Each is read
 * as the text it stands for ("true", the JWK's JSON), as a var written in quotes would be.
 */
function asText(bindings: ConfigEnv): ConfigEnv {
  const env: Record<string, unknown> = { ...bindings };
  for (const [name, value] of Object.entries(env)) {
    if (!name.toUpperCase().startsWith("WEFT_")) continue;
    if (typeof value === "boolean" || typeof value === "number") env[name] = String(value);
    else if (typeof value === "object" && value !== null) env[name] = JSON.stringify(value);
  }
  return env as ConfigEnv;
}

/** The snapshot retention: a value that cannot be used prunes nothing (history is kept, the safe side). */
function retentionOf(value: string | undefined, problems: string[]): number {
  if (value === undefined || value === "") return DEFAULT_SNAPSHOT_RETENTION_SECONDS;
  if (value === "never") return Infinity;
  const seconds = Number(value);
  if (/^\d+$/.test(value) && Number.isSafeInteger(seconds)) return seconds;
  problems.push(`WEFT_SNAPSHOT_RETENTION_SECONDS is "${value}", expected a whole number of seconds or "never"; no one gets in until it is corrected, and nothing is pruned`);
  return Infinity;
}

/** Why an HS256 secret is too short to use, and what that costs the relay; undefined if it is not. */
function shortSecretProblemOfRelay(name: string, secret: string): string | undefined {
  const problem = shortSecretProblem(name, secret);
  return problem && `${problem}; tokens cannot be checked`;
}

/**
 * The config as the relay uses it: one an app built in code with a short HS256 secret (current or previous)
 * fails closed as configFromEnv's would (no token checked, no hello let in without one, open groups
 * included), and says why in `problems`.
 */
export function withKeysChecked(config: RelayConfig): RelayConfig {
  const keys = config.tokens ? [config.tokens.key, ...(config.tokens.previousKeys ?? [])] : [];
  const short = keys.flatMap((key, index) => {
    const problem = key.alg === "HS256" ? shortSecretProblemOfRelay(index === 0 ? "the HS256 secret of RelayConfig.tokens" : "a previous HS256 secret of RelayConfig.tokens", String(key.secret)) : undefined;
    return problem ? [problem] : [];
  });
  if (short.length === 0) return config;
  return failedClosed(config, [...config.problems, ...short]);
}

const logged = new Set<string>();

/** Logs `line` once per isolate, not on every event (a health check asked every minute, say). */
export function logOnce(line: string): void {
  if (logged.has(line)) return;
  logged.add(line);
  console.error(line);
}

/** Logs each configuration problem once per isolate, not on every event. */
export function reportProblems(config: RelayConfig): void {
  for (const problem of config.problems) logOnce(`weft: configuration: ${problem}`);
}

/** The key of WEFT_TOKEN_PUBLIC_KEY or WEFT_TOKEN_SECRET, or of their `_PREVIOUS` twins. */
function tokenKeyOf(env: ConfigEnv, suffix: "" | "_PREVIOUS", problems: string[]): TokenKey | undefined {
  const publicKeyName = `WEFT_TOKEN_PUBLIC_KEY${suffix}` as const;
  const secretName = `WEFT_TOKEN_SECRET${suffix}` as const;
  const publicKeyJson = env[publicKeyName];
  // Both kinds of key in one slot: the relay would check with the public key alone, and tokens signed with
  // the secret would be refused as forged, the operator told nothing (a rotation across kinds, meant with
  // the old key in its _PREVIOUS var, say). Closed, and said.
  if (publicKeyJson && env[secretName]) {
    problems.push(`both ${publicKeyName} and ${secretName} are set, and a relay checks tokens with one key: unset one (during a rotation the old key goes in its _PREVIOUS var); tokens cannot be checked`);
    return undefined;
  }
  if (publicKeyJson) {
    const publicKey = ed25519PublicJwk(publicKeyJson);
    if (typeof publicKey === "string") {
      problems.push(`${publicKeyName} ${publicKey}; tokens cannot be checked`);
      return undefined;
    }
    return { alg: "EdDSA", publicKey };
  }
  const secret = env[secretName];
  if (secret) {
    const short = shortSecretProblemOfRelay(secretName, secret);
    if (!short) return { alg: "HS256", secret };
    problems.push(short);
    return undefined;
  }
  for (const name of [publicKeyName, secretName]) {
    if (!given(env, name)) continue;
    const what = env[name] === undefined
      ? `given as undefined: the binding passed for it (configFromEnv({ ${name}: env.YOUR_SECRET }) in an app's Worker, say) does not exist, or its secret was never put`
      : "set but empty";
    problems.push(`${name} is ${what}; tokens cannot be checked`);
  }
  return undefined;
}

/**
 * Whether a setting is given at all: present in the object, even as undefined. An app passing its own
 * binding (`{ WEFT_TOKEN_SECRET: env.MY_SECRET }`) whose secret was never put gives undefined: it meant
 * tokens, so that fails closed rather than running open.
 */
function given(env: ConfigEnv, name: keyof ConfigEnv): boolean {
  return name in env;
}

/**
 * The configured Ed25519 public key, or why it is unusable. WebCrypto exports such keys with
 * `alg: "Ed25519"`, a name hono's JWT helpers do not know (they say "EdDSA"); the algorithm is fixed
 * here anyway, so the field is dropped.
 */
function ed25519PublicJwk(json: string): JsonWebKey | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return "is not JSON (expected a JWK)";
  }
  if (typeof parsed !== "object" || parsed === null) return "is not a JWK object";
  const { alg: _alg, ...jwk } = parsed as JsonWebKey;
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") return 'is not an Ed25519 public key (kty "OKP", crv "Ed25519")';
  if (typeof jwk.x !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(jwk.x)) return "has no 32-byte base64url x";
  if (jwk.d !== undefined) return "holds a private key (d): configure the public key only";
  return jwk;
}

function flag(value: string | undefined, fallback: boolean, name: string, problems: string[]): boolean {
  if (value === undefined || value === "") return fallback;
  if (value === "true" || value === "false") return value === "true";
  problems.push(`${name} is "${value}", expected "true" or "false"; no one gets in until it is corrected`);
  return false;
}

function foundersOf(value: string | undefined, fallback: Founders, problems: string[]): Founders {
  if (value === undefined || value === "") return fallback;
  if (value === "anyone" || value === "token-admins") return value;
  problems.push(`WEFT_FOUNDERS is "${value}", expected "anyone" or "token-admins"; no one gets in until it is corrected`);
  return "token-admins";
}

/** The longest token lifetime; undefined (tokens cannot be checked) for a value that is not a positive whole number. */
function maxLifetimeOf(value: string | undefined, problems: string[]): number | undefined {
  if (value === undefined || value === "") return DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  const seconds = Number(value);
  if (/^\d+$/.test(value) && Number.isSafeInteger(seconds) && seconds > 0) return seconds;
  problems.push(`WEFT_TOKEN_MAX_LIFETIME_SECONDS is "${value}", expected a positive whole number of seconds; tokens cannot be checked`);
  return undefined;
}
