// App tokens checked by worker/tokens.ts, for both key kinds a deployment can configure.
import { ArgumentError } from "../../protocol/argument-error.ts";
import { describe, expect, it, vi } from "vitest";
import { sign } from "hono/jwt";
import { DEFAULT_SNAPSHOT_RETENTION_SECONDS, configFromEnv, reportProblems, withKeysChecked, type ConfigEnv, type RelayConfig } from "../../worker/config.ts";
import { tokenVerifier as verifierOf } from "../../worker/tokens.ts";
import { testAgent } from "../support/identity.ts";
import { mintToken } from "../../tokens/mint-token.ts";
import { MAX_TOKEN_CHARS, MIN_TOKEN_SECRET_BYTES, TOKEN_CLOCK_LEEWAY_SECONDS, isTokenRefusal } from "../../protocol/index.ts";
import { tokenProblem } from "../../client/local-checks.ts";

const alice = testAgent(1);
/** The relay's HS256 secret, and one a forger guessed: both as long as the relay takes (MIN_TOKEN_SECRET_BYTES). */
const SECRET = "the relay's secret, long enough for HS256";
const GUESSED = "a guessed secret, long enough for HS256";
const tokenVerifier = (env: ConfigEnv) => verifierOf(configFromEnv(env));
const inSeconds = (seconds: number) => Math.floor(Date.now() / 1000) + seconds;

/** A key pair as an app's backend would hold it: JWKs exported by WebCrypto (which label them alg "Ed25519"). */
async function ed25519Jwks(): Promise<{ privateJwk: JsonWebKey; publicJwk: JsonWebKey }> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const { alg: _alg, ...privateJwk } = await crypto.subtle.exportKey("jwk", pair.privateKey); // hono signs only without it
  return { privateJwk, publicJwk: await crypto.subtle.exportKey("jwk", pair.publicKey) };
}

