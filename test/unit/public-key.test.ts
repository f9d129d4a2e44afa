// Agent ids that need no secret key (protocol/public-key.ts): under a key of small order the signature
// R = identity, S = 0 verifies for every message (WebCrypto and node:crypto take it), so such an agent id
// is refused wherever it is turned into a key. The check reads bytes only; @noble/ed25519's curve
// arithmetic is the reference it is held to.
import * as ed from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import {
  GENESIS_HASH,
  agentIdOf,
  checkpointMessage,
  publicKeyOf,
  publicKeyOfAgent,
  toBase64Url,
  verify,
  verifyCheckpoint,
  verifySnapshot,
  type DocId,
  type SessionId,
} from "../../protocol/index.ts";
import { isSignerKey } from "../../protocol/public-key.ts";
import { seededRandom } from "./seeded-random.ts";

const P = 2n ** 255n - 19n;
const ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The little-endian 32 bytes of `y` with x's sign bit `sign`. */
function encode(y: bigint, sign: 0 | 1): Uint8Array {
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = Number((y >> BigInt(8 * i)) & 0xffn);
  bytes[31]! |= sign << 7;
  return bytes;
}

const yOf = (bytes: Uint8Array): bigint => bytes.reduceRight((y, byte, i) => (y << 8n) | BigInt(i === 31 ? byte & 0x7f : byte), 0n);

/** The 8 points of small order, found with @noble's arithmetic: the torsion part (P·L) of a point outside the prime subgroup. */
function smallOrderPoints(): ed.Point[] {
  for (let seed = 1; ; seed++) {
    let point: ed.Point;
    try {
      point = ed.Point.fromBytes(encode(BigInt(seed), 0));
    } catch {
      continue; // not on the curve
    }
    const torsion = point.multiplyUnsafe(ORDER - 1n).add(point);
    if (torsion.double().double().is0()) continue; // order below 8: does not generate them all
    return Array.from({ length: 8 }, (_, k) => (k === 0 ? ed.Point.ZERO : torsion.multiplyUnsafe(BigInt(k))));
  }
}

/** Every encoding of a point: both signs of x, and y + p where that still fits in 255 bits. */
function encodingsOf(point: ed.Point): Uint8Array[] {
  const y = yOf(point.toBytes());
  const ys = y + P < 2n ** 255n ? [y, y + P] : [y];
  return ys.flatMap((each) => [encode(each, 0), encode(each, 1)]);
}

/** The identity point: 01 00..00. */
const IDENTITY = encode(1n, 0);
/** R = identity, S = 0: verifies for every message under a key of small order. */
const KEYLESS_SIGNATURE = new Uint8Array(64);
KEYLESS_SIGNATURE[0] = 1;

describe("public keys an agent id may stand for", () => {
  it("refuses every encoding of each of the 8 points of small order, and the verifier really takes a keyless signature under one", async () => {
    const points = smallOrderPoints();
    expect(new Set(points.map((point) => toBase64Url(point.toBytes()))).size).toBe(8);
    for (const point of points) {
      expect(point.isSmallOrder()).toBe(true);
      for (const key of encodingsOf(point)) {
        expect(isSignerKey(key)).toBe(false);
        expect(publicKeyOfAgent(agentIdOf(key))).toBeUndefined();
      }
    }
    // Why: the runtime's verify accepts R = identity, S = 0 under the identity for any message.
    expect(await verify(KEYLESS_SIGNATURE, new TextEncoder().encode("anything"), IDENTITY)).toBe(true);
  });

  it("refuses every non-canonical encoding (y of p or more), of whatever point", () => {
    for (let y = P; y < 2n ** 255n; y++) for (const sign of [0, 1] as const) expect(isSignerKey(encode(y, sign))).toBe(false);
  });

  it("takes the key of every secret key, and agrees with @noble on any point it decodes", () => {
    for (let seed = 0; seed < 64; seed++) {
      const key = publicKeyOf(new Uint8Array(32).fill(seed));
      expect(isSignerKey(key)).toBe(true);
      expect(publicKeyOfAgent(agentIdOf(key))).toEqual(key);
    }
    const random = seededRandom(25519);
    let decoded = 0;
    for (let i = 0; i < 400; i++) {
      const bytes = random.bytes(32);
      let point: ed.Point;
      try {
        point = ed.Point.fromBytes(bytes); // strict: refuses non-canonical encodings and points off the curve
      } catch {
        continue;
      }
      decoded++;
      expect(isSignerKey(bytes)).toBe(!point.isSmallOrder());
    }
    expect(decoded).toBeGreaterThan(100);
  });

  it("a checkpoint or a snapshot signed without a secret, as the identity point's agent, does not verify", async () => {
    const session = `${agentIdOf(IDENTITY)}~anyoneanyone` as SessionId;
    const doc = `doc_${toBase64Url(new Uint8Array(32))}` as DocId;
    const signature = toBase64Url(KEYLESS_SIGNATURE);
    expect(await verify(KEYLESS_SIGNATURE, checkpointMessage(doc, session, 1, GENESIS_HASH), IDENTITY)).toBe(true);
    expect(await verifyCheckpoint(signature, doc, session, 1, GENESIS_HASH)).toBe(false);
    expect(await verifySnapshot({ doc, session, covers: { [session]: 1 }, data: "state", at: 1_700_000_000_000, signature })).toBe(false);
  });
});
