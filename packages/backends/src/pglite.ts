// PGlite's own declarations use Emscripten's types without referencing them: keep the reference in
// this file's declarations, so a project type-checking its dependencies (skipLibCheck false) finds them.
/// <reference types="emscripten" preserve="true" />
/**
 * `@summit-config/backends/pglite`: the same store as `./postgres`, on embedded PGlite (PostgreSQL
 * compiled to WebAssembly, in this process). The zero-setup default: a directory, or memory.
 *
 *   const store = createPgliteStore({ dataDir: '.summit/db' });
 */

import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { errors } from '@summit-config/core/internal';
import { createPgliteClient } from './pglite-client.js';
import { createSqlGovernance, type SqlGovernance } from './postgres-governance.js';
import {
  createSqlMigrationHistory,
  localLockStrategy,
  type SqlMigrationHistory,
} from './postgres-migration-history.js';
import { createSqlStore, type PostgresStore } from './postgres-store.js';
import { checkCommonOptions, type SqlStoreCommonOptions } from './store-options.js';

// The SQL seam on a PGlite instance (borrowed), for tables kept beside the stores (the secrets').
export { createPgliteClient, type PgliteClientOptions } from './pglite-client.js';
export type { SqlGovernance } from './postgres-governance.js';
export type { SqlMigrationHistory } from './postgres-migration-history.js';
export type { MigrationResult } from './postgres-migrations.js';
export type { PostgresStore, UnsyncedVersion } from './postgres-store.js';
export type { StoreLogger } from './sql-client.js';

export interface PgliteStoreOptions extends SqlStoreCommonOptions {
  /**
   * Directory of the database files, created when missing. `undefined` keeps the database in
   * memory (not durable: gone when the store closes). One process at a time may open a directory.
   */
  dataDir?: string;
  /**
   * An existing PGlite instance to use instead of `dataDir`, e.g. one the application already
   * embeds. It is borrowed: `close()` leaves it open.
   */
  pglite?: PGlite;
}

/**
 * Creates the store on embedded PGlite. The database opens on the first call (about a second or
 * two for a new one), which also applies the schema migrations.
 */
export function createPgliteStore(options: PgliteStoreOptions = {}): PostgresStore {
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir.length === 0)) {
    throw errors.constraint('pglite store option dataDir must be a non-empty string');
  }
  if (options.dataDir !== undefined && options.pglite !== undefined) {
    throw errors.constraint('pglite store takes option dataDir or option pglite, not both');
  }
  const common = checkCommonOptions(options, 'pglite');
  const client = createPgliteClient({ dataDir: options.dataDir, pglite: options.pglite });
  const durable = options.pglite ? options.pglite.dataDir !== undefined : options.dataDir !== undefined;
  return createSqlStore({ ...common, name: options.name ?? 'pglite', client, durable });
}

export interface PgliteGovernanceOptions {
  /**
   * The PGlite instance to use, normally the one the store uses (create it once with
   * `PGlite.create(dir)` and pass it to both): one process may open a data directory only once.
   * Borrowed: `close()` leaves it open.
   */
  pglite?: PGlite;
  /** A directory of its own (or `undefined` with no `pglite`: in memory). Not with `pglite`. */
  dataDir?: string;
  /** Schema holding the tables; use the store's. Default `public`. */
  schema?: string;
  /** Name used in errors. Default `pglite`. */
  name?: string;
}

/** The change service's governance storage on embedded PGlite (see `createPostgresGovernance`). */
export function createPgliteGovernance(options: PgliteGovernanceOptions = {}): SqlGovernance {
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir.length === 0)) {
    throw errors.constraint('pglite governance option dataDir must be a non-empty string');
  }
  if (options.dataDir !== undefined && options.pglite !== undefined) {
    throw errors.constraint('pglite governance takes option dataDir or option pglite, not both');
  }
  const { schema } = checkCommonOptions({ schema: options.schema }, 'pglite governance');
  const client = createPgliteClient({ dataDir: options.dataDir, pglite: options.pglite });
  return createSqlGovernance({ name: options.name ?? 'pglite', client, schema, ownsClient: true });
}

export interface PgliteMigrationHistoryOptions {
  /**
   * The PGlite instance to use, normally the one the store uses. Borrowed: `close()` leaves it open.
   * Histories on the same instance and schema share one in-process runner lock.
   */
  pglite?: PGlite;
  /** A directory of its own (or `undefined` with no `pglite`: in memory). Not with `pglite`. */
  dataDir?: string;
  /** Schema holding the tables; use the store's. Default `public`. */
  schema?: string;
  /** Name used in errors. Default `pglite`. */
  name?: string;
}

/**
 * The configuration-migration history on embedded PGlite. One process owns the database, so
 * runners exclude each other with an in-process lock per database and schema.
 */
export function createPgliteMigrationHistory(options: PgliteMigrationHistoryOptions = {}): SqlMigrationHistory {
  if (options.dataDir !== undefined && (typeof options.dataDir !== 'string' || options.dataDir.length === 0)) {
    throw errors.constraint('pglite migration history option dataDir must be a non-empty string');
  }
  if (options.dataDir !== undefined && options.pglite !== undefined) {
    throw errors.constraint('pglite migration history takes option dataDir or option pglite, not both');
  }
  const { schema } = checkCommonOptions({ schema: options.schema }, 'pglite migration history');
  const client = createPgliteClient({ dataDir: options.dataDir, pglite: options.pglite });
  const owner: object | string = options.pglite ?? (options.dataDir !== undefined ? resolve(options.dataDir) : {});
  return createSqlMigrationHistory({
    name: options.name ?? 'pglite',
    client,
    schema,
    ownsClient: true,
    lock: localLockStrategy(owner, schema),
  });
}

/**
 * Opens an embedded database to share between `createPgliteStore({ pglite })` and
 * `createPgliteGovernance({ pglite })` (one process may open a directory once). The directory and
 * its parents are created; `undefined` keeps it in memory. The caller closes it (`await db.close()`)
 * after closing both.
 */
export async function openPglite(dataDir?: string): Promise<PGlite> {
  if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir.length === 0)) {
    throw errors.constraint('openPglite dataDir must be a non-empty string');
  }
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  return PGlite.create(dataDir);
}