describe("app tokens", () => {
  it("accepts no tokens when no key is configured", async () => {
    const token = await sign({ sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(60) }, SECRET, "HS256");
    expect(await tokenVerifier({})(token)).toMatchObject({ ok: false, code: "unauthorized" });
  });

  it("HS256: a valid token names the agent, group, role and expiry; a wrong secret is refused", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET });
    const exp = inSeconds(60);
    const token = await sign({ sub: alice.agent, group: "g1", role: "writer", exp }, SECRET, "HS256");
    expect(await verify(token)).toEqual({ ok: true, agent: alice.agent, group: "g1", role: "writer", expiresAt: exp * 1000 });
    const forged = await sign({ sub: alice.agent, group: "g1", role: "admin", exp }, GUESSED, "HS256");
    expect(await verify(forged)).toMatchObject({ ok: false, code: "unauthorized" });
  });

  it("refuses a token whose claims were changed after it was signed, and says that this may be why", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET });
    const [header, claims, signature] = (await sign({ sub: alice.agent, group: "g1", role: "reader", exp: inSeconds(60) }, SECRET, "HS256")).split(".");
    const raised = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(claims!, "base64url").toString()), role: "admin" })).toString("base64url");
    expect(await verify(`${header}.${raised}.${signature}`)).toEqual({
      ok: false,
      code: "unauthorized",
      reason: "the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed",
    });
  });

  it("EdDSA: verified against the configured public key; another key's token is refused", async () => {
    const keys = await ed25519Jwks();
    const other = await ed25519Jwks();
    const verify = tokenVerifier({ WEFT_TOKEN_PUBLIC_KEY: JSON.stringify(keys.publicJwk) });
    const claims = { sub: alice.agent, group: "g1", role: "reader", exp: inSeconds(60) };
    expect(await verify(await sign(claims, keys.privateJwk, "EdDSA"))).toMatchObject({ ok: true, role: "reader", agent: alice.agent });
    expect(await verify(await sign(claims, other.privateJwk, "EdDSA"))).toMatchObject({ ok: false, code: "unauthorized", reason: "the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed" });
    // A secret's token at a relay of a key pair (the backend still on HS256): told in words, not hono's error names.
    expect(await verify(await sign(claims, SECRET, "HS256"))).toMatchObject({ ok: false, code: "unauthorized", reason: expect.stringMatching(/names another algorithm than the relay's key takes/) });
  });

  it("tells an expired token apart, and refuses claims that are missing or malformed", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET });
    const expired = await sign({ sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(-10) }, SECRET, "HS256");
    expect(await verify(expired)).toEqual({ ok: false, code: "token_expired", reason: "the token has expired" });
    for (const claims of [
      { group: "g1", role: "writer", exp: inSeconds(60) },
      { sub: "not-an-agent", group: "g1", role: "writer", exp: inSeconds(60) },
      { sub: alice.agent, group: "g1", role: "owner", exp: inSeconds(60) },
      { sub: alice.agent, role: "writer", exp: inSeconds(60) },
    ]) {
      expect(await verify(await sign(claims, SECRET, "HS256"))).toMatchObject({ ok: false, code: "unauthorized" });
    }
    expect(await verify("not.a.token")).toMatchObject({ ok: false, code: "unauthorized" });
  });

  it("a forged token is unauthorized even when it claims to have expired", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET });
    const forged = await sign({ sub: alice.agent, group: "g1", role: "admin", exp: inSeconds(-10) }, GUESSED, "HS256");
    expect(await verify(forged)).toMatchObject({ ok: false, code: "unauthorized" });
  });

  it("checks aud and iss when configured, and caps the lifetime", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_AUDIENCE: "weft", WEFT_TOKEN_ISSUER: "my-app", WEFT_TOKEN_MAX_LIFETIME_SECONDS: "3600" });
    const base = { sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(600) };
    const mint = (claims: object) => sign({ ...base, ...claims }, SECRET, "HS256");
    expect(await verify(await mint({ aud: "weft", iss: "my-app" }))).toMatchObject({ ok: true });
    expect(await verify(await mint({ aud: ["other", "weft"], iss: "my-app" }))).toMatchObject({ ok: true });
    expect(await verify(await mint({ iss: "my-app" }))).toMatchObject({ ok: false, code: "unauthorized" });
    expect(await verify(await mint({ aud: "other", iss: "my-app" }))).toMatchObject({ ok: false, code: "unauthorized" });
    expect(await verify(await mint({ aud: "weft" }))).toMatchObject({ ok: false, code: "unauthorized" });
    expect(await verify(await mint({ aud: "weft", iss: "someone-else" }))).toMatchObject({ ok: false, code: "unauthorized" });
    const tooLong = await mint({ aud: "weft", iss: "my-app", exp: inSeconds(7200) });
    expect(await verify(tooLong)).toMatchObject({ ok: false, code: "unauthorized", reason: expect.stringContaining("3600") });
    const issuedLongAgo = await mint({ aud: "weft", iss: "my-app", iat: inSeconds(-7000) });
    expect(await verify(issuedLongAgo)).toMatchObject({ ok: false, code: "unauthorized" });
  });

  it("a backend's clock a little ahead: nbf and iat up to TOKEN_CLOCK_LEEWAY_SECONDS ahead get in, further ahead are refused", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET });
    const mint = (ahead: number) => sign({ sub: alice.agent, group: "g1", role: "writer", nbf: inSeconds(ahead), iat: inSeconds(ahead), exp: inSeconds(ahead + 3600) }, SECRET, "HS256");
    // As many JWT libraries mint by default (nbf = iat = now), on a clock 2 s ahead of the relay's.
    expect(await verify(await mint(2))).toMatchObject({ ok: true, agent: alice.agent });
    expect(await verify(await mint(TOKEN_CLOCK_LEEWAY_SECONDS - 5))).toMatchObject({ ok: true });
    const notYet = await sign({ sub: alice.agent, group: "g1", role: "writer", nbf: inSeconds(TOKEN_CLOCK_LEEWAY_SECONDS + 5), exp: inSeconds(3600) }, SECRET, "HS256");
    expect(await verify(notYet)).toEqual({ ok: false, code: "unauthorized", reason: "the token is not valid yet (nbf)" });
    expect(await verify(await mint(TOKEN_CLOCK_LEEWAY_SECONDS + 5))).toMatchObject({ ok: false, code: "unauthorized" });
  });

  it("without iat, a token minted at the longest lifetime on a clock a little ahead gets in; one living longer does not", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_MAX_LIFETIME_SECONDS: "3600" });
    const expiringIn = (seconds: number) => sign({ sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(seconds) }, SECRET, "HS256");
    expect(await verify(await expiringIn(3600 + 2))).toMatchObject({ ok: true });
    const tooLong = await verify(await expiringIn(3600 + TOKEN_CLOCK_LEEWAY_SECONDS + 10));
    expect(tooLong).toMatchObject({ ok: false, code: "unauthorized", reason: expect.stringContaining("at most 3600 s") });
  });

  it("exp, nbf and iat may have a fraction of a second (RFC 7519's NumericDate)", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET });
    const now = Date.now() / 1000;
    const token = await sign({ sub: alice.agent, group: "g1", role: "writer", iat: now, nbf: now, exp: now + 600.5 }, SECRET, "HS256");
    expect(await verify(token)).toEqual({ ok: true, agent: alice.agent, group: "g1", role: "writer", expiresAt: (now + 600.5) * 1000 });
    const expired = await sign({ sub: alice.agent, group: "g1", role: "writer", exp: now - 0.5 }, SECRET, "HS256");
    expect(await verify(expired)).toMatchObject({ ok: false, code: "token_expired" });
    for (const exp of ["600", null, true]) {
      const malformed = await sign({ sub: alice.agent, group: "g1", role: "writer", exp } as never, SECRET, "HS256");
      expect(await verify(malformed)).toMatchObject({ ok: false, code: "unauthorized", reason: expect.stringContaining("malformed claim") });
    }
  });

  it("a token that is not a JWT is refused with why, naming the slip: whitespace, a Bearer prefix, JSON quotes or a JSON body", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET });
    const token = await sign({ sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(60) }, SECRET, "HS256");
    const notAJwt = "the token is not a JWT (three base64url parts separated by dots): ";
    const slips: [string, string][] = [
      [`${token}\n`, "it has whitespace at its start or end (a trailing newline?)"],
      [`Bearer ${token}`, 'it starts with "Bearer "'],
      [JSON.stringify(token), "it is in quotes, the JSON text of a string"],
      [JSON.stringify({ token }), "it is JSON text; give the token it holds"],
      [token.split(".").slice(0, 2).join("."), "it has 2 parts separated by dots"],
    ];
    for (const [given, slip] of slips) {
      expect(await verify(given)).toMatchObject({ ok: false, code: "unauthorized", reason: expect.stringContaining(notAJwt + slip) });
    }
    // Three parts, but not a JWT's: named so, not JwtTokenInvalid.
    expect(await verify("not.a.token")).toEqual({ ok: false, code: "unauthorized", reason: "the token is not a JWT: its parts do not decode as a JSON header, JSON claims and a signature" });
  });

  it("a malformed public key, or an empty or undefined key var, is one clear problem, and every token then gets internal: the relay is closed, not open", async () => {
    const envs = [
      ...["not json", '{"kty":"RSA","n":"x","e":"AQAB"}', '{"kty":"OKP","crv":"Ed25519","x":"short"}'].map((key) => ({ WEFT_TOKEN_PUBLIC_KEY: key })),
      { WEFT_TOKEN_PUBLIC_KEY: "" },
      { WEFT_TOKEN_SECRET: "" },
      // An app's own binding passed on, whose secret was never put: undefined, given all the same.
      { WEFT_TOKEN_SECRET: undefined },
      { WEFT_TOKEN_PUBLIC_KEY: undefined },
    ];
    for (const env of envs) {
      const config = configFromEnv(env);
      expect(config.problems).toHaveLength(1);
      expect(config.problems[0]).toMatch(new RegExp(`^${Object.keys(env)[0]} `));
      expect(config.tokens).toBeUndefined();
      expect(config.access).toMatchObject({ openGroups: false, tokensConfigured: true });
      const verify = verifierOf(config);
      const token = await sign({ sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(60) }, SECRET, "HS256");
      expect(await verify(token)).toMatchObject({ ok: false, code: "internal" });
      expect(await verify("not.a.token")).toMatchObject({ ok: false, code: "internal" });
    }
  });

  it("an HS256 secret under MIN_TOKEN_SECRET_BYTES, current or previous, is one problem naming its length, logged once, and every token gets internal: the relay is closed", async () => {
    // Bytes, not characters: "é" is two in UTF-8, the bytes hono signs with.
    const shortSecrets: [string, number][] = [["hunter2", 7], ["x".repeat(MIN_TOKEN_SECRET_BYTES - 1), 31], ["é".repeat(15), 30]];
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (const [short, bytes] of shortSecrets) {
        for (const env of [{ WEFT_TOKEN_SECRET: short }, { WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_SECRET_PREVIOUS: short }]) {
          const name = Object.keys(env).at(-1)!;
          const config = configFromEnv(env);
          expect(config.problems).toEqual([
            `${name} has ${bytes} bytes, under the 32 an HS256 secret needs (MIN_TOKEN_SECRET_BYTES, RFC 7518 §3.2): ` +
              "anyone holding one token could find it by trying keys, and mint admin tokens; make one with `openssl rand -base64 32`; tokens cannot be checked",
          ]);
          expect(config.tokens).toBeUndefined();
          expect(config.access).toMatchObject({ openGroups: false, tokensConfigured: true });
          const verify = verifierOf(config);
          for (const key of [short, SECRET]) {
            const token = await sign({ sub: alice.agent, group: "g1", role: "admin", exp: inSeconds(60) }, key, "HS256");
            expect(await verify(token)).toMatchObject({ ok: false, code: "internal" });
          }
          errors.mockClear();
          reportProblems(config);
          reportProblems(config);
          expect(errors.mock.calls).toEqual([[`weft: configuration: ${config.problems[0]}`]]);
          expect(String(errors.mock.calls)).not.toContain(short);
        }
      }
    } finally {
      errors.mockRestore();
    }
  });

  it("an HS256 secret of exactly MIN_TOKEN_SECRET_BYTES is taken, as current or previous key", async () => {
    expect(MIN_TOKEN_SECRET_BYTES).toBe(32);
    for (const secret of ["x".repeat(MIN_TOKEN_SECRET_BYTES), "é".repeat(MIN_TOKEN_SECRET_BYTES / 2)]) {
      const token = await sign({ sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(60) }, secret, "HS256");
      for (const env of [{ WEFT_TOKEN_SECRET: secret }, { WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_SECRET_PREVIOUS: secret }]) {
        const config = configFromEnv(env);
        expect(config.problems).toEqual([]);
        expect(await verifierOf(config)(token)).toMatchObject({ ok: true, agent: alice.agent });
      }
    }
  });

  it("a RelayConfig an app builds in code with a short HS256 secret, current or previous, checks no token either, and says why", async () => {
    const built = (key: string, previous?: string): RelayConfig => ({
      tokens: { key: { alg: "HS256", secret: key }, ...(previous ? { previousKeys: [{ alg: "HS256" as const, secret: previous }] } : {}), maxLifetimeSeconds: 3600 },
      access: { openGroups: false, founders: "token-admins", tokensConfigured: true },
      problems: [],
    });
    for (const [config, short] of [[built("hunter2"), "hunter2"], [built(SECRET, "hunter2"), "hunter2"]] as const) {
      const used = withKeysChecked(config);
      expect(used.problems).toEqual([expect.stringMatching(/HS256 secret of RelayConfig\.tokens has 7 bytes, under the 32/)]);
      expect(used.problems.join()).not.toContain(short);
      for (const key of [short, SECRET]) {
        const token = await sign({ sub: alice.agent, group: "g1", role: "admin", exp: inSeconds(60) }, key, "HS256");
        expect(await verifierOf(used)(token)).toMatchObject({ ok: false, code: "internal" });
      }
    }
    // Closed as configFromEnv's would be: open groups let no hello in without a token either.
    expect(withKeysChecked({ ...built("hunter2"), access: { openGroups: true, founders: "anyone", tokensConfigured: true } }).access).toEqual({ openGroups: false, founders: "token-admins", tokensConfigured: true });
    // A long one is used as the app built it.
    const long = built(SECRET, GUESSED);
    expect(withKeysChecked(long)).toBe(long);
  });
});

