import { createFailoverStore, createMemoryStore, type FailoverEvent, reconcile } from '@summit-config/backends';
import { appendNext, parseRef } from '@summit-config/core';
import type { BackendUnavailableError } from '@summit-config/core/internal';
import { collect, doc, runStoreContract } from '@summit-config/test-support/contract/store-contract';
import { switchable } from '@summit-config/test-support/switchable-store';
import { describe, expect, it } from 'vitest';

const durable = { durable: true };
function chain(events: FailoverEvent[] = []) {
  const primary = switchable(createMemoryStore({ role: 'mirror' }), 'primary');
  const secondary = switchable(createMemoryStore({ role: 'record' }), 'secondary');
  const cache = createMemoryStore({ name: 'cache' });
  const store = createFailoverStore({
    tiers: [primary, secondary, cache],
    probeIntervalMs: 20,
    failureThreshold: 1,
    onEvent: (e) => events.push(e),
  });
  return { primary, secondary, cache, store, events };
}

const waitFor = async (predicate: () => boolean | Promise<boolean>, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

runStoreContract('failover (in-process tiers)', {
  create: () => chain().store,
  capabilities: { durable: true, watch: true, appliedState: true, bulkReads: true },
});

describe('failover chain', () => {
  const ref = parseRef('app:billing/database');

  it('validates its options, naming the bad one', () => {
    expect(() => createFailoverStore({ tiers: [] })).toThrow(/tiers/);
    expect(() => createFailoverStore({ tiers: [createMemoryStore()] })).toThrow(/durable/);
    const a = switchable(createMemoryStore(), 'a', durable);
    expect(() => createFailoverStore({ tiers: [a, a] })).toThrow(/two tiers are named "a"/);
    expect(() => createFailoverStore({ tiers: [a], probeIntervalMs: 0 })).toThrow(/probeIntervalMs/);
  });

  it('writes to every durable tier with the same version, then primes the cache', async () => {
    const { primary, secondary, cache, store } = chain();
    const written = await appendNext(store, { ref, config: { a: 1 }, createdBy: 't' });
    for (const tier of [primary, secondary, cache]) expect((await tier.getHead(ref))?.checksum).toBe(written.checksum);
    await store.close();
  });

  it('keeps reading and writing when the primary is down, then reconciles on its return', async () => {
    const { primary, secondary, store, events } = chain();
    await appendNext(store, { ref, config: { v: 1 }, createdBy: 't' });
    primary.down = true;
    const r = await store.getVersionDetailed(ref);
    expect(r).toMatchObject({ source: 'secondary', stale: false });
    const v2 = await appendNext(store, { ref, config: { v: 2 }, createdBy: 't' });
    expect(v2.version).toBe(2);
    expect(store.status().unsynced).toEqual(['app:billing/database']);
    expect(store.status().tiers[0]?.state).toBe('open');
    primary.down = false;
    await waitFor(() => store.status().tiers[0]?.state === 'closed');
    expect((await primary.getHead(ref))?.version).toBe(2);
    expect((await secondary.getHead(ref))?.version).toBe(2);
    expect(store.status().unsynced).toEqual([]);
    expect(events.some((e) => e.type === 'reconciled')).toBe(true);
    await store.close();
  });

  it('fails a write with an aggregate BACKEND_UNAVAILABLE when no durable tier accepts; reads come from the cache', async () => {
    const { primary, secondary, store } = chain();
    await appendNext(store, { ref, config: { v: 1 }, createdBy: 't' });
    primary.down = true;
    secondary.down = true;
    const error = (await appendNext(store, { ref, config: { v: 2 }, createdBy: 't' }, { expectedVersion: 1 }).catch(
      (e: unknown) => e,
    )) as BackendUnavailableError;
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.failures.map((f) => f.backend)).toEqual(['primary', 'secondary']);
    const read = await store.getVersionDetailed(ref);
    expect(read).toMatchObject({ source: 'cache', stale: true });
    expect(read.doc?.config).toEqual({ v: 1 });
    primary.down = false;
    secondary.down = false;
    await waitFor(() => store.status().tiers.every((t) => t.state === 'closed'));
    // The refused write left nothing anywhere.
    expect((await store.getHead(ref))?.version).toBe(1);
    await store.close();
  });

  it('reports a refs missing on every tier as undefined, never as an outage', async () => {
    const { store } = chain();
    expect(await store.getVersion(parseRef('global/none'))).toBeUndefined();
    await store.close();
  });

  it('switches its watch to the next tier and back, delivering every change once', async () => {
    const { primary, store } = chain();
    const w = collect(store);
    await appendNext(store, { ref, config: { v: 1 }, createdBy: 't' });
    await w.until((e) => e.some((x) => x.version === 1));
    expect(store.status().watching).toBe('primary');
    primary.down = true;
    await appendNext(store, { ref, config: { v: 2 }, createdBy: 't' });
    await waitFor(() => store.status().watching === 'secondary');
    await w.until((e) => e.some((x) => x.version === 2));
    primary.down = false;
    await waitFor(() => store.status().watching === 'primary');
    await appendNext(store, { ref, config: { v: 3 }, createdBy: 't' });
    await w.until((e) => e.some((x) => x.version === 3));
    expect(w.events.map((e) => e.version)).toEqual([1, 2, 3]);
    w.stop();
    await store.close();
  });
});

