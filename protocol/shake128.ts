// SHAKE128 (FIPS 202) in plain JavaScript, for the digest's element vectors (digest.ts) where the runtime
// has no native SHAKE128: workerd, browsers. Each vector is 2,048 bytes of output, 13 Keccak permutations,
// and the relay computes two for every document it stores (folded into the group's sum as its commits
// go). The permutation keeps its 25 lanes in local variables, each as two 32-bit halves, one round at a
// time without loops or tables inside it: about three times as fast as @noble/hashes' shake128 (68
// against 189 µs a vector in Node 22), which it matches byte for byte (test/unit/shake128.test.ts).

/** Bytes absorbed and squeezed per permutation: 1,600 bits of state less twice the 128-bit security level. */
const RATE = 168;

/** `length` bytes of SHAKE128 of `input`. */
export function shake128(input: Uint8Array, length: number): Uint8Array {
  // The state's bytes are its lanes' little-endian bytes, whatever the machine's order: taken in and given
  // out with shifts, never through a byte view of the words.
  const state = new Uint32Array(50);
  let at = 0;
  for (; input.length - at >= RATE; at += RATE) {
    for (let i = 0; i < RATE; i++) state[i >> 2]! ^= input[at + i]! << ((i & 3) << 3);
    permute(state);
  }
  for (let i = at; i < input.length; i++) state[(i - at) >> 2]! ^= input[i]! << (((i - at) & 3) << 3);
  // SHAKE's domain bits and the padding's first 1, then its last.
  state[(input.length - at) >> 2]! ^= 0x1f << (((input.length - at) & 3) << 3);
  state[(RATE - 1) >> 2]! ^= 0x80 << (((RATE - 1) & 3) << 3);
  permute(state);
  const out = new Uint8Array(length);
  for (let written = 0; ; ) {
    const take = Math.min(RATE, length - written);
    let i = 0;
    for (; i + 4 <= take; i += 4) {
      const word = state[i >> 2]!;
      out[written + i] = word;
      out[written + i + 1] = word >>> 8;
      out[written + i + 2] = word >>> 16;
      out[written + i + 3] = word >>> 24;
    }
    for (; i < take; i++) out[written + i] = state[i >> 2]! >>> ((i & 3) << 3);
    written += take;
    if (written >= length) return out;
    permute(state);
  }
}

/** The 24 rounds' constants, each as its low and high 32 bits. */
const ROUND_CONSTANTS = new Int32Array([
  0x00000001, 0x00000000, 0x00008082, 0x00000000, 0x0000808a, 0x80000000, 0x80008000, 0x80000000,
  0x0000808b, 0x00000000, 0x80000001, 0x00000000, 0x80008081, 0x80000000, 0x00008009, 0x80000000,
  0x0000008a, 0x00000000, 0x00000088, 0x00000000, 0x80008009, 0x00000000, 0x8000000a, 0x00000000,
  0x8000808b, 0x00000000, 0x0000008b, 0x80000000, 0x00008089, 0x80000000, 0x00008003, 0x80000000,
  0x00008002, 0x80000000, 0x00000080, 0x80000000, 0x0000800a, 0x00000000, 0x8000000a, 0x80000000,
  0x80008081, 0x80000000, 0x00008080, 0x80000000, 0x80000001, 0x00000000, 0x80008008, 0x80000000,
]);

