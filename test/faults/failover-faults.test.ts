/**
 * In-process fault checks on the real services (chains in this process, not separate processes):
 * Consul killed and frozen, PostgreSQL stopped, both down (a new client starts from its snapshot),
 * and a split brain through cut proxies (the record keeps its number, the other content is
 * re-appended and its writer told). The real-process scenarios, each in its own file beside this one,
 * check issue 13's invariants I1-I8 over every process's history (records.ts, docs/failover.md).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FailoverEvent, FailoverStore } from '@summit-config/backends';
import { appendNext, type ConfigClient, createConfigClient, parseRef } from '@summit-config/core';
import type { BackendUnavailableError } from '@summit-config/core/internal';
import { serviceCtl, services } from '@summit-config/test-support/services';
import { afterEach, describe, expect, it } from 'vitest';
import { createChain, startReaders, startWriters, uniqueNames, waitFor } from './chain.js';
import { checkInvariants, History } from './history.js';
import { startProxy } from './proxy.js';

const refs = ['app:shop/database', 'app:shop/features/checkout', 'global/limits'].map((r) => parseRef(r));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function seed(store: FailoverStore, history: History) {
  for (const ref of refs) history.ackWrite(await appendNext(store, { ref, config: { n: 0 }, createdBy: 'seed' }));
}

/**
 * A fresh chain with `refs` seeded (acknowledged in a new history); after the test, `restore` runs
 * (last first) and the chain is closed.
 */
async function seededChain(tag: string, ...restore: Array<() => Promise<unknown>>) {
  const names = uniqueNames(tag);
  const store = createChain(names);
  cleanups.push(() => store.close(), ...restore);
  const history = new History();
  await seed(store, history);
  return { names, store, history };
}

/** A fresh, independent chain's durable tiers, to inspect each directly once the faults have ended. */
function durableTiers(names: { prefix: string; schema: string }) {
  const inspector = createChain(names);
  cleanups.push(() => inspector.close());
  return inspector.tiers().filter((t) => t.capabilities.durable);
}

async function converged(stores: FailoverStore[], clients: ConfigClient[]): Promise<boolean> {
  for (const ref of refs) {
    const heads = await Promise.all(stores.map((s) => s.getHead(ref, { consistent: true })));
    if (heads.some((h) => h?.checksum !== heads[0]?.checksum)) return false;
    const scope = ref.scope === 'global' ? 'global' : 'app';
    for (const c of clients) {
      if (c.resolve(ref.id).versions[scope] !== heads[0]?.version) return false;
    }
  }
  return true;
}

