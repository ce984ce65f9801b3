import { abRule } from '@summit-config/test-support/builders';
import { readJson } from '@summit-config/test-support/fixtures';
import murmurhash from 'murmurhash';
import { describe, expect, it } from 'vitest';
import { compileRollout } from '../src/index.js';
import { bucketOf, createBucketer, murmur3, TOTAL_BPS } from '../src/rollout/bucketing.js';

interface Vectors {
  hashVectors: Array<{ input: string; seed: number; hash: number; hex: string }>;
  bucketVectors: Array<{ seed: string; value: string; hash: number; bucket: number }>;
}

const vectors = readJson('bucketing-vectors.json') as Vectors;

describe('murmur3 (MurmurHash3_x86_32)', () => {
  it('matches the published reference values', () => {
    expect(murmur3('', 0)).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('', 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3('hello', 0)).toBe(0x248bfa47);
    expect(murmur3('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
  });

  it.each(vectors.hashVectors)('hash vector $input (seed $seed) = $hex', ({ input, seed, hash }) => {
    expect(murmur3(input, seed)).toBe(hash);
  });

  it('agrees with the murmurhash package on UTF-8 bytes, including multi-byte and lone surrogates', () => {
    const samples = ['é', '日本語', '😀', '\ud800', 'a\udc00b', `x${'\u{1f680}'.repeat(5)}`, 'mixed-ü-用-🚀-end'];
    let state = 7;
    const random = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const length = Math.floor(random() * 24);
      for (let j = 0; j < length; j++) {
        const r = random();
        if (r < 0.6) s += String.fromCharCode(32 + Math.floor(random() * 95));
        else if (r < 0.85) s += String.fromCharCode(Math.floor(random() * 0x10000));
        else s += String.fromCodePoint(0x10000 + Math.floor(random() * 0xfffff));
      }
      samples.push(s);
    }
    for (const s of samples) {
      expect(murmur3(s, 0)).toBe(murmurhash.v3(s, 0));
      expect(murmur3(s, 42)).toBe(murmurhash.v3(s, 42));
    }
  });
});

describe('bucketing', () => {
  it.each(vectors.bucketVectors)('bucket($seed, $value) = $bucket', ({ seed, value, hash, bucket }) => {
    expect(murmur3(`${seed}:${value}`)).toBe(hash);
    expect(bucketOf(seed, value)).toBe(bucket);
    expect(createBucketer(seed).bucket(value)).toBe(bucket);
  });

  it('keeps buckets in [0, 10000)', () => {
    const b = createBucketer('range');
    const out = Array.from({ length: 10_000 }, (_, i) => b.bucket(`unit-${i}`)).filter(
      (v) => !(Number.isInteger(v) && v >= 0 && v < TOTAL_BPS),
    );
    expect(out).toEqual([]);
  });
});

function share(counts: Record<string, number>, key: string, total: number): number {
  return ((counts[key] ?? 0) / total) * 100;
}

describe('distribution over 100 000 units', () => {
  const units = Array.from({ length: 100_000 }, (_, i) => ({ userId: `user-${i}` }));

  it('splits 10/90 within one percentage point', () => {
    const rollout = compileRollout({
      rules: [
        abRule('split', [
          ['a', 1000, { v: 'a' }],
          ['b', 9000, { v: 'b' }],
        ]),
      ],
    });
    const counts: Record<string, number> = {};
    for (const u of units) {
      const o = rollout.evaluate(u);
      counts[o.variant ?? 'none'] = (counts[o.variant ?? 'none'] ?? 0) + 1;
    }
    expect(counts.none).toBeUndefined();
    expect(Math.abs(share(counts, 'a', units.length) - 10)).toBeLessThan(1);
    expect(Math.abs(share(counts, 'b', units.length) - 90)).toBeLessThan(1);
  });

  it('splits 33/33/34 within one percentage point', () => {
    const rollout = compileRollout({
      rules: [
        abRule('three', [
          ['a', 3300],
          ['b', 3300],
          ['c', 3400],
        ]),
      ],
    });
    const counts: Record<string, number> = {};
    for (const u of units) {
      const v = rollout.evaluate(u).variant ?? 'none';
      counts[v] = (counts[v] ?? 0) + 1;
    }
    expect(Math.abs(share(counts, 'a', units.length) - 33)).toBeLessThan(1);
    expect(Math.abs(share(counts, 'b', units.length) - 33)).toBeLessThan(1);
    expect(Math.abs(share(counts, 'c', units.length) - 34)).toBeLessThan(1);
  });

  it('a 10% percentage rule serves about 10% of units', () => {
    const rollout = compileRollout({ rules: [{ id: 'p', strategy: 'percentage', bps: 1000, patch: { x: 1 } }] });
    const inside = units.filter((u) => rollout.evaluate(u).overlay !== undefined).length;
    expect(Math.abs((inside / units.length) * 100 - 10)).toBeLessThan(1);
  });

  it('stepping 10% -> 25% -> 50% -> 100% keeps every unit that was in', () => {
    const schedule = [1000, 2500, 5000, 10000];
    const at = (step: number) =>
      compileRollout({ rules: [{ id: 'ramp', strategy: 'canary', schedule, step, patch: { on: true } }] });
    let previous = new Set<string>();
    for (let step = 0; step < schedule.length; step++) {
      const rollout = at(step);
      const now = new Set(units.filter((u) => rollout.evaluate(u).overlay !== undefined).map((u) => u.userId));
      const dropped = [...previous].filter((id) => !now.has(id));
      expect(dropped).toEqual([]);
      expect(Math.abs((now.size / units.length) * 10_000 - (schedule[step] as number))).toBeLessThan(100);
      previous = now;
    }
    expect(previous.size).toBe(units.length);
  });

  it('the same unit lands in the same bucket for a rule however often it is evaluated', () => {
    const a = compileRollout({ rules: [{ id: 'same', strategy: 'percentage', bps: 5000, patch: { x: 1 } }] });
    const b = compileRollout({ rules: [{ id: 'same', strategy: 'percentage', bps: 5000, patch: { x: 1 } }] });
    const differing = units.slice(0, 5000).filter((u) => a.evaluate(u).key !== b.evaluate(u).key);
    expect(differing).toEqual([]);
  });
});
