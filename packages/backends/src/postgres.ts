/**
 * `@summit-config/backends/postgres`: the PostgreSQL store on `pg`, the durable record and fallback
 * tier. Loads `pg` only from this entry point.
 *
 *   const store = createPostgresStore({ connectionString: process.env.DATABASE_URL });
 */
import { errors } from '@summit-config/core';
import type pg from 'pg';
import { createPgClient } from './pg-client.js';
import { createSqlStore, type PostgresStore } from './postgres-store.js';
import { checkCommonOptions, positiveInteger, type SqlStoreCommonOptions } from './store-options.js';

export type { MigrationResult } from './postgres-migrations.js';
export { LATEST_MIGRATION, MIGRATIONS } from './postgres-migrations.js';
export type { PostgresStore, UnsyncedVersion } from './postgres-store.js';
export type { StoreLogger } from './sql-client.js';

export interface PostgresStoreOptions extends SqlStoreCommonOptions {
  /** `postgres://user:password@host:port/database`. Either this or `pool` (or both: this wins). */
  connectionString?: string;
  /**
   * `pg` Pool settings (host, port, user, password, database, ssl, max, idleTimeoutMillis, ...).
   * The timeouts below override the matching pool fields. Default pool size 10.
   */
  pool?: pg.PoolConfig;
  /** Milliseconds to wait for a connection before failing with `BACKEND_UNAVAILABLE`. Default 5 000. */
  connectTimeoutMs?: number;
  /** Server-side `statement_timeout` of every connection, in milliseconds. Default 10 000. */
  statementTimeoutMs?: number;
  /** `application_name` of the connections; the LISTEN connection is `<name>:listen`. Default `summit-config`. */
  applicationName?: string;
}

/**
 * Creates the PostgreSQL store. Nothing connects until the first call; the first call applies the
 * schema migrations (safe when several processes start at once). A database that cannot be reached
 * fails each call with `BACKEND_UNAVAILABLE` within `connectTimeoutMs`; it never hangs.
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  if (options === null || typeof options !== 'object') throw errors.constraint('postgres store options are required');
  if (options.connectionString === undefined && options.pool === undefined) {
    throw errors.constraint('postgres store needs option connectionString or option pool');
  }
  if (options.connectionString !== undefined && typeof options.connectionString !== 'string') {
    throw errors.constraint('postgres store option connectionString must be a string');
  }
  const common = checkCommonOptions(options, 'postgres');
  const applicationName = options.applicationName ?? 'summit-config';
  if (typeof applicationName !== 'string' || applicationName.length === 0 || applicationName.length > 56) {
    throw errors.constraint('postgres store option applicationName must be a string of 1-56 characters');
  }
  const config: pg.PoolConfig = { ...options.pool };
  if (options.connectionString !== undefined) config.connectionString = options.connectionString;
  const client = createPgClient({
    config,
    connectTimeoutMs: positiveInteger(options.connectTimeoutMs, 'postgres connectTimeoutMs', 5_000),
    statementTimeoutMs: positiveInteger(options.statementTimeoutMs, 'postgres statementTimeoutMs', 10_000),
    applicationName,
    logger: common.logger,
  });
  return createSqlStore({ ...common, name: options.name ?? 'postgres', client, durable: true });
}
