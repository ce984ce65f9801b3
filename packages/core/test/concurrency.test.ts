/** Bounded concurrency (core/internal `forEachConcurrently`, `mapConcurrently`). */
import { describe, expect, it } from 'vitest';
import { forEachConcurrently, mapConcurrently } from '../src/internal.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('bounded concurrency', () => {
  it('never runs more than width at once, runs every item once, and keeps the order of results', async () => {
    for (const width of [1, 3, 16, 100]) {
      let running = 0;
      let peak = 0;
      const seen: number[] = [];
      const out = await mapConcurrently(
        Array.from({ length: 40 }, (_, i) => i),
        width,
        async (n, i) => {
          running++;
          peak = Math.max(peak, running);
          seen.push(n);
          for (let k = 0; k <= (n * 7) % 5; k++) await tick();
          running--;
          expect(i).toBe(n);
          return n * 2;
        },
      );
      expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(peak).toBe(Math.min(width, 40));
    }
    expect(await mapConcurrently([], 4, async () => 1)).toEqual([]);
  });

  it('rejects with the first failure and starts no new item after it', async () => {
    const started: number[] = [];
    await expect(
      forEachConcurrently([0, 1, 2, 3, 4, 5, 6, 7], 2, async (n) => {
        started.push(n);
        await tick();
        if (n === 1) throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    // Items 0 and 1 ran at once; 1 failed while 2 may have started beside it; nothing after.
    expect(started.length).toBeLessThanOrEqual(3);
  });

  it('stops before the next item once the signal is aborted, with its reason', async () => {
    const controller = new AbortController();
    const done: number[] = [];
    await expect(
      forEachConcurrently(
        [0, 1, 2, 3, 4],
        1,
        async (n) => {
          done.push(n);
          if (n === 1) controller.abort(new Error('stopped'));
        },
        controller.signal,
      ),
    ).rejects.toThrow('stopped');
    expect(done).toEqual([0, 1]);
  });
});
