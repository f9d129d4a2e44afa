// weft/dev runs the Worker with the same compatibility settings as wrangler.toml (what `wrangler dev` and
// `wrangler deploy` use), so a relay started from Node behaves as the deployed one.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RELAY_COMPATIBILITY_DATE, RELAY_COMPATIBILITY_FLAGS } from "../../dev/start-relay.ts";

describe("weft/dev's compatibility settings", () => {
  it("are wrangler.toml's", () => {
    const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
    expect(toml).toMatch(new RegExp(`^compatibility_date = "${RELAY_COMPATIBILITY_DATE}"$`, "m"));
    const flags = /^compatibility_flags = \[(.*)\]$/m.exec(toml)?.[1] ?? "";
    expect(flags.split(",").map((flag) => flag.trim().replaceAll('"', "")).filter(Boolean)).toEqual(RELAY_COMPATIBILITY_FLAGS);
  });
});
