/**
 * Write fences: a leader-only write carries the leader lock's check, atomically with the write, so a
 * process that lost the lock writes nothing (real Consul).
 */
import { randomBytes } from 'node:crypto';
import { createFailoverStore } from '@summit-config/backends';
import { createConsulStore, createLeaderLock } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { parseRef, type WriteFence } from '@summit-config/core';
import { afterEach, describe, expect, it } from 'vitest';
import { doc } from '../../../test/contract/store-contract.js';
import { services } from '../../../test/helpers/services.js';
import { switchable } from '../../../test/helpers/switchable-store.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => {});
});

async function setup() {
  const { consulAddr } = services();
  const prefix = `t-fence-${randomBytes(4).toString('hex')}/`;
  const store = createConsulStore({ address: consulAddr, prefix });
  const lock = createLeaderLock({ address: consulAddr, prefix, name: 'jobs', ttlMs: 10_000, lockDelayMs: 0 });
  closers.push(
    () => store.close(),
    () => lock.close(),
  );
  const token = await lock.acquire();
  const fence = (): WriteFence => ({ token, checks: { consul: lock.guardOp() } });
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
