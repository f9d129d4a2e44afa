// Byte and text encodings: base64url (checked against Node's own encoder), canonical JSON, and UTF-8 length
// (checked against TextEncoder, which is what a WebSocket text frame costs on the wire).
import { describe, expect, it } from "vitest";
import { canonicalJson, encodeTransaction, fromBase64Url, hasNoLoneSurrogate, isWellFormedText, jsonStringBytes, toBase64Url, utf8Length, type Json } from "../../protocol/index.ts";
import { plainFromBase64Url, plainToBase64Url } from "../../protocol/plain-base64url.ts";
import { seededRandom } from "./seeded-random.ts";
import { base64urlSamples, longBase64urlRefusals } from "../support/base64url-cases.ts";

const nodeBase64Url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

describe("base64url", () => {
  const random = seededRandom(0xba5e64);
  const samples = Array.from({ length: 41 }, (_, length) => random.bytes(length));

  it.each(samples.map((bytes) => [bytes.length, bytes] as const))("round-trips %i random bytes", (_length, bytes) => {
    const text = toBase64Url(bytes);
    expect(text).toBe(nodeBase64Url(bytes)); // same text as an independent RFC 4648 encoder
    expect(text).not.toMatch(/[=+/]/);
    expect(fromBase64Url(text)).toEqual(bytes);
  });

  it("round-trips edge bytes 0x00 and 0xff at every length up to 40", () => {
    for (let length = 0; length <= 40; length++) {
      for (const fill of [0x00, 0xff]) {
        const bytes = new Uint8Array(length).fill(fill);
        expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
      }
    }
  });

  it("decodes the empty string to no bytes", () => {
    expect(fromBase64Url("")).toEqual(new Uint8Array(0));
  });

  it.each([
    ["padding", "AA=="],
    ["standard base64 plus", "ab+c"],
    ["standard base64 slash", "ab/c"],
    ["space", "ab c"],
    ["newline", "abcd\n"],
    ["non-ASCII letter", "abcé"],
    ["length 1", "A"],
    ["length 5", "AAAAA"],
    ["length 9", "AAAAAAAAA"],
  ])("rejects %s: %j", (_what, text) => {
    expect(fromBase64Url(text)).toBeUndefined();
  });

  it.each([
    // One byte leaves 4 spare bits in the second character; two bytes leave 2 in the third.
    ["AB", "AA"],
    ["AP", "AA"],
    ["AAB", "AAA"],
    ["AAD", "AAA"],
  ])("rejects non-canonical %j (trailing bits set) but accepts %j", (bad, good) => {
    expect(fromBase64Url(bad)).toBeUndefined();
    expect(fromBase64Url(good)).toBeDefined();
  });

  it("has exactly one text for each byte string: every 2- and 3-character text decodes only if it re-encodes to itself", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (const a of alphabet) {
      for (const b of alphabet) {
        const text = a + b;
        const bytes = fromBase64Url(text);
        if (bytes) expect(toBase64Url(bytes)).toBe(text);
        expect(bytes !== undefined).toBe(Buffer.from(Buffer.from(text, "base64url")).toString("base64url") === text);
      }
    }
  });
});

describe("base64url natively (node:buffer) and in JavaScript (browsers)", () => {
  const random = seededRandom(0x64b1);
  const samples = base64urlSamples(random);

  it("gives the same text and the same bytes both ways, at every length", () => {
    for (const bytes of samples) {
      const text = toBase64Url(bytes);
      expect(text).toBe(plainToBase64Url(bytes));
      const decoded = fromBase64Url(text);
      expect(decoded).toEqual(bytes);
      expect(decoded).toEqual(plainFromBase64Url(text));
    }
  });

  it("encodes a view into a larger buffer as the view's bytes only", () => {
    const whole = random.bytes(600);
    const view = whole.subarray(7, 507);
    expect(toBase64Url(view)).toBe(plainToBase64Url(view.slice()));
  });

  it("gives back bytes of their own, not a view into a shared pool", () => {
    const bytes = fromBase64Url(toBase64Url(samples[300]!))!;
    expect(bytes.constructor).toBe(Uint8Array);
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(300);
  });

  it.each(longBase64urlRefusals(random))("refuses a long text with %s, as the JavaScript decoder does", (_what, text) => {
    expect(text.length).toBeGreaterThanOrEqual(256);
    expect(plainFromBase64Url(text)).toBeUndefined();
    expect(fromBase64Url(text)).toBeUndefined();
  });
});

