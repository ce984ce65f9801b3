/**
 * The SQL migration histories' specifics: schema migration 4, durability, and a lock released when
 * its holder's connection dies. The behaviour every history shares (memory, PostgreSQL, PGlite:
 * compare-and-set, per-run ref records, runner lock across instances) is the contract suite's:
 * test/contract/migration-history.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { createPostgresMigrationHistory } from '@summit-config/backends/postgres';
import type { MigrationRecord, MigrationRefRecord } from '@summit-config/core/migrations';
import { type Backing, storage as storageOn } from '@summit-config/test-support/backings';
import { migrationRecord, migrationRefRecord } from '@summit-config/test-support/builders';
import { codeOf } from '@summit-config/test-support/errors';
import { adminPool, closeShared, freshSchema, q } from '@summit-config/test-support/sql';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

const record = (over: Partial<MigrationRecord> = {}) =>
  migrationRecord({ description: 'first', dependencies: ['m0'], ...over });

const refRecord = (over: Partial<MigrationRefRecord> = {}) =>
  migrationRefRecord({ afterChecksum: 'd'.repeat(64), afterContent: 'e'.repeat(64), ...over });

const storage = (backing: Backing) => storageOn(backing, { tag: 'mig' });

describe.each(['postgres', 'pglite'] as const)('SQL migration history on %s', (backing) => {
  it('schema migration 4 creates the tables; records survive a new instance', async () => {
    const s = await storage(backing);
    const h = s.history();
    try {
      await h.save(record(), undefined);
      await h.saveRef(refRecord());
      const versions = await s.sql<{ version: number }>(
        `SELECT version FROM ${q(s.schema as string)}.summit_migrations ORDER BY version`,
      );
      expect(versions?.map((v) => v.version)).toContain(4);
      const rows = await s.sql<{ name: string; status: string; run: number; checksum: string }>(
        `SELECT name, status, run, checksum FROM ${q(s.schema as string)}.config_migrations`,
      );
      expect(rows).toEqual([{ name: 'm1', status: 'running', run: 1, checksum: 'a'.repeat(64) }]);
      const refRows = await s.sql<{ config_id: string; state: string; after_version: number }>(
        `SELECT config_id, state, after_version FROM ${q(s.schema as string)}.config_migration_refs`,
      );
      expect(refRows).toEqual([{ config_id: 'global/x', state: 'applied', after_version: 2 }]);
      const again = s.history();
      try {
        expect(await again.get('m1')).toEqual(record());
        expect(await again.listRefs('m1', 1)).toEqual([refRecord()]);
      } finally {
        await again.close();
      }
    } finally {
      await h.close();
      await s.drop();
    }
  });

  it('a stored row that is not a valid record is refused, not served', async () => {
    const s = await storage(backing);
    const h = s.history();
    try {
      await h.save(record(), undefined);
      await s.sql(
        `UPDATE ${q(s.schema as string)}.config_migrations SET document = '{"name":"m1","status":"bogus"}'::json`,
      );
      expect(await codeOf(h.get('m1'))).toBe('CONSTRAINT_VIOLATION');
    } finally {
      await h.close();
      await s.drop();
    }
  });
});

describe('PostgreSQL migration lock', () => {
  it('is released by the server when its holder connection dies, and the holder learns it lost it', async () => {
    const s = await storage('postgres');
    const tag = `summit-migtest-${randomBytes(4).toString('hex')}`;
    const a = s.history({ applicationName: tag });
    const b = s.history();
    try {
      const held = await a.acquire();
      expect(await codeOf(b.acquire({ timeoutMs: 50 }))).toBe('TIMEOUT');
      const killed = await adminPool().query(
        'SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1',
        [`${tag}:lock`],
      );
      expect(killed.rows).toEqual([{ done: true }]);
      const second = await b.acquire({ timeoutMs: 30_000 });
      expect(await codeOf(held.check())).toBe('BACKEND_UNAVAILABLE');
      await held.release();
      await second.release();
    } finally {
      await a.close();
      await b.close();
      await s.drop();
    }
  });

  it('an unreachable server is BACKEND_UNAVAILABLE for calls and for the lock', async () => {
    const h = createPostgresMigrationHistory({
      connectionString: 'postgres://postgres@127.0.0.1:1/summit',
      connectTimeoutMs: 2_000,
      schema: freshSchema('mig'),
    });
    try {
      expect(await codeOf(h.list())).toBe('BACKEND_UNAVAILABLE');
      expect(await codeOf(h.acquire({ timeoutMs: 100 }))).toBe('BACKEND_UNAVAILABLE');
    } finally {
      await h.close();
    }
  });
});
