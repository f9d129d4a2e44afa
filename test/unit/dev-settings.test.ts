// weft/dev runs the Worker with the same compatibility settings as wrangler.toml (what `wrangler dev` and
// `wrangler deploy` use), so a relay started from Node behaves as the deployed one.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS, startRelay, type StartRelayOptions } from "../../dev/start-relay.ts";

describe("weft/dev's compatibility settings", () => {
  it("are wrangler.toml's", () => {
    const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
    expect(toml).toMatch(new RegExp(`^compatibility_date = "${RELAY_COMPATIBILITY_DATE}"$`, "m"));
    const flags = /^compatibility_flags = \[(.*)\]$/m.exec(toml)?.[1] ?? "";
    expect(flags.split(",").map((flag) => flag.trim().replaceAll('"', "")).filter(Boolean)).toEqual(RELAY_COMPATIBILITY_FLAGS);
  });
});

describe("startRelay's options from plain JavaScript", () => {
  // Refused before anything starts: a relay without the settings it was meant to have would be an open one.
  const wrong: [string, unknown][] = [
    ["vars as a string", { vars: "WEFT_TOKEN_SECRET=s" }],
    ["a var that is not a string", { vars: { WEFT_OPEN_GROUPS: true } }],
    ["a key object as a var", { vars: { WEFT_TOKEN_PUBLIC_KEY: { kty: "OKP" } } }],
    ["a misspelt setting", { vars: { WEFT_TOKEN_SECRETS: "s" } }],
    ["an empty token secret", { vars: { WEFT_TOKEN_SECRET: "" } }],
    ["a token secret too short to keep tokens from being forged", { vars: { WEFT_TOKEN_SECRET: "hunter2" } }],
    ["a previous token secret too short", { vars: { WEFT_TOKEN_SECRET: "x".repeat(32), WEFT_TOKEN_SECRET_PREVIOUS: "x".repeat(31) } }],
    ["a public key that is not JSON", { vars: { WEFT_TOKEN_PUBLIC_KEY: "{" } }],
    ["a public key that is not an Ed25519 JWK", { vars: { WEFT_TOKEN_PUBLIC_KEY: "{}" } }],
    ["open groups as neither true nor false", { vars: { WEFT_TOKEN_SECRET: "x".repeat(32), WEFT_OPEN_GROUPS: "yes" } }],
    ["founders as neither anyone nor token-admins", { vars: { WEFT_FOUNDERS: "everyone" } }],
    ["a token lifetime that is not whole seconds", { vars: { WEFT_TOKEN_SECRET: "x".repeat(32), WEFT_TOKEN_MAX_LIFETIME_SECONDS: "1h" } }],
    ["a snapshot retention that is not whole seconds or never", { vars: { WEFT_SNAPSHOT_RETENTION_SECONDS: "soon" } }],
    ["a port as a string", { port: "8799" }],
    ["a port out of range", { port: 70_000 }],
    ["a folder as a number", { persistTo: 42 }],
    ["an empty folder", { persistTo: "" }],
    ["an unknown option", { prot: 8799 }],
    ["a port instead of options", 8799],
  ];
  it.each(wrong)("%s: a TypeError at once", async (_, options) => {
    await expect(startRelay(options as StartRelayOptions)).rejects.toThrow(/^startRelay: /);
    await expect(startRelay(options as StartRelayOptions)).rejects.toBeInstanceOf(TypeError);
  });
});

describe("startRelay with a short HS256 secret", () => {
  it("names the var and its length, in the words mintToken and the relay use, and never the secret", async () => {
    const refusal = await startRelay({ vars: { WEFT_TOKEN_SECRET: "x".repeat(32), WEFT_TOKEN_SECRET_PREVIOUS: "hunter2" } }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(refusal?.message).toBe(
      "startRelay: vars.WEFT_TOKEN_SECRET_PREVIOUS has 7 bytes, under the 32 an HS256 secret needs (MIN_TOKEN_SECRET_BYTES, RFC 7518 §3.2): " +
        "anyone holding one token could find it by trying keys, and mint admin tokens; make one with `openssl rand -base64 32`",
    );
  });
});

describe("startRelay with a var the relay could not use", () => {
  it("says which, in the relay's own words, rather than start a relay that lets no one in", async () => {
    await expect(startRelay({ vars: { WEFT_TOKEN_PUBLIC_KEY: "{" } })).rejects.toThrow(
      "startRelay: vars the relay cannot use: WEFT_TOKEN_PUBLIC_KEY is not JSON (expected a JWK); tokens cannot be checked",
    );
    await expect(startRelay({ vars: { WEFT_TOKEN_SECRET: "x".repeat(32), WEFT_OPEN_GROUPS: "yes" } })).rejects.toThrow(
      'startRelay: vars the relay cannot use: WEFT_OPEN_GROUPS is "yes", expected "true" or "false"; no one gets in until it is corrected',
    );
  });
});
