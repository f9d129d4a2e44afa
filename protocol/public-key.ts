// Which 32 bytes an agent id may stand for: an Ed25519 public key that only the holder of its secret key can
// sign for. Verification (RFC 8032, WebCrypto, node:crypto) also takes a point of small order as a key, and
// for those no secret is needed: under the identity point (01 00..00) the signature R = identity, S = 0
// verifies for every message, so anyone could act as that agent. libsodium refuses such keys too. No secret
// key derives one (its key is a multiple of the base point other than the identity), so no client is refused.
// Checked on the bytes (microseconds, no point decompression): the curve has 8 points of small order, and
// their encodings are the five y coordinates below with either sign of x; y + p, where it fits in 255 bits,
// encodes the same point as y, and every such non-canonical encoding is refused as well.

/** The field prime, 2^255 - 19. */
const P = 2n ** 255n - 19n;
/**
 * y of two of the four points of order 8 (p minus it, of the other two); in decimal
 * 2707385501144840649318225287225658788936804267575313519463743609750303402022.
 */
const ORDER_8_Y = 0x5fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;
/** y of every point of small order: the identity (1), order 2 (p - 1), order 4 (0), order 8. */
const SMALL_ORDER_Y = new Set([1n, P - 1n, 0n, ORDER_8_Y, P - ORDER_8_Y]);
const SIGN_BIT_MASK = 0x7f;

/**
 * Whether `key` is the canonical encoding of an Ed25519 point not of small order: a key whose signatures
 * only its secret's holder can make (a point that is not on the curve fails every verification anyway).
 */
export function isSignerKey(key: Uint8Array): boolean {
  if (key.length !== 32) return false;
  let y = BigInt(key[31]! & SIGN_BIT_MASK); // little-endian: the last byte is the most significant
  for (let i = 30; i >= 0; i--) y = (y << 8n) | BigInt(key[i]!);
  return y < P && !SMALL_ORDER_Y.has(y);
}
