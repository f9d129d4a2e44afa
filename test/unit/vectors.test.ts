// Published test vectors. Another implementation of the Weft protocol can check itself against these
// literals: agent id, document id, the session hash chain, the checkpoint signature and the hello signature.
// Each literal is also recomputed here with node:crypto alone, from the byte layouts the protocol documents,
// so the vectors are not just the code agreeing with itself.
//
// Inputs: Ed25519 secret key (seed) = 32 bytes of 0x01; session "<agent>~session-one"; group "g1";
// header = testHeader(agent, "g1"); the three transactions below; hello nonce "nonce-1".
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import * as ed from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import {
  GENESIS_HASH,
  VERIFIER_PROBE,
  publicKeyOf,
  chainHash,
  nextChainHash,
  sha256Parts,
  plainSha256Parts,
  checkpointMessage,
  fromBase64Url,
  generateSecretKey,
  helloMessage,
  sign,
  signCheckpoint,
  toBase64Url,
  verifyCheckpoint,
  type Transaction,
} from "../../protocol/index.ts";
import { testAgent, testHeader } from "../support/identity.ts";

const AGENT = "ag_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w";
const SESSION = `${AGENT}~session-one`;
const HEADER_JSON =
  `{"createdAt":1700000000000,"creator":"${AGENT}","group":"g1","kind":"json","meta":{"title":"test"},"nonce":"nonce-0000"}`;
const DOC = "doc_7E55Ke1LH2U9qzZalhUhrQfdE-Qm3Tj8LLzxt_KdYQQ";
// ASCII; 2-, 3- and 4-byte UTF-8; JSON that needs escaping.
const TRANSACTIONS: Transaction[] = [
  { at: 1_700_000_000_000, data: "hello" },
  { at: 1_700_000_000_001, data: "wörld ✓ 😀" },
  { at: 1_700_000_000_002, data: '{"op":"set","path":["a"],"value":1}\n' },
];
const CHAIN = [
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // genesis: 32 zero bytes
  "IS201_9lh_aKuu6XarEwNI6ihc5b_ZO-8z9xdfTSljA",
  "QC4ZXBnPic8M2ABf3LpExsicagClI9MoFR6ulMKqvy4",
  "0-U8G7XjAsEGnNMLUDeZ1l7t5s0YFH4EvEo590eNSHs",
];
// The chain goes on with bytes: every byte width, no bytes, and the UTF-8 bytes of "hello" (which hash
// unlike the text "hello": a transaction of bytes is {"at":…,"bytes":<length>} followed by the bytes).
const BINARY_TRANSACTIONS: Transaction[] = [
  { at: 1_700_000_000_003, data: Uint8Array.of(0x00, 0x01, 0x7b, 0x22, 0xff) },
  { at: 1_700_000_000_004, data: new Uint8Array(0) },
  { at: 1_700_000_000_005, data: Uint8Array.of(0x68, 0x65, 0x6c, 0x6c, 0x6f) },
];
const BINARY_CHAIN = [
  "AYWc-zEiieaRtqms-gj32cyaUdXX5xeWoOzea22PbPU",
  "5BBKNNzgOQGHU4NS8NBUpSqkFgXF-lz2CY42BQspSHg",
  "LTSkqitbl8kqpgmEpClr75LUwDUmKEeVQvwypchRrSY",
];
/** The UTF-8 bytes of "hello" alone, at the time of the text "hello" (CHAIN[1]). */
const HELLO_BYTES_HASH = "zg0SN9JlF3b3HzixKv2pFvDf4a91rO8Oi8Gc-rk6tVQ";
/** The checkpoint over all six transactions, text and bytes. */
const BINARY_CHECKPOINT_SIGNATURE = "Tcm1osG33ltu0P0Z0VHY29ngI0Rs2qi7mKuaf9Oj8YuahHdNBmvTNJV5MQvJKrcdSlrZMrOToc7s2YsPP-NmAA";
const CHECKPOINT_SIGNATURE = "WPuebiar0wHX3fUr2ZGFE12_M1Nouj6V_7kWidDmYaRzyPyxV4dITwvisX0T2HlqN-pof9U-jAB_30bGZ7-IBw";
const HELLO_SIGNATURE = "tTfo6YtB5oGLnYriwDjaRHqD_qZPH4VscWVlsTiA8pa1SjL0etCq07UMZGd97Hj027epPbc-dQKqZfveOB9_Bg";

const alice = testAgent(1);

