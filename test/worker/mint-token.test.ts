// mintToken runs in Workers too (an app's backend on Cloudflare): tokens minted inside workerd verify with
// the relay's own token check, for HS256 and EdDSA.
import { describe, expect, it } from "vitest";
import { createIdentity } from "../../client/identity.ts";
import { configFromEnv } from "../../worker/config.ts";
import { tokenVerifier } from "../../worker/tokens.ts";
import { MIN_TOKEN_SECRET_BYTES } from "../../protocol/index.ts";
import { generateTokenKeys, mintToken } from "../../tokens/index.ts";

const SECRET = "a worker's secret, long enough for HS256";

describe("mintToken inside workerd", () => {
  const agent = createIdentity().agent;

  it("HS256 tokens verify with the relay's secret", async () => {
    const token = await mintToken({ agent, group: "team", role: "admin", expiresIn: 300 }, SECRET);
    const result = await tokenVerifier(configFromEnv({ WEFT_TOKEN_SECRET: SECRET }))(token);
    expect(result).toMatchObject({ ok: true, agent, group: "team", role: "admin" });
  });

  it("a secret under MIN_TOKEN_SECRET_BYTES is refused on both sides: mintToken throws, the relay's config names it and checks no token", async () => {
    const short = "x".repeat(MIN_TOKEN_SECRET_BYTES - 1);
    await expect(mintToken({ agent, group: "team", role: "admin", expiresIn: 300 }, short)).rejects.toBeInstanceOf(TypeError);
    const config = configFromEnv({ WEFT_TOKEN_SECRET: short });
    expect(config.problems).toEqual([expect.stringMatching(/^WEFT_TOKEN_SECRET has 31 bytes, under the 32 /)]);
    const token = await mintToken({ agent, group: "team", role: "admin", expiresIn: 300 }, SECRET);
    expect(await tokenVerifier(config)(token)).toMatchObject({ ok: false, code: "internal" });
  });

  it("EdDSA tokens verify with the public key, and not with another", async () => {
    const keys = await generateTokenKeys();
    const token = await mintToken({ agent, group: "team", role: "reader", expiresIn: 300, audience: "my-app" }, keys.privateKey);
    const verify = tokenVerifier(configFromEnv({ WEFT_TOKEN_PUBLIC_KEY: JSON.stringify(keys.publicKey), WEFT_TOKEN_AUDIENCE: "my-app" }));
    expect(await verify(token)).toMatchObject({ ok: true, agent, role: "reader" });
    const other = await generateTokenKeys();
    expect(await tokenVerifier(configFromEnv({ WEFT_TOKEN_PUBLIC_KEY: JSON.stringify(other.publicKey) }))(token)).toMatchObject({ ok: false, code: "unauthorized" });
  });
});
