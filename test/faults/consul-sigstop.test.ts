/**
 * Consul is frozen with SIGSTOP for 15 s under writers, a reader and a watcher: every request to it
 * hangs, so each process's breaker must open on the request timeout, writes go on to PostgreSQL,
 * reads come from PostgreSQL, and after SIGCONT Consul catches up before it serves again.
 */
import { afterEach, expect, it } from 'vitest';
import { serviceCtl } from '../helpers/services.js';
import { expectClean, ofKind, Scenario, sleep, until } from './scenario.js';

const refs = ['app:shop/database', 'app:shop/features', 'global/limits'];
let scenario: Scenario | undefined;
afterEach(async () => {
  await serviceCtl('consul', 'resume').catch(() => {});
  await scenario?.close();
});

it('Consul frozen (SIGSTOP) for 15 s: writes and reads go on through PostgreSQL; after SIGCONT it catches up', async () => {
  scenario = new Scenario('consul-sigstop');
  const s = scenario;
  const writers = [
    s.spawn({ id: 'writer-a', role: 'writer', refs, intervalMs: 25 }),
    s.spawn({ id: 'writer-b', role: 'service', refs: refs.slice(1), intervalMs: 25 }),
  ];
  const observers = [
    s.spawn({ id: 'reader', role: 'reader', refs }),
    s.spawn({ id: 'watcher', role: 'watcher', refs }),
  ];
  await Promise.all([...writers, ...observers].map((w) => w.ready));
  await until('writes from both writers', () => new Set(ofKind(s.records(), 'ack').map((a) => a.w)).size === 2);

  await serviceCtl('consul', 'pause');
  const frozen = Date.now();
  await sleep(15_000);
  const ackedWhileFrozen = ofKind(s.records(), 'ack').filter((a) => (a.t0 ?? 0) > frozen + 2_000).length;
  await serviceCtl('consul', 'resume');
  const back = Date.now();
  await sleep(1_000);
  const report = await s.finish(writers, observers, refs, back);
  expectClean(report);
  expect(ackedWhileFrozen).toBeGreaterThan(50);
  // Reads failed only while a process's breaker had not yet opened on the frozen Consul.
  expect(report.failures['rfail:BACKEND_UNAVAILABLE'] ?? 0).toBeLessThanOrEqual(5);
}, 120_000);
