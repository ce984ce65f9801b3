/**
 * Consul is frozen with SIGSTOP for 15 s under writers, a reader and a watcher: every request to it
 * hangs, so each process's breaker must open on the request timeout, writes go on to PostgreSQL,
 * reads come from PostgreSQL, and after SIGCONT Consul catches up before it serves again.
 */
import { serviceCtl } from '@summit-config/test-support/services';
import { expect, it } from 'vitest';
import { expectClean, ofKind, readerAndWatcher, scenarios, sleep } from './scenario.js';

const refs = ['app:shop/database', 'app:shop/features', 'global/limits'];
const scenario = scenarios(() => serviceCtl('consul', 'resume').catch(() => {}));

it('Consul frozen (SIGSTOP) for 15 s: writes and reads go on through PostgreSQL; after SIGCONT it catches up', async () => {
  const s = scenario('consul-sigstop');
  const { writers, observers } = await s.startLoad(
    [
      { id: 'writer-a', role: 'writer', refs, intervalMs: 25 },
      { id: 'writer-b', role: 'service', refs: refs.slice(1), intervalMs: 25 },
    ],
    readerAndWatcher(refs),
  );

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
