/**
 * Drift detection over in-process tiers: head differences, documents that do not verify, lagging
 * and rejecting instances, and what remediation repairs.
 */
import { createFailoverStore } from '@summit-config/backends';
import { createMemoryStore } from '@summit-config/backends/memory';
import { appendNext, type ConfigStore, parseRef, refKey } from '@summit-config/core';
import { createVersion, errors } from '@summit-config/core/internal';
import { switchable } from '@summit-config/test-support/switchable-store';
import { describe, expect, it } from 'vitest';
import { detectDrift } from '../src/drift.js';

/** A tier whose listed refs read as tampered (CHECKSUM_MISMATCH) until repaired with `replace`. */
function tamperable(inner: ConfigStore, name: string) {
  const tampered = new Set<string>();
  const base = switchable(inner, name, { durable: true, cache: false });
  const store: ConfigStore = {
    ...base,
    name,
    capabilities: base.capabilities,
    async getVersion(ref, version, o) {
      const key = `${refKey(parseRef(ref))}@${version ?? (await inner.getHead(ref))?.version}`;
      if (tampered.has(key)) throw errors.checksumMismatch(`${key} does not verify`, { ref: refKey(parseRef(ref)) });
      return inner.getVersion(ref, version, o);
    },
    async replace(doc, o) {
      tampered.delete(`${refKey(doc.ref)}@${doc.version}`);
      await inner.replace?.(doc, o);
    },
  };
  return { store, tampered };
}

function chain() {
  const p = tamperable(createMemoryStore({ name: 'p', role: 'mirror' }), 'primary');
  const r = tamperable(createMemoryStore({ name: 'r', role: 'record' }), 'record');
  const store = createFailoverStore({ tiers: [p.store, r.store, createMemoryStore({ name: 'cache' })] });
  return { p, r, store };
}

const options = { lagThreshold: 0, lagGraceMs: 0, concurrency: 4, confirmDelayMs: 1 };

