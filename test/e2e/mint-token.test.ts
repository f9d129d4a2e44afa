// mintToken against the real relay (weft/dev's startRelay): HS256 with the relay's secret, EdDSA with a key
// pair whose public half the relay holds; a token the relay must refuse is refused.
import { afterAll, describe, expect, it } from "vitest";
import { sign as signJwt } from "hono/jwt";
import { createClient, createIdentity, type Client } from "../../client/index.ts";
import { startRelay, type LocalRelay } from "../../dev/start-relay.ts";
import { generateTokenKeys, mintToken, type TokenSigningKey } from "../../tokens/index.ts";
import { until } from "../support/wait.ts";

const SECRET = "the relay's secret, long enough for HS256";

describe("mintToken with the real relay", () => {
  const relays: LocalRelay[] = [];
  const clients: Client[] = [];
  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all(relays.map((relay) => relay.stop()));
  });

  const connect = async (relay: LocalRelay, key: TokenSigningKey | undefined, role: "writer" | "reader" = "writer") => {
    const identity = createIdentity();
    const client = await createClient({
      url: relay.url,
      identity,
      ...(key === undefined ? {} : { getToken: (group: string) => mintToken({ agent: identity.agent, group, role, expiresIn: 600 }, key) }),
    });
    clients.push(client);
    return client.group("team");
  };

  it("HS256: a token signed with the relay's secret gets in with its role; one signed with another secret does not", async () => {
    const relay = await startRelay({ vars: { WEFT_TOKEN_SECRET: SECRET } });
    relays.push(relay);
    const team = await connect(relay, SECRET);
    const doc = team.create({});
    doc.append("signed in");
    await doc.synced();
    expect(team.role).toBe("writer");

    const forged = await connect(relay, "another secret, long enough for HS256");
    await until(() => forged.connection.closeReason !== undefined, 10_000);
    expect(forged.connection.closeReason).toMatch(/^unauthorized/);
  });

  it("EdDSA: a token signed with the private key gets in when the relay holds the public key", async () => {
    const keys = await generateTokenKeys();
    const relay = await startRelay({ vars: { WEFT_TOKEN_PUBLIC_KEY: JSON.stringify(keys.publicKey) } });
    relays.push(relay);
    const team = await connect(relay, keys.privateKey, "reader");
    await until(() => team.role !== undefined, 10_000);
    expect(team.role).toBe("reader");

    const other = await generateTokenKeys();
    const stranger = await connect(relay, other.privateKey);
    await until(() => stranger.connection.closeReason !== undefined, 10_000);
    expect(stranger.connection.closeReason).toMatch(/^unauthorized/);
  });

  it("a backend whose clock runs 2 s ahead of the relay's gets in: tokens with nbf = iat = now (many JWT libraries' default), or without iat at the longest lifetime and a fractional exp", async () => {
    const relay = await startRelay({ vars: { WEFT_TOKEN_SECRET: SECRET, WEFT_TOKEN_MAX_LIFETIME_SECONDS: "3600" } });
    relays.push(relay);
    const backendNow = () => Date.now() / 1000 + 2;
    const claimsOf = [
      () => ({ nbf: Math.floor(backendNow()), iat: Math.floor(backendNow()), exp: Math.floor(backendNow()) + 3600 }),
      () => ({ exp: backendNow() + 3600 }),
    ];
    for (const claims of claimsOf) {
      const identity = createIdentity();
      let calls = 0;
      const client = await createClient({
        url: relay.url,
        identity,
        getToken: (group) => (calls++, signJwt({ sub: identity.agent, group, role: "writer", ...claims() }, SECRET, "HS256")),
      });
      clients.push(client);
      const team = client.group("team");
      const doc = team.create({});
      doc.append("from a backend 2 s ahead");
      await doc.synced({ signal: AbortSignal.timeout(10_000) });
      expect(team.role).toBe("writer");
      expect(team.connection.closeReason).toBeUndefined();
      expect(calls).toBe(1);
    }
  });

  it("refuses, before signing, a claim the relay would refuse", async () => {
    await expect(mintToken({ agent: "bob", group: "team", role: "writer", expiresIn: 60 }, SECRET)).rejects.toThrow(TypeError);
    await expect(mintToken({ agent: createIdentity().agent, group: "no spaces", role: "writer", expiresIn: 60 }, SECRET)).rejects.toThrow(TypeError);
    await expect(mintToken({ agent: createIdentity().agent, group: "team", role: "writer", expiresIn: 0 }, SECRET)).rejects.toThrow(RangeError);
  });
});
