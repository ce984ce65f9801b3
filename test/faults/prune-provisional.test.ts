/**
 * A process cut off from PostgreSQL writes one ref 25 times: Consul keeps 20 versions per ref, but
 * never prunes a provisional one (a version the record does not hold yet). When the partition heals,
 * every version reaches PostgreSQL at its number without any new write, and a later write follows.
 */
import { parseRef } from '@summit-config/core';
import { services } from '@summit-config/test-support/services';
import { expect, it } from 'vitest';
import { startProxy } from './proxy.js';
import { scenarios } from './scenario.js';

const ref = 'app:shop/pruned';
const pruned = parseRef(ref);
const scenario = scenarios();

it('25 writes while PostgreSQL is unreachable (history limit 20): none is pruned, all reach PostgreSQL', async () => {
  const s = scenario('prune-25');
  await s.init();
  const proxy = await startProxy(Number(new URL(services().databaseUrl).port));
  s.defer(() => proxy.close());
  proxy.cut();
  const cutOff = s.spawn({
    id: 'cut-off',
    role: 'writer',
    refs: [ref],
    count: 25,
    intervalMs: 5,
    databaseUrl: s.databaseUrlVia(proxy.port),
  });
  await new Promise((r) => cutOff.child.once('exit', r));
  const { record, mirror } = s.stores();
  expect((await mirror.getHead(pruned))?.version).toBe(25);
  expect(await mirror.listVersions(pruned)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  expect((await mirror.listProvisional?.())?.length).toBe(25);
  expect(await record.getHead(pruned)).toBeUndefined();

  proxy.restore();
  // No reconcile call and no new write: any process that reaches both stores repairs.
  const healer = s.spawn({ id: 'healer', role: 'reader', refs: [ref] });
  const restored = Date.now();
  const convergeMs = await s.converged([ref], restored);
  expect(await record.listVersions(pruned)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  const later = s.spawn({ id: 'later', role: 'writer', refs: [ref], count: 1 });
  await new Promise((r) => later.child.once('exit', r));
  await healer.stop();
  await s.converged([ref], Date.now());
  const report = await s.report([ref], convergeMs);
  expect(report.acknowledged).toBe(26);
  expect(report.lostWrites).toEqual([]);
  expect(report.renumbered).toBe(0);
  expect(report.storeMismatches).toEqual([]);
  expect((await record.getHead(pruned))?.version).toBe(26);
  // Consul prunes again once PostgreSQL holds everything: its history is back to the limit soon.
  await (mirror as import('@summit-config/backends/consul').ConsulStore).flushHistory();
  expect(convergeMs).toBeLessThanOrEqual(5_000);
}, 120_000);
