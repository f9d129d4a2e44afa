// The relay's keys and policies, in one place: the Worker and every group's Durable Object read them from
// here. `configFromEnv` reads the Worker's bindings (the default); a library user may build a RelayConfig
// in code instead. Reading never throws: a value that cannot be used is named in `problems`, and the relay
// then fails closed (tokens cannot be checked, so no one gets in by token or without one).

/** Longest lifetime (exp − iat, or exp − now without iat) a token may claim, unless configured otherwise. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** How long a stored snapshot is kept before the transactions it covers are pruned, unless configured otherwise: 7 days. */
export const DEFAULT_SNAPSHOT_RETENTION_SECONDS = 7 * 24 * 60 * 60;

/** The key app tokens are signed with: a shared HS256 secret, or an Ed25519 public key for EdDSA. */
export type TokenKey = { alg: "HS256"; secret: string } | { alg: "EdDSA"; publicKey: JsonWebKey };

/** How app tokens are checked. */
export type TokenPolicy = {
  key: TokenKey;
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

/** The Worker bindings `configFromEnv` reads; all optional, all strings (vars or secrets). */
export type ConfigEnv = {
  /** Shared secret for HS256 tokens (`wrangler secret put WEFT_TOKEN_SECRET`). */
  WEFT_TOKEN_SECRET?: string;
  /** Ed25519 public key (JWK JSON, kty OKP, crv Ed25519) for EdDSA tokens. Takes precedence over the secret. */
  WEFT_TOKEN_PUBLIC_KEY?: string;
  /** Required `aud` of every token. */
  WEFT_TOKEN_AUDIENCE?: string;
  /** Required `iss` of every token. */
  WEFT_TOKEN_ISSUER?: string;
  /** Longest token lifetime in seconds (default DEFAULT_MAX_TOKEN_LIFETIME_SECONDS). */
  WEFT_TOKEN_MAX_LIFETIME_SECONDS?: string;
  /** "true" admits hellos without a token although a token key is configured; "false" refuses them. */
  WEFT_OPEN_GROUPS?: string;
  /** "anyone" or "token-admins" (see Founders). */
  WEFT_FOUNDERS?: string;
  /** Seconds a snapshot is kept before what it covers is pruned: a whole number (0: at once) or "never" (default 7 days). */
  WEFT_SNAPSHOT_RETENTION_SECONDS?: string;
};

/**
 * The relay's configuration from Worker bindings. Without a token key the relay is open: every agent with
 * a key pair gets in, and groups close themselves with a membership log. Once a key is configured the
 * secure choice is the default: every hello needs a valid token, and only a token admin founds a group.
 */
export function configFromEnv(env: ConfigEnv): RelayConfig {
  const problems: string[] = [];
  const key = tokenKeyOf(env, problems);
  // A key var that is there but empty (a secret that was never put, say) is a key that cannot be used: closed, not open.
  const tokensConfigured = env.WEFT_TOKEN_SECRET !== undefined || env.WEFT_TOKEN_PUBLIC_KEY !== undefined;
  const maxLifetimeSeconds = maxLifetimeOf(env.WEFT_TOKEN_MAX_LIFETIME_SECONDS, problems);
  // A lifetime the relay cannot read fails closed, like a key it cannot use: longer tokens are not let in instead.
  const tokens: TokenPolicy | undefined = key && maxLifetimeSeconds !== undefined
    ? {
        key,
        maxLifetimeSeconds,
        ...(env.WEFT_TOKEN_AUDIENCE ? { audience: env.WEFT_TOKEN_AUDIENCE } : {}),
        ...(env.WEFT_TOKEN_ISSUER ? { issuer: env.WEFT_TOKEN_ISSUER } : {}),
      }
    : undefined;
  const openGroups = flag(env.WEFT_OPEN_GROUPS, !tokensConfigured, "WEFT_OPEN_GROUPS", problems);
  const founders = foundersOf(env.WEFT_FOUNDERS, tokensConfigured ? "token-admins" : "anyone", problems);
  const snapshotRetentionSeconds = retentionOf(env.WEFT_SNAPSHOT_RETENTION_SECONDS, problems);
  return { tokens, access: { openGroups, founders, tokensConfigured }, problems, snapshotRetentionSeconds };
}

/** The snapshot retention: a value that cannot be used prunes nothing (history is kept, the safe side). */
function retentionOf(value: string | undefined, problems: string[]): number {
  if (value === undefined || value === "") return DEFAULT_SNAPSHOT_RETENTION_SECONDS;
  if (value === "never") return Infinity;
  const seconds = Number(value);
  if (/^\d+$/.test(value) && Number.isSafeInteger(seconds)) return seconds;
  problems.push(`WEFT_SNAPSHOT_RETENTION_SECONDS is "${value}", expected a whole number of seconds or "never"; nothing is pruned`);
  return Infinity;
}

const loggedProblems = new Set<string>();

/** Logs each configuration problem once per isolate, not on every event. */
export function reportProblems(config: RelayConfig): void {
  for (const problem of config.problems) {
    if (loggedProblems.has(problem)) continue;
    loggedProblems.add(problem);
    console.error(`weft: configuration: ${problem}`);
  }
}

function tokenKeyOf(env: ConfigEnv, problems: string[]): TokenKey | undefined {
  if (env.WEFT_TOKEN_PUBLIC_KEY) {
    const publicKey = ed25519PublicJwk(env.WEFT_TOKEN_PUBLIC_KEY);
    if (typeof publicKey === "string") {
      problems.push(`WEFT_TOKEN_PUBLIC_KEY ${publicKey}; tokens cannot be checked`);
      return undefined;
    }
    return { alg: "EdDSA", publicKey };
  }
  if (env.WEFT_TOKEN_SECRET) return { alg: "HS256", secret: env.WEFT_TOKEN_SECRET };
  for (const name of ["WEFT_TOKEN_PUBLIC_KEY", "WEFT_TOKEN_SECRET"] as const) {
    if (env[name] !== undefined) problems.push(`${name} is set but empty; tokens cannot be checked`);
  }
  return undefined;
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
  problems.push(`${name} is "${value}", expected "true" or "false"; using the secure choice`);
  return false;
}

function foundersOf(value: string | undefined, fallback: Founders, problems: string[]): Founders {
  if (value === undefined || value === "") return fallback;
  if (value === "anyone" || value === "token-admins") return value;
  problems.push(`WEFT_FOUNDERS is "${value}", expected "anyone" or "token-admins"; using "token-admins"`);
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