describe('reconcile', () => {
  const ref = parseRef('global/split');
  const pair = () => ({
    mirror: createMemoryStore({ name: 'consul', role: 'mirror' }),
    record: createMemoryStore({ name: 'postgres', role: 'record' }),
  });
  /** A pair whose stores both hold the same version 1 of `ref`. */
  const agreeingOnV1 = async () => {
    const stores = pair();
    await stores.mirror.append(doc(ref, 1));
    await stores.record.append(doc(ref, 1));
    return stores;
  };

  it('copies missing versions both ways and is idempotent', async () => {
    const { mirror: a, record: b } = await agreeingOnV1();
    await b.append(doc(ref, 2));
    await a.append(doc('global/only-a', 1));
    const first = await reconcile([a, b]);
    expect(first.copied.map((c) => `${c.ref}@${c.version}:${c.from}->${c.to}`).sort()).toEqual([
      'global/only-a@1:consul->postgres',
      'global/split@2:postgres->consul',
    ]);
    const second = await reconcile([a, b]);
    expect(second.copied).toEqual([]);
    expect(second.conflicts).toEqual([]);
  });

  it('resolves a split brain: the record keeps the number, the mirror content is re-appended in both', async () => {
    const { mirror: a, record: b } = await agreeingOnV1();
    const fromMirror = doc(ref, 2, { writer: 'B-consul-only' });
    const fromRecord = doc(ref, 2, { writer: 'A-postgres-only' });
    await a.append(fromMirror, { provisional: true });
    await b.append(fromRecord);
    const seen: unknown[] = [];
    const report = await reconcile([a, b], { onConflict: (c) => void seen.push(c) });
    expect(report.conflicts).toEqual([
      expect.objectContaining({
        ref: 'global/split',
        version: 2,
        kept: fromRecord.checksum,
        from: 'consul',
        checksum: fromMirror.checksum,
        reappendedAs: 3,
      }),
    ]);
    expect(seen).toHaveLength(1);
    for (const s of [a, b]) {
      expect((await s.getVersion(ref, 2))?.config).toEqual({ writer: 'A-postgres-only' });
      const v3 = await s.getVersion(ref, 3);
      expect(v3?.config).toEqual({ writer: 'B-consul-only' });
      expect(v3?.metadata).toMatchObject({ conflict: { tier: 'consul', version: 2, checksum: fromMirror.checksum } });
    }
    expect((await a.getHead(ref))?.checksum).toBe((await b.getHead(ref))?.checksum);
    expect(await a.listProvisional?.()).toEqual([]);
    const again = await reconcile([a, b]);
    expect(again.conflicts).toEqual([]);
    expect(again.copied).toEqual([]);
  });

  it('re-appends a divergent mirror run after the record head, keeping every record version', async () => {
    const { mirror: a, record: b } = await agreeingOnV1();
    await a.append(doc(ref, 2, { a: 2 }), { provisional: true });
    await a.append(doc(ref, 3, { a: 3 }), { provisional: true });
    for (const v of [2, 3, 4]) await b.append(doc(ref, v, { b: v }));
    const report = await reconcile([a, b]);
    expect(report.conflicts.map((c) => [c.version, c.reappendedAs])).toEqual([
      [2, 5],
      [3, 6],
    ]);
    for (const s of [a, b]) {
      expect(await s.listVersions(ref)).toEqual([1, 2, 3, 4, 5, 6]);
      expect((await s.getVersion(ref, 4))?.config).toEqual({ b: 4 });
      expect((await s.getVersion(ref, 5))?.config).toEqual({ a: 2 });
      expect((await s.getVersion(ref, 6))?.config).toEqual({ a: 3 });
    }
  });

  it('is crash-safe: content re-appended before a crash is not appended twice', async () => {
    const { mirror: a, record: b } = pair();
    await a.append(doc(ref, 1, { mirror: 1 }), { provisional: true });
    await b.append(doc(ref, 1, { record: 1 }));
    // The first step of a repair ran (the mirror's content was re-appended), then the process died.
    const loser = (await a.getVersion(ref, 1)) as NonNullable<Awaited<ReturnType<typeof a.getVersion>>>;
    const { createVersion } = await import('@summit-config/core/internal');
    await b.append(
      createVersion(
        {
          ref,
          config: loser.config,
          metadata: { conflict: { tier: 'consul', version: 1, checksum: loser.checksum } },
          createdBy: 'summit-reconciler',
        },
        2,
      ),
    );
    const report = await reconcile([a, b]);
    expect(report.conflicts).toEqual([]);
    for (const s of [a, b]) {
      expect(await s.listVersions(ref)).toEqual([1, 2]);
      expect((await s.getVersion(ref, 1))?.config).toEqual({ record: 1 });
      expect((await s.getVersion(ref, 2))?.config).toEqual({ mirror: 1 });
    }
  });
});
