import { ListenerSet } from '@summit-config/core/internal';
import { until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';
import { createLocalLeadership, type LeaderJobContext, LeaderJobRunner, type Leadership } from '../src/leader.js';

/** A leadership the test flips by hand. */
function manualLeadership() {
  const listeners = new ListenerSet<{ leading: boolean; fencingToken: number | undefined; reason?: string }>();
  let token: number | undefined;
  const leadership: Leadership & { lead(token: number): void; lose(): void } = {
    kind: 'consul',
    get isLeader() {
      return token !== undefined;
    },
    get fencingToken() {
      return token;
    },
    start() {},
    onChange: (l) => listeners.add(l),
    guardOp: () => (token === undefined ? undefined : { KV: { Verb: 'check-session', Key: 'k', Session: 's' } }),
    verify: async () => token !== undefined,
    close: async () => {},
    lead(t) {
      token = t;
      listeners.emit({ leading: true, fencingToken: t });
    },
    lose() {
      token = undefined;
      listeners.emit({ leading: false, fencingToken: undefined, reason: 'lost' });
    },
  };
  return leadership;
}

describe('leader job runner', () => {
  it('runs jobs only while leading, with the term fencing token, and aborts them when leadership is lost', async () => {
    const leadership = manualLeadership();
    const runner = new LeaderJobRunner({ leadership });
    const runs: LeaderJobContext[] = [];
    let release: () => void = () => {};
    runner.register('sweep', 20, async (ctx) => {
      runs.push(ctx);
      if (runs.length === 2) await new Promise<void>((r) => (release = r));
    });
    await new Promise((r) => setTimeout(r, 60));
    expect(runs).toHaveLength(0); // not leading: nothing runs

    leadership.lead(7);
    await until(() => runs.length >= 2, 'two runs', { intervalMs: 5 });
    expect(runs[0]?.fencingToken).toBe(7);
    expect(runs[0]?.guardOp()).toEqual({ KV: { Verb: 'check-session', Key: 'k', Session: 's' } });
    expect(await runs[0]?.verify()).toBe(true);
    // The second run is blocked: the interval does not start overlapping runs.
    await new Promise((r) => setTimeout(r, 80));
    expect(runs).toHaveLength(2);

    leadership.lose();
    expect(runs[1]?.signal.aborted).toBe(true);
    release();
    const after = runs.length;
    await new Promise((r) => setTimeout(r, 80));
    expect(runs.length).toBe(after); // stopped

    leadership.lead(8);
    await until(() => runs.length > after, 'a run in the new term', { intervalMs: 5 });
    expect(runs.at(-1)?.fencingToken).toBe(8);
    expect(runs.at(-1)?.signal.aborted).toBe(false);
    await runner.close();
    expect(runs.at(-1)?.signal.aborted).toBe(true);
  });

  it('starts jobs registered while leading at once, reports failures and keeps the schedule', async () => {
    const leadership = createLocalLeadership();
    const results: Array<{ name: string; ok: boolean }> = [];
    const runner = new LeaderJobRunner({ leadership, onRun: (r) => results.push(r) });
    leadership.start();
    let n = 0;
    runner.register('flaky', 10, () => {
      n++;
      if (n % 2 === 1) throw new Error('boom');
    });
    await until(() => results.length >= 4, 'four runs', { intervalMs: 5 });
    expect(results.slice(0, 4).map((r) => r.ok)).toEqual([false, true, false, true]);
    const status = runner.status()[0];
    expect(status).toMatchObject({ name: 'flaky', schedule: 10, lastError: undefined });
    expect(status?.failures).toBeGreaterThanOrEqual(2);
    await runner.close();
  });

  it('validates registrations and runs a job on demand', async () => {
    const leadership = createLocalLeadership();
    const runner = new LeaderJobRunner({ leadership });
    const fn = () => {};
    runner.register('a', 1000, fn, { runOnStart: false });
    expect(() => runner.register('a', 1000, fn)).toThrow(/already registered/);
    expect(() => runner.register('bad name', 1000, fn)).toThrow(/leader job name/);
    expect(() => runner.register('b', 'not cron', fn)).toThrow(/cron expression/);
    expect(() => runner.register('c', 1000, fn, { timeoutMs: -1 })).toThrow(/timeoutMs/);
    await expect(runner.runNow('a')).rejects.toThrow(/only on the leader/);
    leadership.start();
    let ran = 0;
    const remove = runner.register('d', '0 0 1 1 *', () => {
      ran++;
    });
    await runner.runNow('d');
    expect(ran).toBe(1);
    remove();
    await expect(runner.runNow('d')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await runner.close();
    expect(() => runner.register('e', 1000, fn)).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });

  it('aborts a run that exceeds its timeout', async () => {
    const leadership = createLocalLeadership();
    const runner = new LeaderJobRunner({ leadership });
    leadership.start();
    let signal: AbortSignal | undefined;
    runner.register(
      'slow',
      60_000,
      async (ctx) => {
        signal = ctx.signal;
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
      },
      { timeoutMs: 30 },
    );
    await until(() => signal?.aborted === true, 'the timeout to abort the run', { intervalMs: 5 });
    await runner.close();
  });
});