describe('drift detection', () => {
  it('finds nothing when the tiers agree', async () => {
    const { p, r, store } = chain();
    await appendNext(store, { ref: 'global/a', config: { x: 1 }, createdBy: 't' });
    const report = await detectDrift({ store, primary: p.store, record: r.store, remediate: false, ...options });
    expect(report.findings).toEqual([]);
    expect(report.examined).toBe(1);
    await store.close();
  });

  it('reports head differences and missing refs, and reconciliation repairs them', async () => {
    const { p, r, store } = chain();
    await appendNext(store, { ref: 'global/a', config: { x: 1 }, createdBy: 't' });
    // Writes that reached one tier only.
    await appendNext(r.store, { ref: 'global/a', config: { x: 2 }, createdBy: 't' });
    await appendNext(p.store, { ref: 'global/only-primary', config: { y: 1 }, createdBy: 't' });

    const seen = await detectDrift({ store, primary: p.store, record: r.store, remediate: false, ...options });
    expect(seen.findings.map((f) => [f.kind, f.ref, f.tier])).toEqual(
      expect.arrayContaining([
        ['head-mismatch', 'global/a', undefined],
        ['missing', 'global/only-primary', 'record'],
      ]),
    );
    expect(seen.findings.find((f) => f.kind === 'head-mismatch')?.heads).toMatchObject({
      primary: { version: 1 },
      record: { version: 2 },
    });
    expect(seen.findings.every((f) => f.remediated === undefined)).toBe(true);

    const fixed = await detectDrift({ store, primary: p.store, record: r.store, remediate: true, ...options });
    expect(
      fixed.findings
        .filter((f) => f.remediated)
        .map((f) => f.ref)
        .sort(),
    ).toEqual(['global/a', 'global/only-primary']);
    expect(fixed.reconcile?.copied.length).toBe(2);
    const again = await detectDrift({ store, primary: p.store, record: r.store, remediate: false, ...options });
    expect(again.findings).toEqual([]);
    await store.close();
  });

  it('reports a document that does not verify and rewrites it from the other tier', async () => {
    const { p, r, store } = chain();
    await appendNext(store, { ref: 'app:billing/db', config: { x: 1 }, createdBy: 't' });
    p.tampered.add('app:billing/db@1');
    const report = await detectDrift({ store, primary: p.store, record: r.store, remediate: true, ...options });
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: 'checksum-mismatch',
        ref: 'app:billing/db',
        tier: 'primary',
        version: 1,
        remediated: true,
        remediation: 'rewrote v1 in primary from record',
      }),
    ]);
    expect(p.tampered.size).toBe(0);
    await store.close();
  });

  it('cannot repair a bad document without a second durable tier, and says so', async () => {
    const p = tamperable(createMemoryStore(), 'primary');
    const store = createFailoverStore({ tiers: [p.store] });
    await appendNext(store, { ref: 'global/a', config: { x: 1 }, createdBy: 't' });
    p.tampered.add('global/a@1');
    const report = await detectDrift({ store, primary: p.store, record: undefined, remediate: true, ...options });
    expect(report.findings[0]).toMatchObject({
      kind: 'checksum-mismatch',
      remediated: false,
      remediation: 'no other durable tier holds a copy to repair from',
    });
    await store.close();
  });

  it('reports instances that lag beyond the threshold or rejected a version', async () => {
    const { p, r, store } = chain();
    for (let i = 1; i <= 4; i++) await appendNext(store, { ref: 'global/a', config: { i }, createdBy: 't' });
    const doc = (v: number) => createVersion({ ref: 'global/a', config: { i: v }, createdBy: 't' }, v);
    const ack = async (instance: string, version: number, status: 'applied' | 'rejected' = 'applied') =>
      store.ack?.({
        ref: parseRef('global/a'),
        environment: 'prod',
        instance,
        version,
        checksum: doc(version).checksum,
        status,
        ...(status === 'rejected' ? { reason: 'schema says no' } : {}),
        at: new Date().toISOString(),
      });
    await ack('current', 4);
    await ack('one-behind', 3);
    await ack('far-behind', 1);
    await ack('refuser', 4, 'rejected');

    const strict = await detectDrift({ store, primary: p.store, record: r.store, remediate: true, ...options });
    const kinds = strict.findings.map((f) => [f.kind, f.instance, f.ackVersion, f.headVersion]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ['lagging-instance', 'one-behind', 3, 4],
        ['lagging-instance', 'far-behind', 1, 4],
        ['rejected-instance', 'refuser', 4, 4],
      ]),
    );
    expect(kinds).toHaveLength(3);
    expect(strict.findings.find((f) => f.kind === 'rejected-instance')?.reason).toBe('schema says no');
    expect(strict.findings.every((f) => f.remediated === undefined && /reported only/.test(f.remediation ?? ''))).toBe(
      true,
    );

    const tolerant = await detectDrift({
      store,
      primary: p.store,
      record: r.store,
      remediate: false,
      ...options,
      lagThreshold: 1,
    });
    expect(tolerant.findings.filter((f) => f.kind === 'lagging-instance').map((f) => f.instance)).toEqual([
      'far-behind',
    ]);

    // A head younger than the grace period is not held against anyone yet.
    const young = await detectDrift({
      store,
      primary: p.store,
      record: r.store,
      remediate: false,
      ...options,
      lagGraceMs: 3_600_000,
    });
    expect(young.findings.map((f) => f.kind)).toEqual(['rejected-instance']);
    await store.close();
  });

  it('fails the run (instead of reporting drift) when a tier cannot be listed', async () => {
    const { p, r, store } = chain();
    const down = switchable(r.store, 'record');
    down.down = true;
    await expect(
      detectDrift({ store, primary: p.store, record: down, remediate: true, ...options }),
    ).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await store.close();
  });
});
