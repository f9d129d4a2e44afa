// The relay's base64url inside workerd, where node:buffer encodes it natively (protocol/encoding.ts): the
// same texts and bytes as the plain JavaScript a browser runs, and the same refusals, or a relay and its
// clients would name the same bytes differently (digest sums, chain hashes, signatures).
import { describe, expect, it } from "vitest";
import { fromBase64Url, toBase64Url } from "../../protocol/encoding.ts";
import { plainFromBase64Url, plainToBase64Url } from "../../protocol/plain-base64url.ts";
import { nodeBuiltin } from "../../protocol/node-builtin.ts";
import { seededRandom } from "../unit/seeded-random.ts";
import { base64urlSamples, longBase64urlRefusals } from "../support/base64url-cases.ts";

describe("base64url in workerd", () => {
  const random = seededRandom(0x64b2);

  it("is native here, as the relay runs it", () => {
    expect(nodeBuiltin("node:buffer")).toBeDefined();
  });

  it("gives the JavaScript encoder's text, and its bytes back, at every length to 300 and at 2,048", () => {
    for (const bytes of base64urlSamples(random)) {
      const text = toBase64Url(bytes);
      expect(text).toBe(plainToBase64Url(bytes));
      expect(fromBase64Url(text)).toEqual(bytes);
    }
  });

  it("encodes a view into a larger buffer as the view's bytes only", () => {
    const view = random.bytes(600).subarray(7, 507);
    expect(toBase64Url(view)).toBe(plainToBase64Url(view.slice()));
  });

  it.each(longBase64urlRefusals(random))("refuses a long text with %s, as the JavaScript decoder does", (_what, text) => {
    expect(text.length).toBeGreaterThanOrEqual(256);
    expect(plainFromBase64Url(text)).toBeUndefined();
    expect(fromBase64Url(text)).toBeUndefined();
  });
});
