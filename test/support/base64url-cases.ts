// What both base64url suites check, the unit tests in Node and test/worker/base64url.test.ts in workerd: byte
// strings either side of where decoding turns native (protocol/encoding.ts), and long texts that the plain
// JavaScript decoder refuses, which the native one must refuse too.
import { plainToBase64Url } from "../../protocol/plain-base64url.ts";
import type { Random } from "../unit/seeded-random.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Byte strings of every length from 0 to 300 (texts of up to 400 characters), and a digest sum's 2,048. */
export const base64urlSamples = (random: Random): Uint8Array[] => [...Array.from({ length: 301 }, (_, length) => random.bytes(length)), random.bytes(2_048)];

/** Texts of 256 characters and more that are not the one base64url of any bytes, each with what is wrong with it. */
export function longBase64urlRefusals(random: Random): [what: string, text: string][] {
  const long = plainToBase64Url(random.bytes(299)); // 399 characters: the last one holds 2 spare bits, both 0
  return [
    ["padding", `${plainToBase64Url(random.bytes(298))}==`],
    ["standard base64 plus", `${long.slice(0, 200)}+${long.slice(201)}`],
    ["standard base64 slash", `${long.slice(0, 200)}/${long.slice(201)}`],
    ["a space", `${long.slice(0, 200)} ${long.slice(201)}`],
    ["a newline at the end", `${long.slice(0, -3)}\n`],
    ["a non-ASCII letter", `${long.slice(0, 200)}é${long.slice(201)}`],
    ["a length of 4n + 1", long.slice(0, 397)],
    ["a spare bit set", `${long.slice(0, -1)}${ALPHABET[ALPHABET.indexOf(long.at(-1)!) + 1]}`],
  ];
}
