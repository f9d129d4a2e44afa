// Hashing and Ed25519 signatures. SHA-256 and signing use @noble (synchronous, same bytes everywhere);
// verification prefers the runtime's native WebCrypto Ed25519 (workerd, Node 22, current browsers),
// which is many times faster than pure JS, and falls back to @noble where the runtime lacks it.
import * as ed from "@noble/ed25519";
import { sha256 as nobleSha256, sha512 } from "@noble/hashes/sha2.js";

// @noble/ed25519 3.x needs a synchronous SHA-512 for its synchronous API.
ed.hashes.sha512 = sha512;

type NodeCrypto = { createHash(algorithm: "sha256"): { update(data: Uint8Array): { digest(): Uint8Array } } };

// Where the runtime has node:crypto (Node, and workerd with nodejs_compat), hash natively: in workerd
// pure-JS SHA-256 is several times slower, and a session log hashes every transaction. Browsers use @noble.
const nodeCrypto = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(
  "node:crypto",
) as NodeCrypto | undefined;

export const sha256: (bytes: Uint8Array) => Uint8Array = nodeCrypto
  ? (bytes) => nodeCrypto.createHash("sha256").update(bytes).digest()
  : (bytes) => nobleSha256(bytes);

export function generateSecretKey(): Uint8Array {
  return ed.utils.randomSecretKey();
}

export const publicKeyOf = (secretKey: Uint8Array): Uint8Array => ed.getPublicKey(secretKey);

export const sign = (message: Uint8Array, secretKey: Uint8Array): Uint8Array => ed.sign(message, secretKey);

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
  const id = String.fromCharCode(...publicKey);
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

async function chooseVerifier(): Promise<Verifier> {
  // Probe once with a known-good signature: some runtimes expose the algorithm name but not the operation.
  try {
    const secretKey = new Uint8Array(32).fill(7);
    const message = new Uint8Array([1, 2, 3]);
    const ok = await webCryptoVerify(sign(message, secretKey), message, publicKeyOf(secretKey));
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