describe('failover under real faults', () => {
  it('Consul killed under load: no failed read, no lost write, watch on PostgreSQL, converged after restart', async () => {
    const names = uniqueNames('kill');
    const events: FailoverEvent[] = [];
    const bEvents: FailoverEvent[] = [];
    const a = createChain({ ...names, events });
    const b = createChain({ ...names, events: bEvents });
    cleanups.push(
      () => a.close(),
      () => b.close(),
      () => serviceCtl('consul', 'start'),
    );
    const history = new History();
    await seed(a, history);
    const clients = await Promise.all(
      [a, b].map((store) => createConfigClient({ store, app: 'shop', environment: 'production' })),
    );
    cleanups.push(...clients.map((c) => () => c.close()));
    const writers = startWriters(a, refs, history);
    const readers = [startReaders(a, refs, history), startReaders(b, refs, history)];
    await new Promise((r) => setTimeout(r, 500));

    await serviceCtl('consul', 'kill');
    await waitFor('watch on postgres', () => a.status().watching === 'postgres' && b.status().watching === 'postgres');
    const writesBefore = history.acked.length;
    await waitFor('writes continue during the outage', () => history.acked.length >= writesBefore + 10);
    expect(a.status().unsynced.length).toBeGreaterThan(0);

    await serviceCtl('consul', 'start'); // a dev agent restarts empty, with a low index
    await waitFor(
      'consul closed again',
      () => a.status().tiers[0]?.state === 'closed' && b.status().tiers[0]?.state === 'closed',
    );
    await writers.stop();
    await waitFor('every process at the same heads', () => converged([a, b], clients));
    for (const r of readers) await r.stop();

    expect(history.failedReads.map((e) => (e as Error).message)).toEqual([]);
    expect(history.missingReads).toEqual([]);
    expect(history.unverifiedReads).toEqual([]);
    expect(history.failedWrites.map((e) => (e as Error).message)).toEqual([]);
    const report = await checkInvariants(history, durableTiers(names), refs);

    expect(report).toEqual({ lost: [], gaps: [], diverged: [] });
    expect(events.some((e) => e.type === 'watch-switch' && e.to === 'postgres')).toBe(true);
    // The empty Consul was recognised and rebuilt by whichever process came first (the other may find
    // it rebuilt, epoch and all, by the time it probes).
    const all = [...events, ...bEvents];
    expect(all.some((e) => e.type === 'mirror-reset')).toBe(true);
    expect(all.some((e) => e.type === 'reconciled' && e.report.copied.length > 0)).toBe(true);
  });

  it('Consul frozen (SIGSTOP): treated as dead within the request timeout; SIGCONT recovers', async () => {
    const { names, store, history } = await seededChain('stop', () => serviceCtl('consul', 'resume'));
    const readers = startReaders(store, refs, history);
    const unwatch = store.watch(() => {});
    cleanups.push(async () => unwatch());
    await waitFor('watch on consul', () => store.status().watching === 'consul');
    await serviceCtl('consul', 'pause');
    try {
      const started = Date.now();
      const doc = await appendNext(store, { ref: refs[0] as never, config: { frozen: true }, createdBy: 't' });
      history.ackWrite(doc);
      // The write did not hang on the frozen server: it went to PostgreSQL once Consul timed out.
      expect(Date.now() - started).toBeLessThan(10_000);
      await waitFor('breaker open on consul', () => store.status().tiers[0]?.state === 'open');
      expect(store.status().watching).toBe('postgres');
    } finally {
      await serviceCtl('consul', 'resume');
    }
    await waitFor('consul closed again', () => store.status().tiers[0]?.state === 'closed');
    await readers.stop();
    expect(history.failedReads.map((e) => (e as Error).message)).toEqual([]);
    const report = await checkInvariants(history, durableTiers(names), refs);
    expect(report).toEqual({ lost: [], gaps: [], diverged: [] });
  });

  it('PostgreSQL stopped: writes continue through Consul and are reconciled into PostgreSQL after restart', async () => {
    const { names, store, history } = await seededChain('pgdown', () => serviceCtl('postgres', 'start'));
    const writers = startWriters(store, refs, history, 100);
    const readers = startReaders(store, refs, history);
    await serviceCtl('postgres', 'stop');
    try {
      await waitFor('breaker open on postgres', () => store.status().tiers[1]?.state === 'open');
      const before = history.acked.length;
      await waitFor('writes continue through consul', () => history.acked.length >= before + 10);
    } finally {
      await serviceCtl('postgres', 'start');
    }
    await waitFor('postgres closed again', () => store.status().tiers[1]?.state === 'closed');
    await writers.stop();
    await readers.stop();
    await store.reconcile();
    expect(history.failedReads.map((e) => (e as Error).message)).toEqual([]);
    expect(history.failedWrites.map((e) => (e as Error).message)).toEqual([]);
    const report = await checkInvariants(history, durableTiers(names), refs);
    expect(report).toEqual({ lost: [], gaps: [], diverged: [] });
  });

  it('both down: writes fail with BACKEND_UNAVAILABLE, reads serve from memory, a new process starts from the snapshot', async () => {
    const snapshotDir = await mkdtemp(join(tmpdir(), 'summit-faults-'));
    cleanups.push(() => rm(snapshotDir, { recursive: true, force: true }));
    const snapshotFile = join(snapshotDir, 'shop.json');
    const { names, store } = await seededChain(
      'both',
      () => serviceCtl('consul', 'start'),
      () => serviceCtl('postgres', 'start'),
    );
    const client = await createConfigClient({ store, app: 'shop', environment: 'production', snapshotFile });
    cleanups.push(() => client.close());
    const before = client.get('database');
    await new Promise((r) => setTimeout(r, 300)); // the snapshot write is debounced
    await serviceCtl('consul', 'kill');
    await serviceCtl('postgres', 'stop');
    try {
      await waitFor('both breakers open', () =>
        store
          .status()
          .tiers.slice(0, 2)
          .every((t) => t.state === 'open'),
      );
      const error = (await appendNext(store, { ref: refs[0] as never, config: { lost: true }, createdBy: 't' }).catch(
        (e: unknown) => e,
      )) as BackendUnavailableError;
      expect(error.code).toBe('BACKEND_UNAVAILABLE');
      expect(error.failures.map((f) => f.backend)).toEqual(['consul', 'postgres']);
      expect(client.get('database')).toEqual(before);
      const cached = await store.getVersionDetailed(refs[0] as never);
      expect(cached).toMatchObject({ source: 'cache', stale: true });

      const fresh = createChain(names);
      cleanups.push(() => fresh.close());
      const restarted = await createConfigClient({
        store: fresh,
        app: 'shop',
        environment: 'production',
        snapshotFile,
        startTimeoutMs: 1_000,
      });
      cleanups.push(() => restarted.close());
      expect(restarted.get('database')).toEqual(before);
      expect(restarted.resolve('database')).toMatchObject({ source: 'snapshot', stale: true });
    } finally {
      await serviceCtl('postgres', 'start');
      await serviceCtl('consul', 'start');
    }
  });

  it('split brain: writers on opposite sides of a partition write the same ref; the record keeps its number, the other content is re-appended and its writer told', async () => {
    const names = uniqueNames('split');
    const ref = refs[0] as ReturnType<typeof parseRef>;
    const { consulAddr, databaseUrl } = services();
    const consulProxy = await startProxy(Number(new URL(consulAddr).port));
    const pgProxy = await startProxy(Number(new URL(databaseUrl).port));
    const viaProxy = new URL(databaseUrl);
    viaProxy.port = String(pgProxy.port);
    const aEvents: FailoverEvent[] = [];
    const bEvents: FailoverEvent[] = [];
    // A reaches PostgreSQL but not Consul; B reaches Consul but not PostgreSQL.
    const a = createChain({ ...names, consulAddress: `http://127.0.0.1:${consulProxy.port}`, events: aEvents });
    const b = createChain({ ...names, databaseUrl: viaProxy.toString(), events: bEvents });
    cleanups.push(
      () => a.close(),
      () => b.close(),
      () => consulProxy.close(),
      () => pgProxy.close(),
    );
    await appendNext(a, { ref, config: { base: true }, createdBy: 'seed' });
    await b.getHead(ref);
    consulProxy.cut();
    pgProxy.cut();
    const history = new History();

    // A writes v2 to PostgreSQL alone (Consul lags); B, cut off from the record, writes v2 to Consul
    // alone: a provisional version. Neither can see the other's.
    const fromA = await appendNext(a, { ref, config: { writer: 'A' }, createdBy: 'writer-a' }, { expectedVersion: 1 });
    history.ackWrite(fromA);
    expect(a.status().tiers[0]?.state).toBe('open');
    const fromB = await appendNext(b, { ref, config: { writer: 'B' }, createdBy: 'writer-b' }, { expectedVersion: 1 });
    history.ackWrite(fromB);
    expect(b.status().tiers[1]?.state).toBe('open');
    expect(fromB.version).toBe(2);

    // A process that reaches both starts:
    // it repairs without any new write: the record's v2 (A) keeps its number, B's content is
    // re-appended as v3 in both stores.
    const healthy = createChain(names);
    cleanups.push(() => healthy.close());
    await healthy.getHead(ref);
    const tiers = durableTiers(names);
    const [consul, postgres] = tiers;
    await waitFor('the conflict to be repaired', async () => (await consul?.getHead(ref))?.version === 3);
    for (const tier of [consul, postgres]) {
      expect((await tier?.getVersion(ref, 2))?.config).toEqual({ writer: 'A' });
      const v3 = await tier?.getVersion(ref, 3);
      expect(v3?.config).toEqual({ writer: 'B' });
      expect(v3?.metadata).toMatchObject({ conflict: { tier: 'consul', version: 2, checksum: fromB.checksum } });
    }
    expect(await checkInvariants(history, tiers, [ref])).toEqual({ lost: [], gaps: [], diverged: [] });

    // When B's partition heals, B's process is told its v2 now lives at v3.
    pgProxy.restore();
    consulProxy.restore();
    await waitFor('B to hear of the renumbering', () => bEvents.some((e) => e.type === 'renumbered'));
    expect(bEvents.find((e) => e.type === 'renumbered')).toEqual({
      type: 'renumbered',
      ref: 'app:shop/database',
      version: 2,
      checksum: fromB.checksum,
      reappendedAs: 3,
    });
    // The record is append-only: the conflict is three appends in its audit trail, the last naming it.
    const { default: pg } = await import('pg');
    const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await db.connect();
    try {
      const { rows } = await db.query<{ action: string; version: number; message: string }>(
        `select action, version, message from "${names.schema}".config_audit where config_id = $1 order by seq`,
        ['app:shop/database'],
      );
      expect(rows.map((r) => [r.action, r.version])).toEqual([
        ['append', 1],
        ['append', 2],
        ['append', 3],
      ]);
      expect(rows[2]?.message).toMatch(/conflict: consul v2 by writer-b/);
    } finally {
      await db.end();
    }
  });
});
