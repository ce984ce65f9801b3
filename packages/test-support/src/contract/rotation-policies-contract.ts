/**
 * The rotation policy storage contract suite (core's `RotationPolicyStore`). Every implementation
 * runs it with one call:
 *
 *   runRotationPoliciesContract('postgres', { durable: true, create: () => createSqlRotationPolicies({ ... }) });
 *
 * `create` must return a fresh, empty storage (or one on a fresh schema) each time; the suite closes
 * what it created after each test.
 */
import { isConfigError } from '@summit-config/core';
import {
  type RotationPolicy,
  RotationPolicyConflictError,
  type RotationPolicyStore,
} from '@summit-config/core/internal';
import { describe, expect, it } from 'vitest';
import { opened } from './opened.js';

export interface RotationPoliciesContractOptions {
  /** A fresh, empty policy storage. */
  create: () => Promise<RotationPolicyStore> | RotationPolicyStore;
  /** What the storage must declare as `durable`. */
  durable: boolean;
}

/** A stored-shape policy of `aws/<name>` (revision 0: not stored yet), with `overrides` on top. */
export function rotationPolicy(name: string, overrides: Partial<RotationPolicy> = {}): RotationPolicy {
  const now = new Date().toISOString();
  return {
    secret: { provider: 'aws', name },
    intervalDays: 30,
    cron: undefined,
    graceMs: 90_000_000,
    generator: { type: 'password', length: 24 },
    notify: ['http://127.0.0.1:1/hook'],
    enabled: true,
    lastRotatedAt: undefined,
    nextRotationAt: now,
    state: 'idle',
    step: undefined,
    run: undefined,
    error: undefined,
    lastRun: undefined,
    revision: 0,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

export function runRotationPoliciesContract(name: string, options: RotationPoliciesContractOptions): void {
  describe(`rotation policy storage contract: ${name}`, () => {
    const fresh = opened<RotationPolicyStore>(options.create);

    it('creates, reads, lists and compare-and-sets on the revision', async () => {
      const store = await fresh();
      const a = rotationPolicy('prod/db-a');
      const stored = await store.save(a, 0);
      expect(stored).toEqual({ ...a, revision: 1 });
      expect(await store.get(a.secret)).toEqual(stored);
      expect(await store.get({ provider: 'aws', name: 'missing' })).toBeUndefined();
      // Creating twice, or writing at a stale revision, is VERSION_CONFLICT and changes nothing.
      expect(isConfigError(await store.save(a, 0).catch((e) => e), 'VERSION_CONFLICT')).toBe(true);
      const run = {
        id: 'r1',
        reason: 'manual' as const,
        startedAt: new Date().toISOString(),
        step: 'bump' as const,
        attempts: 2,
        knownVersions: ['1'],
        previousVersion: '1',
        newVersion: '2',
        bumps: [{ ref: 'app:x/db', baseVersion: 3, version: 4 }],
        owner: 'agent-a',
        leaseUntil: new Date().toISOString(),
      };
      const rotating = await store.save({ ...stored, state: 'rotating', step: 'bump', run }, 1);
      expect(rotating.revision).toBe(2);
      expect(rotating.run).toEqual(run);
      expect(
        isConfigError(await store.save({ ...stored, state: 'failed' }, 1).catch((e) => e), 'VERSION_CONFLICT'),
      ).toBe(true);
      expect((await store.get(a.secret))?.state).toBe('rotating');
      const b = await store.save(rotationPolicy('a-first', { cron: '0 3 * * *', intervalDays: undefined }), 0);
      expect((await store.list()).map((p) => p.secret.name)).toEqual(['a-first', 'prod/db-a']);
      expect(b.cron).toBe('0 3 * * *');
      expect(isConfigError(await store.delete(a.secret, 1).catch((e) => e), 'VERSION_CONFLICT')).toBe(true);
      expect(await store.delete(a.secret, 2)).toBe(true);
      expect(await store.delete(a.secret, 2)).toBe(false);
      await store.close();
      await store.close();
      expect(isConfigError(await store.list().catch((e) => e), 'CLOSED')).toBe(true);
    });

    it('declares its name and durability; a lost compare-and-set names the secret and both revisions', async () => {
      const store = await fresh();
      expect(typeof store.name).toBe('string');
      expect(store.durable).toBe(options.durable);
      const a = rotationPolicy('prod/db-b');
      await store.save(a, 0);
      const conflict = await store.save(a, 3).catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(RotationPolicyConflictError);
      expect(conflict).toMatchObject({ code: 'VERSION_CONFLICT', secret: a.secret });
      expect((conflict as Error).message).toBe('rotation policy aws/prod/db-b: expected revision 3, found 1');
      const missing = await store.save(rotationPolicy('gone'), 1).catch((e: unknown) => e);
      expect((missing as Error).message).toBe('rotation policy aws/gone: expected revision 1, found none');
    });

    it('returns copies: changing what it returned changes nothing stored', async () => {
      const store = await fresh();
      const stored = await store.save(rotationPolicy('prod/db-c', { notify: ['http://127.0.0.1:1/a'] }), 0);
      (stored.notify as string[]).push('http://127.0.0.1:1/b');
      const read = await store.get(stored.secret);
      expect(read?.notify).toEqual(['http://127.0.0.1:1/a']);
      ((read as RotationPolicy).notify as string[]).push('http://127.0.0.1:1/c');
      expect((await store.list())[0]?.notify).toEqual(['http://127.0.0.1:1/a']);
    });
  });
}
