// Hashing and Ed25519 signatures. Hashing, signing and deriving public keys are synchronous: natively
// through node:crypto where the runtime has it, with @noble elsewhere (the same bytes either way);
// verification prefers the runtime's native WebCrypto Ed25519 (workerd, Node 22, current browsers),
// which is many times faster than pure JS, and falls back to @noble where the runtime lacks it.
import * as ed from "@noble/ed25519";
import { sha256 as nobleSha256, sha512 } from "@noble/hashes/sha2.js";
import { shake128 as plainShake128 } from "./shake128.ts";
import { fromBase64Url, utf8, utf8Into } from "./encoding.ts";
import { nodeBuiltin } from "./node-builtin.ts";

// @noble/ed25519 3.x needs a synchronous SHA-512 for its synchronous API.
ed.hashes.sha512 = sha512;

type NodeHash = { update(data: Uint8Array | string): NodeHash; digest(): Uint8Array };
type NodeCrypto = {
  createHash(algorithm: "sha256" | "shake128", options?: { outputLength: number }): NodeHash;
  createPrivateKey(options: { key: Uint8Array; format: "der"; type: "pkcs8" }): object;
  createPublicKey(key: object): { export(options: { format: "der"; type: "spki" }): Uint8Array };
  sign(algorithm: null, data: Uint8Array, key: object): Uint8Array;
};

// Where the runtime has node:crypto (Node, and workerd with nodejs_compat), hash natively: in workerd
// pure-JS SHA-256 is several times slower, and a session log hashes every transaction. Browsers use @noble.
const nodeCrypto = nodeBuiltin<NodeCrypto>("node:crypto");

export const sha256: (bytes: Uint8Array) => Uint8Array = nodeCrypto
  ? (bytes) => nodeCrypto.createHash("sha256").update(bytes).digest()
  : (bytes) => nobleSha256(bytes);

/** Parts up to this many bytes in all (text counted at 3 bytes a UTF-16 unit, its most) are joined before @noble hashes them. */
const JOINED_PARTS_MAX_BYTES = 64 * 1024;
/** Where plainSha256Parts joins them: kept for the next call, grown as needed up to JOINED_PARTS_MAX_BYTES. */
let joined = new Uint8Array(1024);

/**
 * sha256Parts with @noble: the parts written one after the other into one buffer kept for the next call
 * (text straight in as UTF-8), then hashed at once. A browser restoring a document hashes every own
 * transaction again, and an encoded copy of each text and an incremental hash fed part by part cost it
 * almost half as much again as the hashing (bench/HISTORY.md, "An own chain hashed again in a browser").
 */
export function plainSha256Parts(parts: readonly (Uint8Array | string)[]): Uint8Array {
  let most = 0;
  for (const part of parts) most += typeof part === "string" ? part.length * 3 : part.byteLength;
  if (most > JOINED_PARTS_MAX_BYTES) {
    const hash = nobleSha256.create();
    for (const part of parts) hash.update(typeof part === "string" ? utf8(part) : part);
    return hash.digest();
  }
  if (joined.length < most) joined = new Uint8Array(Math.max(most, joined.length * 2));
  let length = 0;
  for (const part of parts) {
    if (typeof part === "string") length += utf8Into(part, joined.subarray(length));
    else {
      joined.set(part, length);
      length += part.byteLength;
    }
  }
  return nobleSha256(joined.subarray(0, length));
}

/**
 * SHA-256 of `parts` one after the other, text as its UTF-8, without encoding and joining them into a copy
 * of their own first: a session log hashes every transaction it takes, and encoding each and joining it to
 * the hash before it cost more than the hashing. Natively where the runtime has node:crypto, fed part by part.
 */
export const sha256Parts: (parts: readonly (Uint8Array | string)[]) => Uint8Array = nodeCrypto
  ? (parts) => {
      const hash = nodeCrypto.createHash("sha256");
      for (const part of parts) hash.update(part);
      return hash.digest();
    }
  : plainSha256Parts;

/** Whether the runtime's node:crypto has SHAKE128 (Node does; other runtimes may not). */
function hasNativeShake(crypto: NodeCrypto | undefined): crypto is NodeCrypto {
  try {
    return crypto?.createHash("shake128", { outputLength: 8 }).update(new Uint8Array(1)).digest().length === 8;
  } catch {
    return false;
  }
}

/** SHAKE128 with `length` bytes of output: natively where the runtime has it, else in plain JavaScript (shake128.ts). */
export const shake128: (bytes: Uint8Array, length: number) => Uint8Array = hasNativeShake(nodeCrypto)
  ? (bytes, length) => nodeCrypto.createHash("shake128", { outputLength: length }).update(bytes).digest()
  : plainShake128;

export function generateSecretKey(): Uint8Array {
  return ed.utils.randomSecretKey();
}

