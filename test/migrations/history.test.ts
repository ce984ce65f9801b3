/**
 * The migration history on each storage: the same behaviour on memory, the real PostgreSQL server
 * and embedded PGlite (compare-and-set, per-run ref records, runner lock across instances), plus
 * the SQL specifics: schema migration 4, durability, and a lock released when its holder's
 * connection dies.
 */
import { randomBytes } from 'node:crypto';
import { createPgliteMigrationHistory } from '@summit-config/backends/pglite';
import { createPostgresMigrationHistory } from '@summit-config/backends/postgres';
import {
  createMemoryMigrationHistory,
  isConfigError,
  type MigrationHistory,
  type MigrationRecord,
  type MigrationRefRecord,
} from '@summit-config/core';
import { afterAll, describe, expect, it } from 'vitest';
import { services } from '../helpers/services.js';
import { adminPool, BACKINGS, type Backing, closeShared, freshSchema, pglite, q } from '../service/helpers.js';

afterAll(closeShared);

const record = (over: Partial<MigrationRecord> = {}): MigrationRecord => ({
  name: 'm1',
  version: '1',
  checksum: 'a'.repeat(64),
  kind: 'data',
  description: 'first',
  dependencies: ['m0'],
  status: 'running',
  run: 1,
  appliedBy: 'root',
  startedAt: '2030-01-01T00:00:00.000Z',
  ...over,
});

const refRecord = (over: Partial<MigrationRefRecord> = {}): MigrationRefRecord => ({
  migration: 'm1',
  run: 1,
  ref: 'global/x',
  state: 'applied',
  beforeVersion: 1,
  beforeChecksum: 'b'.repeat(64),
  beforeContent: 'c'.repeat(64),
  afterVersion: 2,
  afterChecksum: 'd'.repeat(64),
  afterContent: 'e'.repeat(64),
  recordedAt: '2030-01-01T00:00:00.000Z',
  ...over,
});

interface Storage {
  open(options?: { applicationName?: string }): MigrationHistory;
  sql?<R>(text: string, params?: unknown[]): Promise<R[]>;
  schema?: string;
  drop(): Promise<void>;
}

async function storage(backing: Backing): Promise<Storage> {
  if (backing === 'memory') {
    const shared = createMemoryMigrationHistory();
    return { open: () => shared, drop: async () => {} };
  }
  const schema = freshSchema('mig');
  if (backing === 'postgres') {
    return {
      schema,
      open: (o = {}) =>
        createPostgresMigrationHistory({
          connectionString: services().databaseUrl,
          schema,
          applicationName: o.applicationName,
        }),
      sql: async <R>(text: string, params: unknown[] = []) => (await adminPool().query(text, params)).rows as R[],
      drop: async () => {
        await adminPool().query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
      },
    };
  }
  const db = await pglite();
  return {
    schema,
    open: () => createPgliteMigrationHistory({ pglite: db, schema }),
    sql: async <R>(text: string, params: unknown[] = []) => (await db.query<R>(text, params)).rows,
    drop: async () => {
      await db.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    },
  };
}

describe.each(BACKINGS)('migration history on %s', (backing) => {
  it('compare-and-set on (status, run); records round-trip', async () => {
    const s = await storage(backing);
    const h = s.open();
    try {
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
    } finally {
      await h.close();
      await s.drop();
    }
  });

  it('ref records per run, replaced by key, refused without their migration', async () => {
    const s = await storage(backing);
    const h = s.open();
    try {
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
    } finally {
      await h.close();
      await s.drop();
    }
  });

  it('one runner lock across history instances on the same storage', async () => {
    const s = await storage(backing);
    const a = s.open();
    const b = s.open();
    try {
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
    } finally {
      await a.close();
      if (b !== a) await b.close();
      await s.drop();
    }
  });

  it('is CLOSED after close', async () => {
    const s = await storage(backing);
    const h = backing === 'memory' ? createMemoryMigrationHistory() : s.open();
    await h.close();
    await h.close();
    expect(await codeOf(h.list())).toBe('CLOSED');
    expect(await codeOf(h.save(record(), undefined))).toBe('CLOSED');
    await s.drop();
  });
});

describe.each(['postgres', 'pglite'] as const)('SQL migration history on %s', (backing) => {
  it('schema migration 4 creates the tables; records survive a new instance', async () => {
    const s = await storage(backing);
    const h = s.open();
    try {
      await h.save(record(), undefined);
      await h.saveRef(refRecord());
      const versions = await s.sql?.<{ version: number }>(
        `SELECT version FROM ${q(s.schema as string)}.summit_migrations ORDER BY version`,
      );
      expect(versions?.map((v) => v.version)).toContain(4);
      const rows = await s.sql?.<{ name: string; status: string; run: number; checksum: string }>(
        `SELECT name, status, run, checksum FROM ${q(s.schema as string)}.config_migrations`,
      );
      expect(rows).toEqual([{ name: 'm1', status: 'running', run: 1, checksum: 'a'.repeat(64) }]);
      const refRows = await s.sql?.<{ config_id: string; state: string; after_version: number }>(
        `SELECT config_id, state, after_version FROM ${q(s.schema as string)}.config_migration_refs`,
      );
      expect(refRows).toEqual([{ config_id: 'global/x', state: 'applied', after_version: 2 }]);
      const again = s.open();
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
    const h = s.open();
    try {
      await h.save(record(), undefined);
      await s.sql?.(
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
    const a = s.open({ applicationName: tag });
    const b = s.open();
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

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    if (isConfigError(error)) return error.code;
    throw error;
  }
}
