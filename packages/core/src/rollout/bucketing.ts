/**
 * Deterministic bucketing: MurmurHash3 x86 32-bit (seed 0) of the UTF-8 bytes of
 * `"<seed>:<stickiness value>"`, modulo 10 000. A bucket is a number of basis points in [0, 10 000);
 * a unit is inside a share of `bps` basis points iff `bucket < bps`, so raising a share never removes a
 * unit that was in, and the same unit lands in the same bucket in every process and language.
 *
 * The hash is the standard MurmurHash3_x86_32 (the `murmurhash` package computes the same values; the
 * tests check both against each other and against published vectors). It is written out here because
 * the hot path hashes without allocating: the UTF-8 bytes are produced from the string's code units on
 * the fly, and the state after the constant `"<seed>:"` prefix is computed once per rule.
 */

/** Basis points in a whole: 10 000 bps = 100 %. */
export const TOTAL_BPS = 10_000;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, k: number, n: number, length: number): number {
  if (n > 0) h ^= mixK(k);
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The hash state after some bytes: `h` (mixed full blocks), `k`/`n` (the pending partial block and
 * its byte count, 0-3) and `length` (bytes so far). Immutable; used as a precomputed prefix.
 */
export interface HashState {
  readonly h: number;
  readonly k: number;
  readonly n: number;
  readonly length: number;
}

/**
 * Feeds the UTF-8 encoding of `text` into `state` and returns the final 32-bit hash (unsigned).
 * Lone surrogates encode as U+FFFD, exactly like `TextEncoder` and `Buffer.from(text, 'utf8')`.
 */
function hashFrom(state: HashState, text: string): number {
  let h = state.h;
  let k = state.k;
  let n = state.n;
  let length = state.length;
  const count = text.length;
  for (let i = 0; i < count; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      k |= c << (n << 3);
      length++;
      if (++n === 4) {
        h = mixH(h, k);
        k = 0;
        n = 0;
      }
      continue;
    }
    // Multi-byte sequence: compute the code point, then push 2-4 bytes one at a time.
    let bytes: number;
    let b0: number;
    let b1 = 0;
    let b2 = 0;
    let b3 = 0;
    if (c < 0x800) {
      bytes = 2;
      b0 = 0xc0 | (c >> 6);
      b1 = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < count ? text.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
        } else {
          c = 0xfffd;
        }
      }
      if (c < 0x10000) {
        bytes = 3;
        b0 = 0xe0 | (c >> 12);
        b1 = 0x80 | ((c >> 6) & 0x3f);
        b2 = 0x80 | (c & 0x3f);
      } else {
        bytes = 4;
        b0 = 0xf0 | (c >> 18);
        b1 = 0x80 | ((c >> 12) & 0x3f);
        b2 = 0x80 | ((c >> 6) & 0x3f);
        b3 = 0x80 | (c & 0x3f);
      }
    }
    for (let j = 0; j < bytes; j++) {
      const b = j === 0 ? b0 : j === 1 ? b1 : j === 2 ? b2 : b3;
      k |= b << (n << 3);
      length++;
      if (++n === 4) {
        h = mixH(h, k);
        k = 0;
        n = 0;
      }
    }
  }
  return finish(h, k, n, length);
}

/** Feeds `text` into `state` without finishing; used to precompute a constant prefix. */
function absorb(state: HashState, text: string): HashState {
  let h = state.h;
  let k = state.k;
  let n = state.n;
  let length = state.length;
  for (const byte of Buffer.from(text, 'utf8')) {
    k |= byte << (n << 3);
    length++;
    if (++n === 4) {
      h = mixH(h, k);
      k = 0;
      n = 0;
    }
  }
  return Object.freeze({ h, k, n, length });
}

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of `text` with `seed` (default 0). Unsigned result. */
export function murmur3(text: string, seed = 0): number {
  return hashFrom({ h: seed | 0, k: 0, n: 0, length: 0 }, text);
}

/** `murmur3("<seed>:<value>") % 10000`: the bucket of one unit for one seed, in [0, 10000). */
export function bucketOf(seed: string, value: string): number {
  return murmur3(`${seed}:${value}`) % TOTAL_BPS;
}

/**
 * A bucketer bound to one seed: hashes only the stickiness value per call, starting from the state
 * precomputed for `"<seed>:"`. `bucket(value)` equals `bucketOf(seed, value)`.
 */
export interface Bucketer {
  readonly seed: string;
  bucket(value: string): number;
}

export function createBucketer(seed: string): Bucketer {
  const prefix = absorb({ h: 0, k: 0, n: 0, length: 0 }, `${seed}:`);
  return Object.freeze({
    seed,
    bucket: (value: string) => hashFrom(prefix, value) % TOTAL_BPS,
  });
}

/** Whether a bucket falls inside a share of `bps` basis points. */
export function inShare(bucket: number, bps: number): boolean {
  return bucket < bps;
}
