/**
 * Write fences: a leader-only write carries the leader lock's check, atomically with the write, so a
 * process that lost the lock writes nothing (real Consul).
 */
import { randomBytes } from 'node:crypto';
import { createFailoverStore } from '@summit-config/backends';
import { createConsulStore, createLeaderLock } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { parseRef, type WriteFence } from '@summit-config/core';
import { doc } from '@summit-config/test-support/contract/store-contract';
import { services } from '@summit-config/test-support/services';
import { switchable } from '@summit-config/test-support/switchable-store';
import { afterEach, describe, expect, it } from 'vitest';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => {});
});

async function setup(name?: string) {
  const { consulAddr } = services();
  const prefix = `t-fence-${randomBytes(4).toString('hex')}/`;
  const store = createConsulStore({ address: consulAddr, prefix, name });
  const lock = createLeaderLock({ address: consulAddr, prefix, name: 'jobs', ttlMs: 10_000, lockDelayMs: 0 });
  closers.push(
    () => store.close(),
    () => lock.close(),
  );
  const token = await lock.acquire();
  const fence = (): WriteFence => ({ token, checks: { [store.name]: lock.guardOp() } });
  return { store, lock, fence };
}

describe('write fences on Consul', () => {
  it('lets the lock holder append and replace, and refuses both once the lock is gone, writing nothing', async () => {
    const { store, lock, fence } = await setup();
    const ref = parseRef('global/fenced');
    await store.append(doc(ref, 1), { fence: fence() });
    await store.replace?.(doc(ref, 1, { repaired: true }), { reason: 'test', fence: fence() });
    expect((await store.getVersion(ref, 1))?.config).toEqual({ repaired: true });

    const stale = fence();
    await lock.release();
    await expect(store.append(doc(ref, 2), { fence: stale })).rejects.toMatchObject({ code: 'CONFLICTING_CHANGE' });
    await expect(store.replace?.(doc(ref, 1, { late: true }), { reason: 'late', fence: stale })).rejects.toMatchObject({
      code: 'CONFLICTING_CHANGE',
    });
    expect(await store.listVersions(ref)).toEqual([1]);
    expect((await store.getVersion(ref, 1))?.config).toEqual({ repaired: true });
    // Unfenced writes are unaffected.
    await store.append(doc(ref, 2));
  });

  it('is keyed by store name: a store takes only the check under its own name', async () => {
    const { store, lock } = await setup('edge');
    const ref = parseRef('global/named');
    const token = lock.fencingToken as number;
    const stale = { token, checks: { edge: lock.guardOp() } };
    await lock.release();
    // The check of another store (here under the default name) is not this store's: ignored.
    await store.append(doc(ref, 1), { fence: { token, checks: { consul: stale.checks.edge } } });
    await expect(store.append(doc(ref, 2), { fence: stale })).rejects.toMatchObject({ code: 'CONFLICTING_CHANGE' });
    // A check under its name must be the lock's transaction operation.
    await expect(store.append(doc(ref, 2), { fence: { token, checks: { edge: 'no' } } })).rejects.toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
      message: expect.stringMatching(/write fence for edge/),
    });
    expect(await store.listVersions(ref)).toEqual([1]);
  });

  it('fences reconciliation: a deposed leader copies nothing into Consul', async () => {
    const { store, lock, fence } = await setup();
    const record = switchable(createMemoryStore({ name: 'record-inner', role: 'record' }), 'record');
    const ref = parseRef('global/behind');
    // No probe and no repair tick during the test: only the explicit passes below repair.
    const chain = createFailoverStore({ tiers: [store, record], probeIntervalMs: 60_000, repairIntervalMs: 60_000 });
    closers.push(() => chain.close());
    expect(await chain.getHead(ref)).toBeUndefined();
    // Two versions the record committed while the mirror was away.
    for (const v of [1, 2]) {
      const pending = await record.beginAppend?.(doc(ref, v));
      await pending?.commit({ mirrored: false });
    }
    const stale = fence();
    await lock.release();
    await expect(chain.reconcile({ fence: stale })).rejects.toMatchObject({ code: 'CONFLICTING_CHANGE' });
    expect(await store.getHead(ref)).toBeUndefined();
    await lock.acquire();
    const report = await chain.reconcile({ fence: fence() });
    expect(report.copied.map((c) => c.version)).toEqual([1, 2]);
    expect((await store.getHead(ref))?.version).toBe(2);
  });
});
