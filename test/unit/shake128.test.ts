// The plain-JavaScript SHAKE128 that workerd and browsers compute the digest's element vectors with
// (protocol/shake128.ts): the standard's outputs, and @noble/hashes' bytes for every split of input and
// output across the 168-byte blocks.
import { shake128 as nobleShake128 } from "@noble/hashes/sha3.js";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { shake128 } from "../../protocol/shake128.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const text = (value: string) => new TextEncoder().encode(value);

describe("SHAKE128 in plain JavaScript", () => {
  it("gives the standard's outputs", () => {
    expect(hex(shake128(new Uint8Array(), 32))).toBe("7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26");
    expect(hex(shake128(text("The quick brown fox jumps over the lazy dog"), 32))).toBe("f4202e3c5852f9182a0430fd8144f0a74b95e7417ecae17db0f8cfeed0e3e66e");
    expect(hex(shake128(text("The quick brown fox jumps over the lazy dof"), 32))).toBe("853f4538be0db9621a6cea659a06c1107b1f83f02b13d18297bd39d7411cf10c");
  });

  it("matches Node's native SHAKE128 and @noble/hashes' for inputs and outputs on either side of a block's end", () => {
    const lengths = [0, 1, 3, 4, 5, 135, 167, 168, 169, 335, 336, 337, 1_000];
    for (const inputLength of lengths) {
      const input = crypto.getRandomValues(new Uint8Array(inputLength));
      for (const outputLength of [...lengths, 2_048, 5_000]) {
        const ours = hex(shake128(input, outputLength));
        expect(ours, `${inputLength} bytes in, ${outputLength} out`).toBe(createHash("shake128", { outputLength }).update(input).digest("hex"));
        expect(ours, `${inputLength} bytes in, ${outputLength} out`).toBe(hex(nobleShake128(input, { dkLen: outputLength })));
      }
    }
  });

  it("gives a digest element's vector as the relay computes it: 2,048 bytes of its canonical JSON key", () => {
    const key = text('["weft/digest/v3","doc_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG","ses_0123",5]');
    expect(hex(shake128(key, 2_048))).toBe(createHash("shake128", { outputLength: 2_048 }).update(key).digest("hex"));
  });
});
