// App tokens checked by worker/tokens.ts, for both key kinds a deployment can configure.
import { describe, expect, it } from "vitest";
import { sign } from "hono/jwt";
import { tokenVerifier } from "../../worker/tokens.ts";
import { testAgent } from "../support/identity.ts";

const alice = testAgent(1);
const inSeconds = (seconds: number) => Math.floor(Date.now() / 1000) + seconds;

/** A key pair as an app's backend would hold it: JWKs exported by WebCrypto (which label them alg "Ed25519"). */
async function ed25519Jwks(): Promise<{ privateJwk: JsonWebKey; publicJwk: JsonWebKey }> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const { alg: _alg, ...privateJwk } = await crypto.subtle.exportKey("jwk", pair.privateKey); // hono signs only without it
  return { privateJwk, publicJwk: await crypto.subtle.exportKey("jwk", pair.publicKey) };
}

describe("app tokens", () => {
  it("accepts no tokens when no key is configured", () => {
    expect(tokenVerifier({})).toBeUndefined();
  });

  it("HS256: a valid token names the agent, group, role and expiry; a wrong secret is refused", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: "s3cret" })!;
    const exp = inSeconds(60);
    const token = await sign({ sub: alice.agent, group: "g1", role: "writer", exp }, "s3cret", "HS256");
    expect(await verify(token)).toEqual({ ok: true, agent: alice.agent, group: "g1", role: "writer", expiresAt: exp * 1000 });
    const forged = await sign({ sub: alice.agent, group: "g1", role: "admin", exp }, "guessed", "HS256");
    expect(await verify(forged)).toMatchObject({ ok: false, expired: false });
  });

  it("EdDSA: verified against the configured public key; another key's token is refused", async () => {
    const keys = await ed25519Jwks();
    const other = await ed25519Jwks();
    const verify = tokenVerifier({ WEFT_TOKEN_PUBLIC_KEY: JSON.stringify(keys.publicJwk) })!;
    const claims = { sub: alice.agent, group: "g1", role: "reader", exp: inSeconds(60) };
    expect(await verify(await sign(claims, keys.privateJwk, "EdDSA"))).toMatchObject({ ok: true, role: "reader", agent: alice.agent });
    expect(await verify(await sign(claims, other.privateJwk, "EdDSA"))).toMatchObject({ ok: false, expired: false });
  });

  it("tells an expired token apart, and refuses claims that are missing or malformed", async () => {
    const verify = tokenVerifier({ WEFT_TOKEN_SECRET: "s3cret" })!;
    const expired = await sign({ sub: alice.agent, group: "g1", role: "writer", exp: inSeconds(-10) }, "s3cret", "HS256");
    expect(await verify(expired)).toEqual({ ok: false, expired: true, reason: "the token has expired" });
    for (const claims of [
      { group: "g1", role: "writer", exp: inSeconds(60) },
      { sub: "not-an-agent", group: "g1", role: "writer", exp: inSeconds(60) },
      { sub: alice.agent, group: "g1", role: "owner", exp: inSeconds(60) },
      { sub: alice.agent, role: "writer", exp: inSeconds(60) },
    ]) {
      expect(await verify(await sign(claims, "s3cret", "HS256"))).toMatchObject({ ok: false, expired: false });
    }
    expect(await verify("not.a.token")).toMatchObject({ ok: false, expired: false });
  });
});