describe("canonicalJson", () => {
  it("sorts keys recursively, in objects nested inside arrays too", () => {
    const value: Json = { b: 1, a: { d: [{ z: 1, y: 2 }], c: null }, "": true };
    expect(canonicalJson(value)).toBe('{"":true,"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
  });

  it("gives the same text for objects that differ only in key order", () => {
    expect(canonicalJson({ x: 1, y: { p: "q", o: "r" } })).toBe(canonicalJson({ y: { o: "r", p: "q" }, x: 1 }));
  });

  it("orders keys by UTF-16 code unit, not by locale", () => {
    // "Z" (0x5a) < "a" (0x61) < "é" (0xe9) < "😀" (0xd83d...) < "ｚ" (0xff5a)
    expect(canonicalJson({ "ｚ": 0, "😀": 0, é: 0, a: 0, Z: 0 })).toBe('{"Z":0,"a":0,"é":0,"😀":0,"ｚ":0}');
  });

  it("writes no whitespace and keeps array order", () => {
    expect(canonicalJson([3, "two", [1], {}, false])).toBe('[3,"two",[1],{},false]');
  });

  it("drops undefined members like JSON.stringify", () => {
    const value = { keep: 1, gone: undefined } as unknown as Json;
    expect(canonicalJson(value)).toBe('{"keep":1}');
    expect(canonicalJson({ outer: { gone: undefined, kept: "x" } } as unknown as Json)).toBe('{"outer":{"kept":"x"}}');
  });

  it("escapes strings exactly as JSON.stringify does", () => {
    const text = 'quote " backslash \\ newline \n control \u0001 lone \ud800';
    expect(canonicalJson({ text })).toBe(`{"text":${JSON.stringify(text)}}`);
  });

  it.each([NaN, Infinity, -Infinity])("rejects the non-finite number %s, also when nested", (bad) => {
    expect(() => canonicalJson(bad)).toThrow(TypeError);
    expect(() => canonicalJson({ deep: [1, { bad }] })).toThrow(TypeError);
  });

  it("writes valid JSON for an array holding undefined", () => {
    const text = canonicalJson([1, undefined] as unknown as Json);
    expect(() => JSON.parse(text)).not.toThrow();
  });
});

describe("encodeTransaction", () => {
  // It writes the canonical JSON directly; it must be the bytes canonicalJson gives, which the hash chain is.
  it.each([
    [0, "plain"],
    [1_780_000_000_123, 'quote " backslash \\ newline \n control \u0001 lone \ud800 astral 😀 \u2028'],
    [Number.MAX_SAFE_INTEGER, ""],
    [-0, "zero"],
    [1e21, "large"],
    [1.5, "fraction"],
  ])("encodes at %s as canonical JSON, text and bytes alike", (at, data) => {
    expect(new TextDecoder().decode(encodeTransaction({ at, data }))).toBe(canonicalJson({ at, data }));
    const bytes = new Uint8Array([0, 255, 7]);
    const encoded = encodeTransaction({ at, data: bytes });
    const head = canonicalJson({ at, bytes: 3 });
    expect(new TextDecoder().decode(encoded.subarray(0, encoded.length - 3))).toBe(head);
    expect([...encoded.subarray(encoded.length - 3)]).toEqual([0, 255, 7]);
  });

  it("refuses a time that has no canonical form", () => {
    expect(() => encodeTransaction({ at: Number.NaN, data: "x" })).toThrow(TypeError);
  });
});

describe("utf8Length", () => {
  const encoded = (text: string): number => new TextEncoder().encode(text).length;

  it.each([
    ["empty", ""],
    ["ASCII", "hello, world ~ 0123456789"],
    ["2-byte characters", "é ñ ß Ω ж"],
    ["3-byte characters", "一 € ✓ \uffff"],
    ["4-byte characters", "😀 𝄞 🏳️‍🌈"],
    ["a mix", "a é 一 😀 z"],
    ["a lone high surrogate at the end", "abc\ud800"],
    ["a lone high surrogate alone", "\ud800"],
    ["a lone low surrogate", "x\udc00y"],
    ["a low surrogate before a high one", "\udc00\ud800"],
    ["a lone high surrogate before ASCII", "\ud800a"],
  ])("equals TextEncoder's length for %s", (_what, text) => {
    expect(utf8Length(text)).toBe(encoded(text));
  });

  it.each([
    ["two high surrogates", "\ud800\ud800"],
    ["a high surrogate before a 2-byte character", "\ud800é"],
    ["a high surrogate before a 3-byte character", "\ud800一"],
  ])("equals TextEncoder's length for %s", (_what, text) => {
    expect(utf8Length(text)).toBe(encoded(text));
  });

  it("equals TextEncoder's length for a thousand random strings of UTF-16 units", () => {
    const random = seededRandom(0x7e87);
    // Draw from ranges that hit every UTF-8 length; surrogates only as well-formed pairs here.
    const units = (): string => {
      const pick = random.below(4);
      if (pick === 0) return String.fromCharCode(random.below(0x80));
      if (pick === 1) return String.fromCharCode(0x80 + random.below(0x800 - 0x80));
      if (pick === 2) return String.fromCharCode(0xe000 + random.below(0x2000));
      return String.fromCodePoint(0x10000 + random.below(0x100000));
    };
    for (let i = 0; i < 1000; i++) {
      const text = Array.from({ length: random.below(20) }, units).join("");
      expect(utf8Length(text)).toBe(encoded(text));
    }
  });

  it("equals TextEncoder's length for long text counted in pieces, pairs and lone surrogates wherever a piece ends", () => {
    // Longer text is counted by the encoder 16 KiB at a time: a pair (or a lone surrogate) lands on every
    // side of those ends across these lengths.
    const random = seededRandom(0x10f9);
    const pieces = ["a", "é", "一", "😀", "\ud800", "\udc00", "x".repeat(100)];
    for (let i = 0; i < 60; i++) {
      const text = Array.from({ length: 20 + random.below(12_000) }, () => pieces[random.below(pieces.length)]!).join("");
      expect(utf8Length(text)).toBe(encoded(text));
    }
    for (let shift = 0; shift < 8; shift++) {
      // 3-byte characters up to the first piece's end, then pairs: one straddles it at some shift.
      const text = `${"a".repeat(shift)}${"一".repeat(5_460)}${"😀".repeat(50)}\ud800`;
      expect(utf8Length(text)).toBe(encoded(text));
    }
  });
});

describe("jsonStringBytes", () => {
  const wireBytes = (text: string) => new TextEncoder().encode(JSON.stringify(text)).length;
  it.each([
    ["plain ASCII", "hello world"],
    ["empty", ""],
    ["JSON text with quotes", '{"t":1,"p":"xx"}'],
    ["backslashes and controls", "a\\b\n\t\u0001\u007f"],
    ["2-, 3- and 4-byte characters", "é一😀"],
    ["non-ASCII with quotes", '"é" said 一'],
    ["a lone surrogate", "a\ud800b"],
  ])("counts %s exactly as it travels in a frame", (_name, text) => {
    expect(jsonStringBytes(text)).toBe(wireBytes(text));
  });
});

describe("isWellFormedText", () => {
  // The runtime's String.prototype.isWellFormed where it has one, a regular expression where it does not:
  // both must refuse exactly the text with a lone surrogate, which has no UTF-8 form.
  const random = seededRandom(0x5e11);
  const pieces = ["a", "é", "一", "😀", "\ud83d", "\ude00", "\udfff\ud800", "\u0000", "x".repeat(40)];
  const samples = Array.from({ length: 2_000 }, () => Array.from({ length: random.below(6) }, () => pieces[random.below(pieces.length)]!).join(""));
  const lone = (text: string) => [...text].some((character) => character.length === 1 && character.charCodeAt(0) >= 0xd800 && character.charCodeAt(0) <= 0xdfff);

  it("refuses exactly the text with a lone surrogate, the runtime's check and the fallback alike", () => {
    expect(samples.filter(lone).length).toBeGreaterThan(500);
    expect(samples.filter((text) => !lone(text)).length).toBeGreaterThan(200);
    for (const text of samples) {
      expect(isWellFormedText(text)).toBe(!lone(text));
      expect(hasNoLoneSurrogate(text)).toBe(!lone(text));
    }
  });
});
