// mintToken runs in Workers too (an app's backend on Cloudflare): tokens minted inside workerd verify with
// the relay's own token check, for HS256 and EdDSA.
import { describe, expect, it } from "vitest";
import { createIdentity } from "../../client/identity.ts";
import { configFromEnv } from "../../worker/config.ts";
import { tokenVerifier } from "../../worker/tokens.ts";
import { generateTokenKeys, mintToken } from "../../tokens/index.ts";

describe("mintToken inside workerd", () => {
  const agent = createIdentity().agent;

  it("HS256 tokens verify with the relay's secret", async () => {
    const token = await mintToken({ agent, group: "team", role: "admin", expiresIn: 300 }, "worker secret");
    const result = await tokenVerifier(configFromEnv({ WEFT_TOKEN_SECRET: "worker secret" }))(token);
    expect(result).toMatchObject({ ok: true, agent, group: "team", role: "admin" });
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
