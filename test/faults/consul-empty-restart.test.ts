/**
 * Consul is SIGKILLed under two writer processes on overlapping refs, a reader, a watcher and a
 * client, and restarts empty (a dev agent keeps nothing). Writes go on to PostgreSQL meanwhile; the
 * empty Consul is recognised by its missing epoch, rebuilt from the record before it serves, and
 * every process converges without losing, renumbering or rewinding anything.
 */
import { join } from 'node:path';
import { serviceCtl } from '@summit-config/test-support/services';
import { expect, it } from 'vitest';
import { expectClean, ofKind, scenarios, sleep, until } from './scenario.js';

const refs = ['app:shop/database', 'app:shop/features', 'global/limits', 'global/regions'];
const scenario = scenarios(() => serviceCtl('consul', 'start'));

it('Consul SIGKILLed and restarted empty under two writers on overlapping refs: nothing lost, renumbered or rewound', async () => {
  const s = scenario('consul-empty-restart');
  const { writers, observers } = await s.startLoad(
    [
      { id: 'writer-a', role: 'writer', refs: refs.slice(0, 3), intervalMs: 15 },
      { id: 'writer-b', role: 'writer', refs: refs.slice(1), intervalMs: 15 },
    ],
    [
      { id: 'reader', role: 'reader', refs, intervalMs: 5 },
      { id: 'watcher', role: 'watcher', refs },
      { id: 'client', role: 'client', refs, snapshotFile: join(s.dir, 'client.snapshot.json') },
    ],
  );
  await sleep(1_000);

  await serviceCtl('consul', 'kill');
  const ackedBefore = ofKind(s.records(), 'ack').length;
  await until('writes to go on while Consul is down', () => ofKind(s.records(), 'ack').length >= ackedBefore + 20);
  await serviceCtl('consul', 'start'); // empty: a dev agent keeps nothing
  const back = Date.now();
  await sleep(1_500); // writes, reads and watches go on across the rebuild
  const report = await s.finish(writers, observers, refs, back);
  const entries = s.records();
  expectClean(report);
  expect(report.failedReads).toBe(0);
  // The empty Consul was recognised (no epoch) and rebuilt before it served.
  expect(entries.some((e) => e.k === 'event' && e.type === 'mirror-reset')).toBe(true);
  expect(ofKind(entries, 'ack').filter((a) => a.t0 !== undefined && a.t0 > back).length).toBeGreaterThan(0);
}, 120_000);
