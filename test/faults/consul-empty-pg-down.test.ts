/**
 * PostgreSQL goes down, then Consul is SIGKILLed and restarts empty while PostgreSQL is still down.
 * The empty Consul has no epoch: it serves nothing and takes no write (writes fail with
 * BACKEND_UNAVAILABLE), a client restarted meanwhile starts from its snapshot, marked stale, and
 * nothing rewrites history when PostgreSQL returns: the writes Consul alone held (lost with it) are
 * put back into PostgreSQL by the process that made them, at their own numbers.
 */
import { join } from 'node:path';
import { serviceCtl } from '@summit-config/test-support/services';
import { expect, it } from 'vitest';
import { expectConsistent, ofKind, scenarios, sleep, until } from './scenario.js';

const refs = ['app:shop/database', 'global/limits'];
const scenario = scenarios(async () => {
  await serviceCtl('postgres', 'start');
  await serviceCtl('consul', 'start');
});

it('Consul back empty while PostgreSQL is down: nothing served or written from it, no history rewritten', async () => {
  const s = scenario('consul-empty-pg-down');
  const snapshotFile = join(s.dir, 'client.snapshot.json');
  const writer = s.spawn({ id: 'writer', role: 'writer', refs, intervalMs: 30 });
  const reader = s.spawn({ id: 'reader', role: 'reader', refs, intervalMs: 10 });
  const watcher = s.spawn({ id: 'watcher', role: 'watcher', refs });
  const client = s.spawn({ id: 'client', role: 'client', refs, snapshotFile });
  await Promise.all([writer, reader, watcher, client].map((w) => w.ready));
  await until('writes', () => ofKind(s.records(), 'ack').length >= 20);

  await serviceCtl('postgres', 'stop');
  const pgDown = Date.now();
  await until(
    'writes to Consul alone',
    () => ofKind(s.records(), 'ack').filter((a) => (a.t0 ?? 0) > pgDown).length >= 10,
  );
  await sleep(300); // the client's snapshot (debounced) holds the provisional versions too
  await client.stop();

  await serviceCtl('consul', 'kill');
  await serviceCtl('consul', 'start'); // empty
  const wiped = Date.now();
  // A client restarted now starts from its snapshot: stale, never empty, never older.
  const restarted = s.spawn({ id: 'client', role: 'client', refs, snapshotFile });
  await restarted.ready;
  await sleep(2_500);
  const pgBack = Date.now();
  await serviceCtl('postgres', 'start');
  await until('writes again', () => ofKind(s.records(), 'ack').some((a) => (a.t0 ?? 0) > pgBack));
  await sleep(1_000);
  await writer.stop();
  const convergeMs = await s.converged(refs, pgBack);
  await sleep(300);
  await Promise.all([reader, watcher, restarted].map((w) => w.stop()));

  const report = await s.report(refs, convergeMs);
  const entries = s.records();
  expectConsistent(report);
  // I4: while only the empty Consul answered, no write was acknowledged, and every refusal was typed.
  const during = entries.filter((e) => (e.t0 ?? 0) > wiped && (e.t1 ?? Number.MAX_SAFE_INTEGER) < pgBack);
  expect(ofKind(during, 'ack')).toEqual([]);
  expect(ofKind(during, 'wfail').length).toBeGreaterThan(0);
  expect(new Set(ofKind(during, 'wfail').map((e) => e.code))).toEqual(new Set(['BACKEND_UNAVAILABLE']));
  // The restarted client came up from its snapshot, marked stale.
  const clientReads = entries.filter(
    (e) => e.w === 'client' && e.k === 'read' && (e.t0 ?? 0) > wiped && (e.t0 ?? 0) < pgBack,
  );
  expect(clientReads.length).toBeGreaterThan(0);
  expect(clientReads.every((e) => e.stale === true && e.src === 'snapshot')).toBe(true);
  expect(entries.some((e) => e.k === 'event' && e.type === 'mirror-reset')).toBe(true);
}, 120_000);
