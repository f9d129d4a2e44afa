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
const SMALL_ORDER_Y = [1n, P - 1n, 0n, ORDER_8_Y, P - ORDER_8_Y];
const SIGN_BIT_MASK = 0x7f;

/** `value` as 32 bytes, little-endian, as a key encodes its y. */
function littleEndian(value: bigint): Uint8Array {
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++, value >>= 8n) bytes[i] = Number(value & 0xffn);
  return bytes;
}

const P_BYTES = littleEndian(P);
const SMALL_ORDER_BYTES = SMALL_ORDER_Y.map(littleEndian);

/** The y that `key` encodes (its sign bit left out) against `value`'s bytes: below it (< 0), equal, or above. */
function compareY(key: Uint8Array, value: Uint8Array): number {
  for (let i = 31; i >= 0; i--) {
    const byte = i === 31 ? key[i]! & SIGN_BIT_MASK : key[i]!; // little-endian: the last byte is the most significant
    if (byte !== value[i]) return byte - value[i]!;
  }
  return 0;
}

/**
 * Whether `key` is the canonical encoding of an Ed25519 point not of small order: a key whose signatures
 * only its secret's holder can make (a point that is not on the curve fails every verification anyway).
 * Compared byte by byte: the relay asks for every batch it stores, so it allocates nothing.
 */
export function isSignerKey(key: Uint8Array): boolean {
  if (key.length !== 32 || compareY(key, P_BYTES) >= 0) return false;
  for (const small of SMALL_ORDER_BYTES) if (compareY(key, small) === 0) return false;
  return true;
}
