/**
 * The migration history contract suite (core's `MigrationHistory`). Every implementation runs it
 * with one call:
 *
 *   runMigrationHistoryContract('pglite', { storage: async () => ({ open: () => createPgliteMigrationHistory({ ... }) }) });
 *
 * `storage` must give a fresh, empty storage each time; its `open()` a history on it: a new instance
 * per call where instances can share one storage (SQL: another runner's view), the same one where
 * they cannot (memory). The suite closes what it opened after each test.
 */
import type { MigrationHistory, MigrationRecord, MigrationRefRecord } from '@summit-config/core/migrations';
import { afterEach, describe, expect, it } from 'vitest';
import { migrationRecord, migrationRefRecord } from '../builders.js';
import { codeOf } from '../errors.js';

export interface MigrationHistoryContractOptions {
  /** A fresh, empty storage and the way to open histories on it. */
  storage: () => Promise<{ open(): MigrationHistory }> | { open(): MigrationHistory };
}

/** A record with a description and a dependency, so that both round-trip. */
const record = (over: Partial<MigrationRecord> = {}) =>
  migrationRecord({ description: 'first', dependencies: ['m0'], ...over });

/** A ref record with every optional field of an applied ref. */
const refRecord = (over: Partial<MigrationRefRecord> = {}) =>
  migrationRefRecord({ afterChecksum: 'd'.repeat(64), afterContent: 'e'.repeat(64), ...over });

