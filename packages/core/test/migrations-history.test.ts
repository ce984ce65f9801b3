/**
 * The in-process lock of one-process migration histories. The histories themselves (memory,
 * PostgreSQL, PGlite) run the contract suite: test/contract/migration-history.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isConfigError } from '../src/index.js';
import { createLocalLock } from '../src/internal.js';

describe('in-process lock', () => {
  it('grants one holder at a time, in arrival order', async () => {
    const lock = createLocalLock();
    const order: string[] = [];
    const first = await lock.acquire();
    const second = lock.acquire().then((l) => {
      order.push('second');
      return l;
    });
    const third = lock.acquire().then((l) => {
      order.push('third');
      return l;
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    await first.release();
    await first.release();
    const s = await second;
    expect(order).toEqual(['second']);
    await s.release();
    const t = await third;
    expect(order).toEqual(['second', 'third']);
    await t.release();
    // Free again.
    await (await lock.acquire()).release();
  });

  it('times out with TIMEOUT and aborts with the signal, leaving the queue usable', async () => {
    const lock = createLocalLock();
    const held = await lock.acquire();
    const timedOut = await lock.acquire({ timeoutMs: 1 }).catch((e: unknown) => e);
    expect(isConfigError(timedOut, 'TIMEOUT')).toBe(true);
    const controller = new AbortController();
    const aborted = lock.acquire({ signal: controller.signal }).catch((e: unknown) => e);
    controller.abort(new Error('stop'));
    expect(((await aborted) as Error).message).toBe('stop');
    const next = lock.acquire();
    await held.release();
    await (await next).release();
    const checked = await held.check().catch((e: unknown) => e);
    expect(checked).toBeInstanceOf(Error);
  });
});