describe("the relay's refusals of a token", () => {
  it("are worded \"the token ...\", so the SDK tells them from refusals of the agent (isTokenRefusal) and asks getToken for another once", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_AUDIENCE: "app" });
    const claims = { sub: alice.agent, group: "g1", role: "writer", aud: "app", exp: inSeconds(60) };
    const bad = [
      await sign(claims, GUESSED, "HS256"),
      await sign({ ...claims, aud: "another" }, SECRET, "HS256"),
      await sign({ ...claims, role: "owner" }, SECRET, "HS256"),
      await sign({ ...claims, nbf: inSeconds(3_600) }, SECRET, "HS256"),
      await sign({ ...claims, exp: inSeconds(10 * 86_400) }, SECRET, "HS256"),
      "not.a-jwt",
    ];
    for (const token of bad) {
      const result = await verify(token);
      expect(result).toMatchObject({ ok: false, code: "unauthorized" });
      expect(isTokenRefusal((result as { reason: string }).reason), (result as { reason: string }).reason).toBe(true);
    }
    expect(isTokenRefusal("this agent is not a member of the group")).toBe(false);
  });
});

describe("relay config from the environment", () => {
  it("a relay without a token key is open; with one, tokens are required and only token admins found groups", () => {
    expect(configFromEnv({})).toEqual({
      tokens: undefined,
      access: { openGroups: true, founders: "anyone", tokensConfigured: false },
      problems: [],
      snapshotRetentionSeconds: DEFAULT_SNAPSHOT_RETENTION_SECONDS,
    });
    expect(configFromEnv({ WEFT_TOKEN_SECRET: SECRET })).toMatchObject({
      tokens: { key: { alg: "HS256", secret: SECRET }, maxLifetimeSeconds: 86_400 },
      access: { openGroups: false, founders: "token-admins", tokensConfigured: true },
      problems: [],
    });
    expect(configFromEnv({ WEFT_TOKEN_SECRET: SECRET, WEFT_OPEN_GROUPS: "true", WEFT_FOUNDERS: "anyone" }).access).toEqual({
      openGroups: true,
      founders: "anyone",
      tokensConfigured: true,
    });
  });

  it("a key passed as undefined (an app's own binding that does not exist) fails closed, saying the binding passed for it is missing", () => {
    const config = configFromEnv({ WEFT_TOKEN_SECRET: undefined });
    expect(config.problems).toEqual([
      "WEFT_TOKEN_SECRET is given as undefined: the binding passed for it (configFromEnv({ WEFT_TOKEN_SECRET: env.YOUR_SECRET }) in an app's Worker, say) does not exist, or its secret was never put; tokens cannot be checked",
    ]);
    expect(config.tokens).toBeUndefined();
    expect(config.access).toMatchObject({ openGroups: false, tokensConfigured: true });
  });

  it("takes vars as wrangler hands them over from wrangler.toml or wrangler.jsonc: a boolean, a number, a JWK object", async () => {
    const keys = await ed25519Jwks();
    const typed = { WEFT_TOKEN_PUBLIC_KEY: keys.publicJwk, WEFT_OPEN_GROUPS: true, WEFT_TOKEN_MAX_LIFETIME_SECONDS: 3600 } as unknown as ConfigEnv;
    const config = configFromEnv(typed);
    expect(config.problems).toEqual([]);
    expect(config.access.openGroups).toBe(true);
    expect(config.tokens?.maxLifetimeSeconds).toBe(3600);
    const token = await mintToken({ agent: alice.agent, group: "g1", role: "writer", expiresIn: 60 }, keys.privateJwk);
    expect(await verifierOf(config)(token)).toMatchObject({ ok: true, agent: alice.agent });
    expect(configFromEnv({ WEFT_TOKEN_SECRET: SECRET, WEFT_OPEN_GROUPS: false } as unknown as ConfigEnv).access.openGroups).toBe(false);
  });

  it("both a secret and a public key in one slot (current or previous) fail the relay closed, naming both: tokens of either kind would not all verify", async () => {
    const keys = await ed25519Jwks();
    const publicKey = JSON.stringify(keys.publicJwk);
    for (const [env, names] of [
      [{ WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_PUBLIC_KEY: publicKey }, "WEFT_TOKEN_PUBLIC_KEY and WEFT_TOKEN_SECRET"],
      [{ WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_SECRET_PREVIOUS: GUESSED, WEFT_TOKEN_PUBLIC_KEY_PREVIOUS: publicKey }, "WEFT_TOKEN_PUBLIC_KEY_PREVIOUS and WEFT_TOKEN_SECRET_PREVIOUS"],
    ] as const) {
      const config = configFromEnv(env);
      expect(config.problems).toEqual([`both ${names} are set, and a relay checks tokens with one key: unset one (during a rotation the old key goes in its _PREVIOUS var); tokens cannot be checked`]);
      expect(config.tokens).toBeUndefined();
      const token = await mintToken({ agent: alice.agent, group: "g1", role: "writer", expiresIn: 60 }, SECRET);
      expect(await verifierOf(config)(token)).toMatchObject({ ok: false, code: "internal" });
    }
  });

  it("a WEFT_ setting it does not read (a misspelt key, say) fails the relay closed: no token and no hello without one gets in", async () => {
    for (const env of [{ WEFT_TOKEN_SECRETS: SECRET }, { WEFT_TOKEN_SECRET: SECRET, WEFT_OPEN_GROUP: "true" }, { weft_token_secret: SECRET }]) {
      const config = configFromEnv(env as ConfigEnv);
      expect(config.problems).toEqual([expect.stringMatching(/^(WEFT_TOKEN_SECRETS|WEFT_OPEN_GROUP|weft_token_secret) /)]);
      expect(config.problems[0]).toMatch(/is not a setting the relay reads .*; no one gets in until it is removed or corrected$/);
      expect(config.tokens).toBeUndefined();
      expect(config.access).toMatchObject({ openGroups: false, tokensConfigured: true });
      const token = await sign({ sub: alice.agent, group: "g1", role: "admin", exp: inSeconds(60) }, SECRET, "HS256");
      expect(await verifierOf(config)(token)).toMatchObject({ ok: false, code: "internal" });
    }
    // Bindings that are not the relay's settings are not its business.
    expect(configFromEnv({ GROUPS: {}, MY_APP_SECRET: "x" } as ConfigEnv).problems).toEqual([]);
  });

  it("a key rotation: tokens signed with the previous key still verify beside the current one's; a broken or lone previous key fails closed", async () => {
    const claims = { sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(60) };
    const [current, old] = ["the current secret, long enough for HS256", "the previous secret, long enough for HS256"];
    const rotating = tokenVerifier({ WEFT_TOKEN_SECRET: current, WEFT_TOKEN_SECRET_PREVIOUS: old });
    expect(await rotating(await sign(claims, current, "HS256"))).toMatchObject({ ok: true, agent: alice.agent });
    expect(await rotating(await sign(claims, old, "HS256"))).toMatchObject({ ok: true, agent: alice.agent });
    expect(await rotating(await sign(claims, "another secret, long enough for HS256", "HS256"))).toMatchObject({ ok: false, code: "unauthorized" });
    // A refusal names the current key's reason, not the previous key's.
    const toKeys = tokenVerifier({ WEFT_TOKEN_SECRET: current, WEFT_TOKEN_PUBLIC_KEY_PREVIOUS: JSON.stringify((await ed25519Jwks()).publicJwk) });
    expect(await toKeys(await sign(claims, GUESSED, "HS256"))).toMatchObject({ ok: false, reason: "the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed" });
    // From a shared secret to a key pair.
    const keys = await ed25519Jwks();
    const toKeyPair = tokenVerifier({ WEFT_TOKEN_PUBLIC_KEY: JSON.stringify(keys.publicJwk), WEFT_TOKEN_SECRET_PREVIOUS: old });
    expect(await toKeyPair(await sign(claims, keys.privateJwk, "EdDSA"))).toMatchObject({ ok: true });
    expect(await toKeyPair(await sign(claims, old, "HS256"))).toMatchObject({ ok: true });
    // A token of the previous key's kind signed with another secret: refused for its signature, not its algorithm.
    expect(await toKeyPair(await sign(claims, GUESSED, "HS256"))).toMatchObject({ ok: false, reason: "the token does not verify: it was signed with another secret or key than the relay's, or changed after it was signed" });
    // Once the previous key is gone, its tokens are refused.
    expect(await tokenVerifier({ WEFT_TOKEN_SECRET: current })(await sign(claims, old, "HS256"))).toMatchObject({ ok: false, code: "unauthorized" });
    for (const env of [{ WEFT_TOKEN_SECRET_PREVIOUS: old }, { WEFT_TOKEN_SECRET: current, WEFT_TOKEN_SECRET_PREVIOUS: "" }, { WEFT_TOKEN_SECRET: current, WEFT_TOKEN_PUBLIC_KEY_PREVIOUS: "{}" }]) {
      const config = configFromEnv(env);
      expect(config.problems).toHaveLength(1);
      expect(config.tokens).toBeUndefined();
      expect(config.access).toMatchObject({ openGroups: false, tokensConfigured: true });
    }
  });

  it("a policy value it cannot read fails closed, as its health check says: a valid token gets internal", async () => {
    const token = await sign({ sub: alice.agent, group: "g1", role: "admin", exp: inSeconds(60) }, SECRET, "HS256");
    for (const env of [{ WEFT_OPEN_GROUPS: "yes" }, { WEFT_FOUNDERS: "everyone" }, { WEFT_SNAPSHOT_RETENTION_SECONDS: "soon" }]) {
      for (const keyed of [{ WEFT_TOKEN_SECRET: SECRET, ...env }, env]) {
        const config = configFromEnv(keyed);
        expect(config.problems).toEqual([expect.stringMatching(/; no one gets in until it is corrected/)]);
        expect(config.tokens).toBeUndefined();
        expect(config.access).toMatchObject({ openGroups: false, founders: "token-admins", tokensConfigured: true });
        expect(await verifierOf(config)(token)).toMatchObject({ ok: false, code: "internal" });
      }
    }
    expect(configFromEnv({ WEFT_TOKEN_SECRET: SECRET, WEFT_OPEN_GROUPS: "yes", WEFT_FOUNDERS: "everyone" }).problems).toHaveLength(2);
  });

  it("a token lifetime it cannot read fails closed: no token gets in, however short it lives", async () => {
    for (const lifetime of ["-5", "0", "1h", "3600s", "1e3", "1.5"]) {
      const config = configFromEnv({ WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_MAX_LIFETIME_SECONDS: lifetime });
      expect(config.problems).toEqual([expect.stringMatching(/^WEFT_TOKEN_MAX_LIFETIME_SECONDS is .*; tokens cannot be checked$/)]);
      expect(config.tokens).toBeUndefined();
      expect(config.access).toMatchObject({ openGroups: false, tokensConfigured: true });
      const token = await sign({ sub: alice.agent, group: "g1", role: "admin", exp: inSeconds(60) }, SECRET, "HS256");
      expect(await verifierOf(config)(token)).toMatchObject({ ok: false, code: "internal" });
    }
    expect(configFromEnv({ WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_MAX_LIFETIME_SECONDS: "3600" }).tokens?.maxLifetimeSeconds).toBe(3600);
  });

  it("WEFT_SNAPSHOT_RETENTION_SECONDS: 7 days unset, whole seconds (0: at once), never; any other value prunes nothing and is a problem", () => {
    expect(DEFAULT_SNAPSHOT_RETENTION_SECONDS).toBe(7 * 24 * 60 * 60);
    expect(configFromEnv({ WEFT_SNAPSHOT_RETENTION_SECONDS: "0" }).snapshotRetentionSeconds).toBe(0);
    expect(configFromEnv({ WEFT_SNAPSHOT_RETENTION_SECONDS: "3600" }).snapshotRetentionSeconds).toBe(3600);
    expect(configFromEnv({ WEFT_SNAPSHOT_RETENTION_SECONDS: "never" }).snapshotRetentionSeconds).toBe(Infinity);
    for (const value of ["-1", "1.5", "soon", "1e3"]) {
      const config = configFromEnv({ WEFT_SNAPSHOT_RETENTION_SECONDS: value });
      expect(config.snapshotRetentionSeconds).toBe(Infinity);
      expect(config.problems).toEqual([expect.stringContaining("WEFT_SNAPSHOT_RETENTION_SECONDS")]);
    }
  });
});

