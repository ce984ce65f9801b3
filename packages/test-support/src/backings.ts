/**
 * The storage a service test runs on, one of three backings: memory, the real PostgreSQL server,
 * embedded PGlite (one per test file). Each SQL storage is a fresh schema; on it a config store,
 * governance storage and migration history, raw SQL behind their back, and the schema's drop.
 */
import { createMemoryStore } from '@summit-config/backends';
import { createMemoryGovernance, createMemoryMigrationHistory } from '@summit-config/backends/memory';
import {
  createPgliteGovernance,
  createPgliteMigrationHistory,
  createPgliteStore,
} from '@summit-config/backends/pglite';
import {
  createPostgresGovernance,
  createPostgresMigrationHistory,
  createPostgresStore,
} from '@summit-config/backends/postgres';
import type { ConfigStore, GovernanceStore } from '@summit-config/core';
import type { MigrationHistory } from '@summit-config/core/migrations';
import { services } from './services.js';
import { adminPool, freshSchema, type Pglite, pglite, q } from './sql.js';

export type Backing = 'memory' | 'postgres' | 'pglite';
export const BACKINGS: readonly Backing[] = ['memory', 'postgres', 'pglite'];

export interface StorePair {
  /** On postgres and pglite, a store that migrates its schema (`migrate()`). */
  store: ConfigStore & { migrate?(): Promise<unknown> };
  governance: GovernanceStore;
}

export interface Storage {
  readonly backing: Backing;
  /** The schema (postgres and pglite). */
  readonly schema: string | undefined;
  /** The file's PGlite (pglite only). */
  readonly pglite: Pglite | undefined;
  /** A store and governance storage: a new pair on each call (another process's view), on memory always the same. */
  stores(): StorePair;
  /** A migration history: a new one on each call, on memory always the same. */
  history(options?: { applicationName?: string }): MigrationHistory;
  /** Raw SQL behind everyone's back (postgres and pglite only). */
  sql<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** Drops the schema (nothing on memory). */
  drop(): Promise<void>;
}

export async function storage(backing: Backing, options: { schema?: string; tag?: string } = {}): Promise<Storage> {
  if (backing === 'memory') {
    let pair: StorePair | undefined;
    let history: MigrationHistory | undefined;
    return {
      backing,
      schema: undefined,
      pglite: undefined,
      stores: () => {
        pair ??= { store: createMemoryStore(), governance: createMemoryGovernance() };
        return pair;
      },
      history: () => {
        history ??= createMemoryMigrationHistory();
        return history;
      },
      async sql() {
        throw new Error('no SQL on the memory backing');
      },
      async drop() {},
    };
  }
  const schema = options.schema ?? freshSchema(options.tag);
  const drop = async () => {
    await sql(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
  };
  let sql: Storage['sql'];
  if (backing === 'postgres') {
    const connectionString = services().databaseUrl;
    sql = async <R>(text: string, params: unknown[] = []) => (await adminPool().query(text, params)).rows as R[];
    return {
      backing,
      schema,
      pglite: undefined,
      stores: () => ({
        store: createPostgresStore({ connectionString, schema }),
        governance: createPostgresGovernance({ connectionString, schema }),
      }),
      history: (o = {}) =>
        createPostgresMigrationHistory({ connectionString, schema, applicationName: o.applicationName }),
      sql,
      drop,
    };
  }
  const db = await pglite();
  sql = async <R>(text: string, params: unknown[] = []) => (await db.query<R>(text, params)).rows;
  return {
    backing,
    schema,
    pglite: db,
    stores: () => ({
      store: createPgliteStore({ pglite: db, schema }),
      governance: createPgliteGovernance({ pglite: db, schema }),
    }),
    history: () => createPgliteMigrationHistory({ pglite: db, schema }),
    sql,
    drop,
  };
}