// Independent Ed25519 keys from node:crypto: the 32-byte seed wrapped in its fixed PKCS#8 DER prefix (RFC 8410).
const seed = Buffer.alloc(32, 0x01);
const privateKey: KeyObject = createPrivateKey({
  key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
  format: "der",
  type: "pkcs8",
});
const publicJwk = createPublicKey(privateKey).export({ format: "jwk" });
const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: AGENT.slice(3) }, format: "jwk" });

const sha256 = (...parts: Buffer[]): Buffer => createHash("sha256").update(Buffer.concat(parts)).digest();
const b64u = (bytes: Buffer): string => bytes.toString("base64url");

describe("identity vectors", () => {
  it("the agent id is ag_ + base64url of the Ed25519 public key", () => {
    expect(alice.agent).toBe(AGENT);
    expect(publicJwk.x).toBe(AGENT.slice(3));
    expect(alice.session).toBe(SESSION);
  });

  it("publicKeyOf gives @noble's public key for any secret key, and a copy the caller may change", () => {
    for (let i = 0; i < 40; i++) {
      const secretKey = generateSecretKey();
      const derived = publicKeyOf(secretKey);
      expect(b64u(Buffer.from(derived))).toBe(b64u(Buffer.from(ed.getPublicKey(secretKey))));
      derived.fill(0);
      expect(b64u(Buffer.from(publicKeyOf(secretKey)))).toBe(b64u(Buffer.from(ed.getPublicKey(secretKey))));
    }
  });

  it("the document id is doc_ + base64url(SHA-256(canonical header JSON))", () => {
    const { id } = testHeader(alice, "g1");
    expect(id).toBe(DOC);
    expect(`doc_${b64u(sha256(Buffer.from(HEADER_JSON, "utf8")))}`).toBe(DOC);
  });
});

describe("sha256Parts", () => {
  it("hashes its parts as one joined input, text as its UTF-8", () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const joined = Buffer.concat([Buffer.from(bytes), Buffer.from('{"at":1,"data":"é✓ \\ud83d"}', "utf8"), Buffer.from(bytes)]);
    expect(b64u(Buffer.from(sha256Parts([bytes, '{"at":1,"data":"é✓ \\ud83d"}', bytes])))).toBe(b64u(sha256(joined)));
    expect(b64u(Buffer.from(sha256Parts([])))).toBe(b64u(sha256(Buffer.alloc(0))));
  });

  it("hashes the same without node:crypto (browsers), joined or, past 64 KiB, part by part", () => {
    // A lone surrogate is encoded as U+FFFD, as TextEncoder does; a 4-byte character from a surrogate pair.
    const texts = ["", "a", '{"at":1,"data":"é✓ \ud83d"}', "lone \ud800 surrogate", "pair 😀 and é", "x".repeat(30_000), "é".repeat(25_000)];
    const bytes = [new Uint8Array(0), new Uint8Array([0, 1, 2, 250, 255]), new Uint8Array(70_000).fill(7)];
    const cases = [[], ...texts.map((text) => [bytes[1]!, text]), ...texts.map((text) => [text, bytes[2]!, text]), [bytes[0]!, bytes[1]!, texts[4]!, bytes[1]!]];
    for (const parts of cases) {
      const joinedInput = Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(new TextEncoder().encode(part)) : Buffer.from(part))));
      expect(b64u(Buffer.from(plainSha256Parts(parts)))).toBe(b64u(sha256(joinedInput)));
    }
    // The buffer it keeps between calls leaves nothing of a longer input in a shorter one's hash.
    expect(b64u(Buffer.from(plainSha256Parts(["short"])))).toBe(b64u(sha256(Buffer.from("short"))));
  });
});

describe("hash chain vectors", () => {
  it("chains from GENESIS_HASH, one literal after each transaction", () => {
    expect(GENESIS_HASH).toBe(CHAIN[0]);
    let hash = GENESIS_HASH;
    TRANSACTIONS.forEach((transaction, index) => {
      hash = chainHash(hash, [transaction]);
      expect(hash).toBe(CHAIN[index + 1]);
    });
  });

  it("gives the same last hash whether the transactions are chained one by one or as a batch", () => {
    expect(chainHash(GENESIS_HASH, TRANSACTIONS)).toBe(CHAIN[3]);
    expect(chainHash(CHAIN[1]!, TRANSACTIONS.slice(1))).toBe(CHAIN[3]);
    expect(chainHash(CHAIN[3]!, [])).toBe(CHAIN[3]);
  });

  it("gives the next hash from the bytes of the one before (nextChainHash), text and bytes alike", () => {
    let hash = Buffer.from(GENESIS_HASH, "base64url") as Uint8Array;
    [...TRANSACTIONS, ...BINARY_TRANSACTIONS].forEach((transaction, index) => {
      hash = nextChainHash(hash, transaction);
      expect(b64u(Buffer.from(hash))).toBe([...CHAIN.slice(1), ...BINARY_CHAIN][index]);
    });
  });

  it("matches hash[i] = SHA-256(hash[i-1] || UTF-8 of {\"at\":..,\"data\":..}) computed with node:crypto", () => {
    let hash: Buffer = Buffer.alloc(32);
    TRANSACTIONS.forEach((transaction, index) => {
      const body = `{"at":${transaction.at},"data":${JSON.stringify(transaction.data)}}`;
      hash = sha256(hash, Buffer.from(body, "utf8"));
      expect(b64u(hash)).toBe(CHAIN[index + 1]);
    });
  });
});

