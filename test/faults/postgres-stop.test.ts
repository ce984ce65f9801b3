/**
 * PostgreSQL is stopped for 10 s under a store writer and a change-service writer, with the default
 * history limit (Consul keeps 20 versions per ref): every write in between lands in Consul alone as
 * a provisional version, which is never pruned, and is copied into PostgreSQL when it returns, at its
 * own number, without any new write.
 */
import { afterEach, expect, it } from 'vitest';
import { serviceCtl } from '../helpers/services.js';
import { expectClean, ofKind, Scenario, sleep, until } from './scenario.js';

const refs = ['app:shop/database', 'global/limits'];
let scenario: Scenario | undefined;
afterEach(async () => {
  await serviceCtl('postgres', 'start');
  await scenario?.close();
});

it('PostgreSQL stopped for 10 s (history limit 20): every write in between reaches it afterwards, at its number', async () => {
  scenario = new Scenario('postgres-stop');
  const s = scenario;
  const writers = [
    s.spawn({ id: 'store-writer', role: 'writer', refs, intervalMs: 20 }),
    s.spawn({ id: 'service-writer', role: 'service', refs, intervalMs: 20 }),
  ];
  const observers = [
    s.spawn({ id: 'reader', role: 'reader', refs }),
    s.spawn({ id: 'watcher', role: 'watcher', refs }),
  ];
  await Promise.all([...writers, ...observers].map((w) => w.ready));
  await until('writes from both writers', () => new Set(ofKind(s.records(), 'ack').map((a) => a.w)).size === 2);

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