/** An SPKI-wrapped Ed25519 public key ends with the key's 32 bytes. */
const SPKI_ED25519_PREFIX_BYTES = 12;
const publicKeys = new Map<string, Uint8Array>();

/**
 * The public key of an Ed25519 secret key: natively where node:crypto is available (about 3 times faster),
 * and each kept for the last few keys, since importIdentity and createClient's check derive it for the same
 * key in a row (0.2-0.3 ms a derivation with @noble, on the way to a client's first connection).
 */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  const id = keyId(secretKey);
  let key = publicKeys.get(id);
  if (!key) {
    key = nodeCrypto
      ? new Uint8Array(nodeCrypto.createPublicKey(nodePrivateKey(nodeCrypto, secretKey)).export({ format: "der", type: "spki" }).subarray(SPKI_ED25519_PREFIX_BYTES))
      : ed.getPublicKey(secretKey);
    if (publicKeys.size >= 16) publicKeys.delete(publicKeys.keys().next().value!);
    publicKeys.set(id, key);
  }
  return key.slice(); // the caller's own copy: the kept one stays as derived
}

/** A key's 32 bytes as a string, to find it in a cache (apply reads the bytes by index: spreading them iterates). */
const keyId = (key: Uint8Array): string => String.fromCharCode.apply(null, key as unknown as number[]);

// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410), so node:crypto can sign with the same key.
const PKCS8_ED25519_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const privateKeys = new Map<string, object>();

function nodePrivateKey(crypto: NodeCrypto, secretKey: Uint8Array): object {
  const id = keyId(secretKey);
  let key = privateKeys.get(id);
  if (!key) {
    const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + 32);
    der.set(PKCS8_ED25519_PREFIX);
    der.set(secretKey, PKCS8_ED25519_PREFIX.length);
    key = crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    if (privateKeys.size >= 16) privateKeys.delete(privateKeys.keys().next().value!);
    privateKeys.set(id, key);
  }
  return key;
}

/**
 * Ed25519 signature (deterministic: the same bytes from either implementation). Native where node:crypto
 * is available, with the key parsed once; @noble rebuilds the key for every signature.
 */
export const sign: (message: Uint8Array, secretKey: Uint8Array) => Uint8Array = nodeCrypto
  ? (message, secretKey) => nodeCrypto.sign(null, message, nodePrivateKey(nodeCrypto, secretKey))
  : (message, secretKey) => ed.sign(message, secretKey);

type Verifier = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => Promise<boolean>;

const nobleVerify: Verifier = async (signature, message, publicKey) => {
  try {
    return ed.verify(signature, message, publicKey);
  } catch {
    return false; // malformed point or length: not a valid signature
  }
};

// Imported keys are cached: a busy session verifies one batch after another with the same key.
const keyCache = new Map<string, Promise<CryptoKey>>();
const KEY_CACHE_SIZE = 256;

function importKey(publicKey: Uint8Array): Promise<CryptoKey> {
  const id = keyId(publicKey);
  let key = keyCache.get(id);
  if (!key) {
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
    key = crypto.subtle.importKey("raw", publicKey as BufferSource, { name: "Ed25519" }, false, ["verify"]);
    keyCache.set(id, key);
    key.catch(() => keyCache.delete(id));
  }
  return key;
}

const webCryptoVerify: Verifier = async (signature, message, publicKey) => {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    const key = await importKey(publicKey);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature as BufferSource, message as BufferSource);
  } catch {
    return false;
  }
};

let chosen: Promise<Verifier> | undefined;

// A known-good signature for the probe: the key of the seed 32 × 0x07 and its signature of [1, 2, 3]
// (test/unit/vectors.test.ts checks them). Constants, because deriving the key with @noble builds its
// point tables, tens of milliseconds a relay would pay on the first hello after every start.
const PROBE_PUBLIC_KEY = "6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw";
const PROBE_SIGNATURE = "g5mOcZlHYS0OgtQnRyxoWmSxTZrqZ5aMvMOXM_JzdvO46phYwk4GH-uLze_Ok6qSGmvI7hyrF_aNXR_8DcLYAA";
export const VERIFIER_PROBE = { seedByte: 7, message: [1, 2, 3], publicKey: PROBE_PUBLIC_KEY, signature: PROBE_SIGNATURE } as const;

async function chooseVerifier(): Promise<Verifier> {
  // Probe once with a known-good signature: some runtimes expose the algorithm name but not the operation.
  try {
    const message = new Uint8Array(VERIFIER_PROBE.message);
    const ok = await webCryptoVerify(fromBase64Url(PROBE_SIGNATURE)!, message, fromBase64Url(PROBE_PUBLIC_KEY)!);
    return ok ? webCryptoVerify : nobleVerify;
  } catch {
    return nobleVerify;
  }
}

/** Verifies an Ed25519 signature; never throws, a malformed input is simply not valid. */
export async function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  chosen ??= chooseVerifier();
  return (await chosen)(signature, message, publicKey);
}