describe("hash chain vectors with bytes", () => {
  it("chains bytes after text, one literal after each transaction", () => {
    let hash = CHAIN[3]!;
    BINARY_TRANSACTIONS.forEach((transaction, index) => {
      hash = chainHash(hash, [transaction]);
      expect(hash).toBe(BINARY_CHAIN[index]);
    });
    expect(chainHash(GENESIS_HASH, [...TRANSACTIONS, ...BINARY_TRANSACTIONS])).toBe(BINARY_CHAIN[2]);
  });

  it("matches hash[i] = SHA-256(hash[i-1] || UTF-8 of {\"at\":..,\"bytes\":<length>} || the bytes) computed with node:crypto", () => {
    let hash: Buffer = Buffer.from(CHAIN[3]!, "base64url");
    BINARY_TRANSACTIONS.forEach((transaction, index) => {
      const bytes = Buffer.from(transaction.data as Uint8Array);
      hash = sha256(hash, Buffer.from(`{"at":${transaction.at},"bytes":${bytes.length}}`, "utf8"), bytes);
      expect(b64u(hash)).toBe(BINARY_CHAIN[index]);
    });
  });

  it("text and the same characters as bytes hash apart", () => {
    const bytes: Transaction = { at: TRANSACTIONS[0]!.at, data: Buffer.from("hello", "utf8") };
    expect(chainHash(GENESIS_HASH, [bytes])).toBe(HELLO_BYTES_HASH);
    expect(HELLO_BYTES_HASH).not.toBe(CHAIN[1]);
    expect(b64u(sha256(Buffer.alloc(32), Buffer.from(`{"at":${bytes.at},"bytes":5}hello`, "utf8")))).toBe(HELLO_BYTES_HASH);
  });

  it("the checkpoint over text and bytes is the signature node:crypto also makes; one flipped bit breaks it", async () => {
    const text = `["weft/session/v1","${DOC}","${SESSION}",6,"${BINARY_CHAIN[2]}"]`;
    expect(signCheckpoint(alice.secretKey, DOC, SESSION, 6, BINARY_CHAIN[2]!)).toBe(BINARY_CHECKPOINT_SIGNATURE);
    expect(b64u(nodeSign(null, Buffer.from(text, "utf8"), privateKey))).toBe(BINARY_CHECKPOINT_SIGNATURE);
    expect(await verifyCheckpoint(BINARY_CHECKPOINT_SIGNATURE, DOC, SESSION, 6, BINARY_CHAIN[2]!)).toBe(true);
    const flipped = BINARY_TRANSACTIONS.map((transaction, index) => (index === 0 ? { ...transaction, data: Uint8Array.of(0x00, 0x01, 0x7b, 0x22, 0xfe) } : transaction));
    const lastHash = chainHash(CHAIN[3]!, flipped);
    expect(await verifyCheckpoint(BINARY_CHECKPOINT_SIGNATURE, DOC, SESSION, 6, lastHash)).toBe(false);
  });
});

