// A small seeded PRNG (mulberry32) so property-style tests are random in shape but identical on every run.

export type Random = {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, max). */
  below(max: number): number;
  bytes(length: number): Uint8Array;
};

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (max: number): number => Math.floor(next() * max);
  const bytes = (length: number): Uint8Array => Uint8Array.from({ length }, () => below(256));
  return { next, below, bytes };
}
