/**
 * PostgreSQL is stopped for 10 s under a store writer and a change-service writer, with the default
 * history limit (Consul keeps 20 versions per ref): every write in between lands in Consul alone as
 * a provisional version, which is never pruned, and is copied into PostgreSQL when it returns, at its
 * own number, without any new write.
 */
import { serviceCtl } from '@summit-config/test-support/services';
import { expect, it } from 'vitest';
import { expectClean, ofKind, readerAndWatcher, scenarios, sleep } from './scenario.js';

const refs = ['app:shop/database', 'global/limits'];
const scenario = scenarios(() => serviceCtl('postgres', 'start'));

it('PostgreSQL stopped for 10 s (history limit 20): every write in between reaches it afterwards, at its number', async () => {
  const s = scenario('postgres-stop');
  const { writers, observers } = await s.startLoad(
    [
      { id: 'store-writer', role: 'writer', refs, intervalMs: 20 },
      { id: 'service-writer', role: 'service', refs, intervalMs: 20 },
    ],
    readerAndWatcher(refs),
  );

  await serviceCtl('postgres', 'stop');
  const down = Date.now();
  await sleep(10_000);
  await serviceCtl('postgres', 'start');
  const back = Date.now();
  const whileDown = ofKind(s.records(), 'ack').filter((a) => (a.t0 ?? 0) > down && (a.t1 ?? 0) < back);
  await sleep(1_000);
  const report = await s.finish(writers, observers, refs, back);
  expectClean(report);
  // More writes per ref than Consul's history holds landed while PostgreSQL was away: none was pruned.
  for (const ref of refs) expect(whileDown.filter((a) => a.ref === ref).length).toBeGreaterThan(20);
  expect(report.failures['rfail:BACKEND_UNAVAILABLE'] ?? 0).toBe(0);
}, 120_000);