describe("signature vectors", () => {
  const checkpointText = `["weft/session/v1","${DOC}","${SESSION}",3,"${CHAIN[3]}"]`;
  const helloText = `["weft/hello/v1","g1","${SESSION}","nonce-1"]`;

  it("the checkpoint message is the canonical JSON array the protocol documents", () => {
    expect(Buffer.from(checkpointMessage(DOC, SESSION, 3, CHAIN[3]!)).toString("utf8")).toBe(checkpointText);
    expect(Buffer.from(helloMessage("g1", SESSION, "nonce-1")).toString("utf8")).toBe(helloText);
  });

  it("the checkpoint signature is the deterministic Ed25519 signature node:crypto also makes", () => {
    expect(signCheckpoint(alice.secretKey, DOC, SESSION, 3, CHAIN[3]!)).toBe(CHECKPOINT_SIGNATURE);
    expect(b64u(nodeSign(null, Buffer.from(checkpointText, "utf8"), privateKey))).toBe(CHECKPOINT_SIGNATURE);
    expect(nodeVerify(null, Buffer.from(checkpointText, "utf8"), publicKey, Buffer.from(CHECKPOINT_SIGNATURE, "base64url"))).toBe(true);
  });

  it("the hello signature for nonce-1 in group g1", () => {
    expect(toBase64Url(sign(helloMessage("g1", SESSION, "nonce-1"), alice.secretKey))).toBe(HELLO_SIGNATURE);
    expect(b64u(nodeSign(null, Buffer.from(helloText, "utf8"), privateKey))).toBe(HELLO_SIGNATURE);
    expect(nodeVerify(null, Buffer.from(helloText, "utf8"), publicKey, Buffer.from(HELLO_SIGNATURE, "base64url"))).toBe(true);
  });
});

describe("the verifier's probe", () => {
  it("holds the public key of its seed and that key's signature of its message, so a runtime whose Ed25519 works passes it", () => {
    const seed = new Uint8Array(32).fill(VERIFIER_PROBE.seedByte);
    expect(toBase64Url(publicKeyOf(seed))).toBe(VERIFIER_PROBE.publicKey);
    expect(toBase64Url(sign(new Uint8Array(VERIFIER_PROBE.message), seed))).toBe(VERIFIER_PROBE.signature);
  });
});

describe("verifyCheckpoint", () => {
  const flipByte = (signature: string, index: number): string => {
    const bytes = fromBase64Url(signature)!;
    bytes[index]! ^= 0x01;
    return toBase64Url(bytes);
  };
  const otherDoc = testHeader(alice, "g1", "nonce-0001").id;

  it("accepts the published vector", async () => {
    expect(await verifyCheckpoint(CHECKPOINT_SIGNATURE, DOC, SESSION, 3, CHAIN[3]!)).toBe(true);
  });

  it.each([0, 31, 32, 63])("rejects the signature with byte %i flipped", async (index) => {
    expect(await verifyCheckpoint(flipByte(CHECKPOINT_SIGNATURE, index), DOC, SESSION, 3, CHAIN[3]!)).toBe(false);
  });

  it("rejects the signature when one transaction changed by one character", async () => {
    const changed = TRANSACTIONS.map((transaction, index) => (index === 1 ? { ...transaction, data: "wörld ✓ 😁" } : transaction));
    const lastHash = chainHash(GENESIS_HASH, changed);
    expect(lastHash).not.toBe(CHAIN[3]);
    expect(await verifyCheckpoint(CHECKPOINT_SIGNATURE, DOC, SESSION, 3, lastHash)).toBe(false);
  });

  it("rejects the signature when one transaction's time changed", async () => {
    const changed = TRANSACTIONS.map((transaction, index) => (index === 0 ? { ...transaction, at: transaction.at + 1 } : transaction));
    expect(await verifyCheckpoint(CHECKPOINT_SIGNATURE, DOC, SESSION, 3, chainHash(GENESIS_HASH, changed))).toBe(false);
  });

  it("rejects the signature for a different document id", async () => {
    expect(otherDoc).not.toBe(DOC);
    expect(await verifyCheckpoint(CHECKPOINT_SIGNATURE, otherDoc, SESSION, 3, CHAIN[3]!)).toBe(false);
  });

  it.each([2, 4])("rejects the signature for count %i instead of 3", async (count) => {
    expect(await verifyCheckpoint(CHECKPOINT_SIGNATURE, DOC, SESSION, count, CHAIN[3]!)).toBe(false);
  });

  it("rejects the signature for another session of the same agent, and a session of another agent", async () => {
    expect(await verifyCheckpoint(CHECKPOINT_SIGNATURE, DOC, testAgent(1, "session-two").session, 3, CHAIN[3]!)).toBe(false);
    expect(await verifyCheckpoint(CHECKPOINT_SIGNATURE, DOC, testAgent(2).session, 3, CHAIN[3]!)).toBe(false);
  });

  it("rejects signatures that are not 64 bytes of base64url", async () => {
    for (const signature of ["", "AAAA", CHECKPOINT_SIGNATURE.slice(0, -2), `${CHECKPOINT_SIGNATURE}AA`, "!".repeat(86)]) {
      expect(await verifyCheckpoint(signature, DOC, SESSION, 3, CHAIN[3]!)).toBe(false);
    }
  });
});