describe("mintToken from plain JavaScript", () => {
  it("refuses a whole identity given as the agent without printing its secret key", async () => {
    const identity = { agent: alice.agent, secretKey: new Uint8Array(32).fill(97) };
    const minting = mintToken({ agent: identity as never, group: "g1", role: "writer", expiresIn: 60 }, SECRET);
    await expect(minting).rejects.toThrow("agent must be an agent id (ag_...), not an object");
    const message = await minting.catch((error: Error) => error.message);
    expect(message).not.toMatch(/secretKey|97/);
    await expect(mintToken({ agent: alice.agent, group: { name: "g1" } as never, role: "writer", expiresIn: 60 }, SECRET)).rejects.toThrow(/not an object$/);
  });

  it("refuses a claim it does not know (a misspelt one would be left out of the token), naming those it takes", async () => {
    const misspelt = { agent: alice.agent, group: "g1", role: "writer", rol: "admin", audiance: "app", expiresIn: 60 } as never;
    await expect(mintToken(misspelt, SECRET)).rejects.toThrow(new ArgumentError("mintToken: unknown claim rol, audiance (it takes agent, group, role, expiresIn, audience, issuer)"));
  });

  it("refuses an HS256 secret under MIN_TOKEN_SECRET_BYTES with a TypeError naming its length, not the secret; one of exactly that many bytes signs", async () => {
    const claims = { agent: alice.agent, group: "g1", role: "writer" as const, expiresIn: 60 };
    for (const [short, bytes] of [["x", "1 byte"], ["hunter2", "7 bytes"], ["x".repeat(MIN_TOKEN_SECRET_BYTES - 1), "31 bytes"], ["é".repeat(15), "30 bytes"]] as const) {
      const refusal = await mintToken(claims, short).then(() => undefined, (error: unknown) => error);
      expect(refusal).toBeInstanceOf(TypeError);
      expect((refusal as Error).message).toBe(
        `the HS256 secret has ${bytes}, under the 32 an HS256 secret needs (MIN_TOKEN_SECRET_BYTES, RFC 7518 §3.2): ` +
          "anyone holding one token could find it by trying keys, and mint admin tokens; make one with `openssl rand -base64 32`",
      );
    }
    await expect(mintToken(claims, "")).rejects.toThrow(new ArgumentError("the HS256 secret is empty"));
    const secret = "x".repeat(MIN_TOKEN_SECRET_BYTES);
    expect(await tokenVerifier({ WEFT_TOKEN_SECRET: secret })(await mintToken(claims, secret))).toMatchObject({ ok: true, agent: alice.agent });
  });

  it("refuses a token longer than any relay takes (MAX_TOKEN_CHARS), naming its length and the limit; the longest it mints the SDK sends and the relay admits", async () => {
    const claims = { agent: alice.agent, group: "g1", role: "writer" as const, expiresIn: 60 };
    const { privateJwk, publicJwk } = await ed25519Jwks();
    for (const key of [SECRET, privateJwk]) {
      const audience = `https://app.example/${"a".repeat(9000)}`;
      const refusal = await mintToken({ ...claims, audience, issuer: "backend" }, key).then(() => undefined, (error: unknown) => error);
      expect(refusal).toBeInstanceOf(RangeError);
      const [, length] = /^the token would have (\d+) characters, over the 8192 a relay takes \(MAX_TOKEN_CHARS\): its audience has 9020 characters, its issuer has 7 characters$/.exec((refusal as Error).message) ?? [];
      expect(Number(length)).toBeGreaterThan(12_000); // about 4/3 of the audience, in base64url
      // The longest audience it mints a token for: that token is within the limit, by less than a base64 group.
      let [fits, over] = [0, 9000];
      while (over - fits > 1) {
        const middle = Math.floor((fits + over) / 2);
        const minted = await mintToken({ ...claims, audience: "a".repeat(middle) }, key).then(() => true, () => false);
        [fits, over] = minted ? [middle, over] : [fits, middle];
      }
      const longest = await mintToken({ ...claims, audience: "a".repeat(fits) }, key);
      expect(longest.length).toBeLessThanOrEqual(MAX_TOKEN_CHARS);
      expect(longest.length).toBeGreaterThan(MAX_TOKEN_CHARS - 4);
      expect(tokenProblem(longest)).toBeUndefined();
      const verify = tokenVerifier(typeof key === "string" ? { WEFT_TOKEN_SECRET: key, WEFT_TOKEN_AUDIENCE: "a".repeat(fits) } : { WEFT_TOKEN_PUBLIC_KEY: JSON.stringify(publicJwk), WEFT_TOKEN_AUDIENCE: "a".repeat(fits) });
      expect(await verify(longest)).toMatchObject({ ok: true, agent: alice.agent });
    }
  });

  it("refuses claims and keys the relay could never accept, at once and naming what is wrong", async () => {
    const claims = { agent: alice.agent, group: "g1", role: "writer" as const, expiresIn: 60 };
    const { privateJwk, publicJwk } = await ed25519Jwks();
    await expect(mintToken({ ...claims, audience: 42 as never }, SECRET)).rejects.toThrow("audience must be a non-empty string, not 42");
    await expect(mintToken({ ...claims, issuer: "" }, SECRET)).rejects.toThrow("issuer must be a non-empty string");
    await expect(mintToken(claims, SECRET, Number.NaN)).rejects.toThrow("now must be a time in milliseconds (Date.now()), not NaN");
    await expect(mintToken(claims, SECRET, "1700000000000" as never)).rejects.toThrow(/^now must be/);
    await expect(mintToken(claims, SECRET, 1_700_000_000)).rejects.toThrow("now must be a time in milliseconds (Date.now()), not 1700000000: that is in seconds");
    await expect((mintToken as (...args: unknown[]) => Promise<string>)()).rejects.toThrow("mintToken: claims must be an object ({ agent, group, role, expiresIn }), not undefined");
    // An array holding an id is not the id: a pattern's test() would read it as its text.
    await expect(mintToken({ ...claims, agent: [alice.agent] as never }, SECRET)).rejects.toThrow("agent must be an agent id (ag_...), not an array");
    await expect(mintToken({ ...claims, group: ["g1"] as never }, SECRET)).rejects.toThrow("group must be 1-128 characters of A-Z a-z 0-9 . _ ~ -, not an array");
    await expect(mintToken(claims, new TextEncoder().encode(SECRET) as never)).rejects.toThrow("the signing key must be an HS256 secret, an Ed25519 private JWK or a CryptoKey, not an object");
    await expect(mintToken(claims, JSON.stringify(privateJwk))).rejects.toThrow("the key is a JWK's JSON text");
    await expect(mintToken(claims, publicJwk)).rejects.toThrow("the signing JWK is a public key");
    await expect(mintToken(claims, { kty: "oct", k: "c2VjcmV0" } as JsonWebKey)).rejects.toThrow("the signing JWK must be an Ed25519 key");
    for (const broken of [{ ...privateJwk, d: "not-a-key" }, { ...privateJwk, d: 42 as never }, { ...privateJwk, x: undefined }]) {
      const refusal = await mintToken(claims, broken).then(() => undefined, (error: unknown) => error);
      expect(refusal).toBeInstanceOf(TypeError);
      expect((refusal as Error).message).toMatch(/the signing JWK/);
    }
    await expect(mintToken(claims, 12345 as never)).rejects.toThrow("the signing key must be an HS256 secret, an Ed25519 private JWK or a CryptoKey, not 12345");
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    await expect(mintToken(claims, pair.publicKey)).rejects.toThrow("the signing key must be an Ed25519 private key, not a public Ed25519 key");
    // What stays accepted: a private JWK or CryptoKey, with the claims the relay checks, which it then admits.
    const publicOf = async (key: CryptoKey | JsonWebKey) => JSON.stringify(key instanceof CryptoKey ? await crypto.subtle.exportKey("jwk", pair.publicKey) : publicJwk);
    for (const key of [privateJwk, pair.privateKey]) {
      const verify = tokenVerifier({ WEFT_TOKEN_PUBLIC_KEY: await publicOf(key), WEFT_TOKEN_AUDIENCE: "app", WEFT_TOKEN_ISSUER: "backend" });
      expect(await verify(await mintToken({ ...claims, audience: "app", issuer: "backend" }, key))).toMatchObject({ ok: true, agent: alice.agent, role: "writer" });
    }
  });
});