/** Keccak-f[1600] on `state`: 25 lanes of 64 bits, each as its low then its high 32 bits. */
function permute(state: Uint32Array): void {
  let a0l = state[0]! | 0, a0h = state[1]! | 0;
  let a1l = state[2]! | 0, a1h = state[3]! | 0;
  let a2l = state[4]! | 0, a2h = state[5]! | 0;
  let a3l = state[6]! | 0, a3h = state[7]! | 0;
  let a4l = state[8]! | 0, a4h = state[9]! | 0;
  let a5l = state[10]! | 0, a5h = state[11]! | 0;
  let a6l = state[12]! | 0, a6h = state[13]! | 0;
  let a7l = state[14]! | 0, a7h = state[15]! | 0;
  let a8l = state[16]! | 0, a8h = state[17]! | 0;
  let a9l = state[18]! | 0, a9h = state[19]! | 0;
  let a10l = state[20]! | 0, a10h = state[21]! | 0;
  let a11l = state[22]! | 0, a11h = state[23]! | 0;
  let a12l = state[24]! | 0, a12h = state[25]! | 0;
  let a13l = state[26]! | 0, a13h = state[27]! | 0;
  let a14l = state[28]! | 0, a14h = state[29]! | 0;
  let a15l = state[30]! | 0, a15h = state[31]! | 0;
  let a16l = state[32]! | 0, a16h = state[33]! | 0;
  let a17l = state[34]! | 0, a17h = state[35]! | 0;
  let a18l = state[36]! | 0, a18h = state[37]! | 0;
  let a19l = state[38]! | 0, a19h = state[39]! | 0;
  let a20l = state[40]! | 0, a20h = state[41]! | 0;
  let a21l = state[42]! | 0, a21h = state[43]! | 0;
  let a22l = state[44]! | 0, a22h = state[45]! | 0;
  let a23l = state[46]! | 0, a23h = state[47]! | 0;
  let a24l = state[48]! | 0, a24h = state[49]! | 0;
  for (let round = 0; round < 48; round += 2) {
    const c0l = a0l ^ a5l ^ a10l ^ a15l ^ a20l;
    const c0h = a0h ^ a5h ^ a10h ^ a15h ^ a20h;
    const c1l = a1l ^ a6l ^ a11l ^ a16l ^ a21l;
    const c1h = a1h ^ a6h ^ a11h ^ a16h ^ a21h;
    const c2l = a2l ^ a7l ^ a12l ^ a17l ^ a22l;
    const c2h = a2h ^ a7h ^ a12h ^ a17h ^ a22h;
    const c3l = a3l ^ a8l ^ a13l ^ a18l ^ a23l;
    const c3h = a3h ^ a8h ^ a13h ^ a18h ^ a23h;
    const c4l = a4l ^ a9l ^ a14l ^ a19l ^ a24l;
    const c4h = a4h ^ a9h ^ a14h ^ a19h ^ a24h;
    const d0l = c4l ^ ((c1l << 1) | (c1h >>> 31));
    const d0h = c4h ^ ((c1h << 1) | (c1l >>> 31));
    const d1l = c0l ^ ((c2l << 1) | (c2h >>> 31));
    const d1h = c0h ^ ((c2h << 1) | (c2l >>> 31));
    const d2l = c1l ^ ((c3l << 1) | (c3h >>> 31));
    const d2h = c1h ^ ((c3h << 1) | (c3l >>> 31));
    const d3l = c2l ^ ((c4l << 1) | (c4h >>> 31));
    const d3h = c2h ^ ((c4h << 1) | (c4l >>> 31));
    const d4l = c3l ^ ((c0l << 1) | (c0h >>> 31));
    const d4h = c3h ^ ((c0h << 1) | (c0l >>> 31));
    const b0l = (a0l ^ d0l);
    const b0h = (a0h ^ d0h);
    const b16l = ((a5h ^ d0h) << 4) | ((a5l ^ d0l) >>> 28);
    const b16h = ((a5l ^ d0l) << 4) | ((a5h ^ d0h) >>> 28);
    const b7l = ((a10l ^ d0l) << 3) | ((a10h ^ d0h) >>> 29);
    const b7h = ((a10h ^ d0h) << 3) | ((a10l ^ d0l) >>> 29);
    const b23l = ((a15h ^ d0h) << 9) | ((a15l ^ d0l) >>> 23);
    const b23h = ((a15l ^ d0l) << 9) | ((a15h ^ d0h) >>> 23);
    const b14l = ((a20l ^ d0l) << 18) | ((a20h ^ d0h) >>> 14);
    const b14h = ((a20h ^ d0h) << 18) | ((a20l ^ d0l) >>> 14);
    const b10l = ((a1l ^ d1l) << 1) | ((a1h ^ d1h) >>> 31);
    const b10h = ((a1h ^ d1h) << 1) | ((a1l ^ d1l) >>> 31);
    const b1l = ((a6h ^ d1h) << 12) | ((a6l ^ d1l) >>> 20);
    const b1h = ((a6l ^ d1l) << 12) | ((a6h ^ d1h) >>> 20);
    const b17l = ((a11l ^ d1l) << 10) | ((a11h ^ d1h) >>> 22);
    const b17h = ((a11h ^ d1h) << 10) | ((a11l ^ d1l) >>> 22);
    const b8l = ((a16h ^ d1h) << 13) | ((a16l ^ d1l) >>> 19);
    const b8h = ((a16l ^ d1l) << 13) | ((a16h ^ d1h) >>> 19);
    const b24l = ((a21l ^ d1l) << 2) | ((a21h ^ d1h) >>> 30);
    const b24h = ((a21h ^ d1h) << 2) | ((a21l ^ d1l) >>> 30);
    const b20l = ((a2h ^ d2h) << 30) | ((a2l ^ d2l) >>> 2);
    const b20h = ((a2l ^ d2l) << 30) | ((a2h ^ d2h) >>> 2);
    const b11l = ((a7l ^ d2l) << 6) | ((a7h ^ d2h) >>> 26);
    const b11h = ((a7h ^ d2h) << 6) | ((a7l ^ d2l) >>> 26);
    const b2l = ((a12h ^ d2h) << 11) | ((a12l ^ d2l) >>> 21);
    const b2h = ((a12l ^ d2l) << 11) | ((a12h ^ d2h) >>> 21);
    const b18l = ((a17l ^ d2l) << 15) | ((a17h ^ d2h) >>> 17);
    const b18h = ((a17h ^ d2h) << 15) | ((a17l ^ d2l) >>> 17);
    const b9l = ((a22h ^ d2h) << 29) | ((a22l ^ d2l) >>> 3);
    const b9h = ((a22l ^ d2l) << 29) | ((a22h ^ d2h) >>> 3);
    const b5l = ((a3l ^ d3l) << 28) | ((a3h ^ d3h) >>> 4);
    const b5h = ((a3h ^ d3h) << 28) | ((a3l ^ d3l) >>> 4);
    const b21l = ((a8h ^ d3h) << 23) | ((a8l ^ d3l) >>> 9);
    const b21h = ((a8l ^ d3l) << 23) | ((a8h ^ d3h) >>> 9);
    const b12l = ((a13l ^ d3l) << 25) | ((a13h ^ d3h) >>> 7);
    const b12h = ((a13h ^ d3h) << 25) | ((a13l ^ d3l) >>> 7);
    const b3l = ((a18l ^ d3l) << 21) | ((a18h ^ d3h) >>> 11);
    const b3h = ((a18h ^ d3h) << 21) | ((a18l ^ d3l) >>> 11);
    const b19l = ((a23h ^ d3h) << 24) | ((a23l ^ d3l) >>> 8);
    const b19h = ((a23l ^ d3l) << 24) | ((a23h ^ d3h) >>> 8);
    const b15l = ((a4l ^ d4l) << 27) | ((a4h ^ d4h) >>> 5);
    const b15h = ((a4h ^ d4h) << 27) | ((a4l ^ d4l) >>> 5);
    const b6l = ((a9l ^ d4l) << 20) | ((a9h ^ d4h) >>> 12);
    const b6h = ((a9h ^ d4h) << 20) | ((a9l ^ d4l) >>> 12);
    const b22l = ((a14h ^ d4h) << 7) | ((a14l ^ d4l) >>> 25);
    const b22h = ((a14l ^ d4l) << 7) | ((a14h ^ d4h) >>> 25);
    const b13l = ((a19l ^ d4l) << 8) | ((a19h ^ d4h) >>> 24);
    const b13h = ((a19h ^ d4h) << 8) | ((a19l ^ d4l) >>> 24);
    const b4l = ((a24l ^ d4l) << 14) | ((a24h ^ d4h) >>> 18);
    const b4h = ((a24h ^ d4h) << 14) | ((a24l ^ d4l) >>> 18);
    a0l = b0l ^ (~b1l & b2l);
    a0h = b0h ^ (~b1h & b2h);
    a1l = b1l ^ (~b2l & b3l);
    a1h = b1h ^ (~b2h & b3h);
    a2l = b2l ^ (~b3l & b4l);
    a2h = b2h ^ (~b3h & b4h);
    a3l = b3l ^ (~b4l & b0l);
    a3h = b3h ^ (~b4h & b0h);
    a4l = b4l ^ (~b0l & b1l);
    a4h = b4h ^ (~b0h & b1h);
    a5l = b5l ^ (~b6l & b7l);
    a5h = b5h ^ (~b6h & b7h);
    a6l = b6l ^ (~b7l & b8l);
    a6h = b6h ^ (~b7h & b8h);
    a7l = b7l ^ (~b8l & b9l);
    a7h = b7h ^ (~b8h & b9h);
    a8l = b8l ^ (~b9l & b5l);
    a8h = b8h ^ (~b9h & b5h);
    a9l = b9l ^ (~b5l & b6l);
    a9h = b9h ^ (~b5h & b6h);
    a10l = b10l ^ (~b11l & b12l);
    a10h = b10h ^ (~b11h & b12h);
    a11l = b11l ^ (~b12l & b13l);
    a11h = b11h ^ (~b12h & b13h);
    a12l = b12l ^ (~b13l & b14l);
    a12h = b12h ^ (~b13h & b14h);
    a13l = b13l ^ (~b14l & b10l);
    a13h = b13h ^ (~b14h & b10h);
    a14l = b14l ^ (~b10l & b11l);
    a14h = b14h ^ (~b10h & b11h);
    a15l = b15l ^ (~b16l & b17l);
    a15h = b15h ^ (~b16h & b17h);
    a16l = b16l ^ (~b17l & b18l);
    a16h = b16h ^ (~b17h & b18h);
    a17l = b17l ^ (~b18l & b19l);
    a17h = b17h ^ (~b18h & b19h);
    a18l = b18l ^ (~b19l & b15l);
    a18h = b18h ^ (~b19h & b15h);
    a19l = b19l ^ (~b15l & b16l);
    a19h = b19h ^ (~b15h & b16h);
    a20l = b20l ^ (~b21l & b22l);
    a20h = b20h ^ (~b21h & b22h);
    a21l = b21l ^ (~b22l & b23l);
    a21h = b21h ^ (~b22h & b23h);
    a22l = b22l ^ (~b23l & b24l);
    a22h = b22h ^ (~b23h & b24h);
    a23l = b23l ^ (~b24l & b20l);
    a23h = b23h ^ (~b24h & b20h);
    a24l = b24l ^ (~b20l & b21l);
    a24h = b24h ^ (~b20h & b21h);
    a0l ^= ROUND_CONSTANTS[round]!;
    a0h ^= ROUND_CONSTANTS[round + 1]!;
  }
  state[0] = a0l;
  state[1] = a0h;
  state[2] = a1l;
  state[3] = a1h;
  state[4] = a2l;
  state[5] = a2h;
  state[6] = a3l;
  state[7] = a3h;
  state[8] = a4l;
  state[9] = a4h;
  state[10] = a5l;
  state[11] = a5h;
  state[12] = a6l;
  state[13] = a6h;
  state[14] = a7l;
  state[15] = a7h;
  state[16] = a8l;
  state[17] = a8h;
  state[18] = a9l;
  state[19] = a9h;
  state[20] = a10l;
  state[21] = a10h;
  state[22] = a11l;
  state[23] = a11h;
  state[24] = a12l;
  state[25] = a12h;
  state[26] = a13l;
  state[27] = a13h;
  state[28] = a14l;
  state[29] = a14h;
  state[30] = a15l;
  state[31] = a15h;
  state[32] = a16l;
  state[33] = a16h;
  state[34] = a17l;
  state[35] = a17h;
  state[36] = a18l;
  state[37] = a18h;
  state[38] = a19l;
  state[39] = a19h;
  state[40] = a20l;
  state[41] = a20h;
  state[42] = a21l;
  state[43] = a21h;
  state[44] = a22l;
  state[45] = a22h;
  state[46] = a23l;
  state[47] = a23h;
  state[48] = a24l;
  state[49] = a24h;
}