export function runMigrationHistoryContract(name: string, options: MigrationHistoryContractOptions): void {
  describe(`migration history contract: ${name}`, () => {
    const opened = new Set<MigrationHistory>();
    /** A fresh storage; `open()` there is tracked and closed after the test. */
    async function fresh(): Promise<{ open(): MigrationHistory }> {
      const s = await options.storage();
      return {
        open() {
          const h = s.open();
          opened.add(h);
          return h;
        },
      };
    }
    afterEach(async () => {
      const all = [...opened];
      opened.clear();
      await Promise.all(all.map((h) => h.close()));
    });

    it('compare-and-set on (status, run); records round-trip', async () => {
      const h = (await fresh()).open();
      expect(await h.list()).toEqual([]);
      await h.save(record(), undefined);
      expect(await codeOf(h.save(record(), undefined))).toBe('CONFLICTING_CHANGE');
      expect(await codeOf(h.save(record({ status: 'applied' }), { status: 'failed', run: 1 }))).toBe(
        'CONFLICTING_CHANGE',
      );
      expect(await codeOf(h.save(record({ status: 'applied' }), { status: 'running', run: 2 }))).toBe(
        'CONFLICTING_CHANGE',
      );
      const done = record({
        status: 'applied',
        finishedAt: '2030-01-01T00:05:00.000Z',
        error: { code: 'TIMEOUT', message: 'x' },
      });
      await h.save(done, { status: 'running', run: 1 });
      expect(await h.get('m1')).toEqual(done);
      expect(await h.get('m2')).toBeUndefined();
      await h.save(record({ name: 'a0' }), undefined);
      expect((await h.list()).map((r) => r.name)).toEqual(['a0', 'm1']);
    });

    it('a lost compare-and-set writes nothing', async () => {
      const h = (await fresh()).open();
      await h.save(migrationRecord(), undefined);
      // A second claim of a new record loses.
      expect(await codeOf(h.save(migrationRecord(), undefined))).toBe('CONFLICTING_CHANGE');
      // The wrong expectation loses and writes nothing.
      const stale = h.save(migrationRecord({ status: 'applied' }), { status: 'failed', run: 1 });
      expect(await codeOf(stale)).toBe('CONFLICTING_CHANGE');
      expect((await h.get('m1'))?.status).toBe('running');
      await h.save(migrationRecord({ status: 'applied', finishedAt: '2030-01-01T00:01:00.000Z' }), {
        status: 'running',
        run: 1,
      });
      expect(await h.get('m1')).toMatchObject({ status: 'applied', finishedAt: '2030-01-01T00:01:00.000Z' });
      expect((await h.list()).map((r) => r.name)).toEqual(['m1']);
      expect(await h.get('nope')).toBeUndefined();
    });

    it('ref records per run, replaced by key, refused without their migration', async () => {
      const h = (await fresh()).open();
      expect(await codeOf(h.saveRef(refRecord()))).toBe('CONSTRAINT_VIOLATION');
      await h.save(record(), undefined);
      await h.saveRef(refRecord({ ref: 'global/y', state: 'proposed', requestId: 'req-1', afterVersion: undefined }));
      await h.saveRef(refRecord());
      const rolled = refRecord({
        rollback: {
          state: 'rolled_back',
          version: 3,
          checksum: 'f'.repeat(64),
          forced: true,
          at: '2030-01-02T00:00:00.000Z',
        },
      });
      await h.saveRef(rolled);
      await h.saveRef(refRecord({ run: 2, ref: 'app:a/x' }));
      const refs = await h.listRefs('m1', 1);
      expect(refs.map((r) => r.ref)).toEqual(['global/x', 'global/y']);
      expect(refs[0]).toEqual(rolled);
      expect(refs[1]).toMatchObject({ state: 'proposed', requestId: 'req-1' });
      expect(refs[1]?.afterVersion).toBeUndefined();
      expect((await h.listRefs('m1', 2)).map((r) => r.ref)).toEqual(['app:a/x']);
      expect(await h.listRefs('m9', 1)).toEqual([]);
      expect(await codeOf(h.saveRef({ ...refRecord(), state: 'weird' as never }))).toBe('CONSTRAINT_VIOLATION');
    });

    it('keeps ref records per run, replaces by key, and returns copies', async () => {
      const h = (await fresh()).open();
      await h.save(migrationRecord(), undefined);
      await h.saveRef(migrationRefRecord({ ref: 'global/y' }));
      await h.saveRef(migrationRefRecord({ ref: 'global/x', state: 'proposed', requestId: 'r1' }));
      await h.saveRef(migrationRefRecord({ ref: 'global/x', state: 'applied', requestId: 'r1' }));
      await h.saveRef(migrationRefRecord({ ref: 'global/x', run: 2 }));
      const refs = await h.listRefs('m1', 1);
      expect(refs.map((r) => [r.ref, r.state])).toEqual([
        ['global/x', 'applied'],
        ['global/y', 'applied'],
      ]);
      expect(await h.listRefs('m1', 2)).toHaveLength(1);
      // Returned records are copies.
      (refs[0] as MigrationRefRecord).state = 'declined';
      expect((await h.listRefs('m1', 1))[0]?.state).toBe('applied');
    });

    it('validates records', async () => {
      const h = (await fresh()).open();
      expect(await codeOf(h.save({ ...migrationRecord(), status: 'done' as never }, undefined))).toBe(
        'CONSTRAINT_VIOLATION',
      );
      await h.save(migrationRecord(), undefined);
      expect(await codeOf(h.saveRef({ ...migrationRefRecord(), beforeVersion: 0 }))).toBe('CONSTRAINT_VIOLATION');
    });

    it('one runner lock across history instances on the same storage', async () => {
      const s = await fresh();
      const a = s.open();
      const b = s.open();
      const held = await a.acquire();
      expect(await codeOf(b.acquire({ timeoutMs: 50 }))).toBe('TIMEOUT');
      const controller = new AbortController();
      const waiting = b.acquire({ signal: controller.signal, timeoutMs: 60_000 }).catch((e: unknown) => e);
      controller.abort(new Error('stop waiting'));
      expect(((await waiting) as Error).message).toBe('stop waiting');
      const next = b.acquire({ timeoutMs: 60_000 });
      await held.check();
      await held.release();
      await held.release();
      const second = await next;
      await second.check();
      expect(await codeOf(a.acquire({ timeoutMs: 50 }))).toBe('TIMEOUT');
      await second.release();
      await (await a.acquire()).release();
    });

    it('is CLOSED after close', async () => {
      const h = (await fresh()).open();
      await h.close();
      await h.close();
      expect(await codeOf(h.list())).toBe('CLOSED');
      expect(await codeOf(h.save(record(), undefined))).toBe('CLOSED');
      expect(await codeOf(h.acquire())).toBe('CLOSED');
    });
  });
}
