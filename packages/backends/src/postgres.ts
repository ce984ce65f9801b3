/**
 * `@summit-config/backends/postgres`: the PostgreSQL store on `pg`, the durable record and fallback
 * tier. Loads `pg` only from this entry point.
 *
 *   const store = createPostgresStore({ connectionString: process.env.DATABASE_URL });
 */
import { errors } from '@summit-config/core/internal';
import pg from 'pg';
import { createPgClient } from './pg-client.js';
import { createSqlGovernance, type SqlGovernance } from './postgres-governance.js';
import {
  advisoryLockStrategy,
  createSqlMigrationHistory,
  type LockSession,
  type SqlMigrationHistory,
} from './postgres-migration-history.js';
import { createSqlStore, type PostgresStore } from './postgres-store.js';
import { checkCommonOptions, positiveInteger, type SqlStoreCommonOptions } from './store-options.js';

export type { SqlGovernance } from './postgres-governance.js';
export type { SqlMigrationHistory } from './postgres-migration-history.js';
export type { MigrationResult } from './postgres-migrations.js';
export { LATEST_MIGRATION, MIGRATIONS } from './postgres-migrations.js';
export type { PostgresStore, UnsyncedVersion } from './postgres-store.js';
export type { SqlPoolStats, StoreLogger } from './sql-client.js';

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

/** How a governance or migration-history storage connects to PostgreSQL. */
export interface PgConnectionOptions {
  /** `postgres://user:password@host:port/database`. Either this or `pool` (or both: this wins). */
  connectionString?: string;
  /** `pg` Pool settings. */
  pool?: pg.PoolConfig;
  /** Schema holding the tables: use the store's. Default `public`. */
  schema?: string;
  /** Milliseconds to wait for a connection before failing with `BACKEND_UNAVAILABLE`. Default 5 000. */
  connectTimeoutMs?: number;
  /** Server-side `statement_timeout` in milliseconds. Default 10 000. */
  statementTimeoutMs?: number;
  /** `application_name` of the connections. */
  applicationName?: string;
  /** Name used in errors. Default `postgres`. */
  name?: string;
  logger?: SqlStoreCommonOptions['logger'];
}

/**
 * Options of the governance storage. Pool size 4 by default; the schema should be the store's, so that
 * the store's own audit rows and the change service's events form one chain. `applicationName`
 * defaults to `summit-config:governance`.
 */
export type PostgresGovernanceOptions = PgConnectionOptions;

/**
 * The change service's governance storage (audit trail, change requests, environments, schemas,
 * policies) on PostgreSQL through `pg`, with its own small pool. Nothing connects until the first
 * call, which applies the migrations (the same ones as the store's).
 */
export function createPostgresGovernance(options: PostgresGovernanceOptions): SqlGovernance {
  if (options === null || typeof options !== 'object')
    throw errors.constraint('postgres governance options are required');
  if (options.connectionString === undefined && options.pool === undefined) {
    throw errors.constraint('postgres governance needs option connectionString or option pool');
  }
  if (options.connectionString !== undefined && typeof options.connectionString !== 'string') {
    throw errors.constraint('postgres governance option connectionString must be a string');
  }
  const { schema, logger } = checkCommonOptions(
    { schema: options.schema, logger: options.logger },
    'postgres governance',
  );
  const applicationName = options.applicationName ?? 'summit-config:governance';
  if (typeof applicationName !== 'string' || applicationName.length === 0 || applicationName.length > 56) {
    throw errors.constraint('postgres governance option applicationName must be a string of 1-56 characters');
  }
  const config: pg.PoolConfig = { max: 4, ...options.pool };
  if (options.connectionString !== undefined) config.connectionString = options.connectionString;
  const client = createPgClient({
    config,
    connectTimeoutMs: positiveInteger(options.connectTimeoutMs, 'postgres governance connectTimeoutMs', 5_000),
    statementTimeoutMs: positiveInteger(options.statementTimeoutMs, 'postgres governance statementTimeoutMs', 10_000),
    applicationName,
    logger,
  });
  return createSqlGovernance({ name: options.name ?? 'postgres', client, schema, ownsClient: true });
}

/**
 * Options of the migration history. Pool size 2 by default (plus one connection while a runner holds
 * the lock, named `<applicationName>:lock`); `applicationName` defaults to `summit-config:migrations`.
 */
export type PostgresMigrationHistoryOptions = PgConnectionOptions;

/**
 * The configuration-migration history on PostgreSQL through `pg`. Runners exclude each other with
 * a session-level advisory lock held on a dedicated connection (released by the server if the
 * process dies). Nothing connects until the first call, which applies the schema migrations.
 */
export function createPostgresMigrationHistory(options: PostgresMigrationHistoryOptions): SqlMigrationHistory {
  if (options === null || typeof options !== 'object') {
    throw errors.constraint('postgres migration history options are required');
  }
  if (options.connectionString === undefined && options.pool === undefined) {
    throw errors.constraint('postgres migration history needs option connectionString or option pool');
  }
  if (options.connectionString !== undefined && typeof options.connectionString !== 'string') {
    throw errors.constraint('postgres migration history option connectionString must be a string');
  }
  const { schema, logger } = checkCommonOptions(
    { schema: options.schema, logger: options.logger },
    'postgres migration history',
  );
  const applicationName = options.applicationName ?? 'summit-config:migrations';
  if (typeof applicationName !== 'string' || applicationName.length === 0 || applicationName.length > 56) {
    throw errors.constraint('postgres migration history option applicationName must be a string of 1-56 characters');
  }
  const connectTimeoutMs = positiveInteger(
    options.connectTimeoutMs,
    'postgres migration history connectTimeoutMs',
    5_000,
  );
  const statementTimeoutMs = positiveInteger(
    options.statementTimeoutMs,
    'postgres migration history statementTimeoutMs',
    10_000,
  );
  const config: pg.PoolConfig = { max: 2, ...options.pool };
  if (options.connectionString !== undefined) config.connectionString = options.connectionString;
  const client = createPgClient({ config, connectTimeoutMs, statementTimeoutMs, applicationName, logger });
  const name = options.name ?? 'postgres';
  const sessions = new Set<LockSession>();
  const openSession = async (): Promise<LockSession> => {
    const { max: _max, idleTimeoutMillis: _idle, ...clientConfig } = config;
    const conn = new pg.Client({
      ...clientConfig,
      application_name: `${applicationName}:lock`.slice(0, 63),
      connectionTimeoutMillis: connectTimeoutMs,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + connectTimeoutMs,
      keepAlive: true,
    });
    let lost = false;
    conn.on('error', (error) => {
      lost = true;
      logger?.warn?.({ err: error }, 'postgres: migration lock connection lost');
    });
    conn.on('end', () => {
      lost = true;
    });
    await conn.connect().catch(async (error: unknown) => {
      await conn.end().catch(() => undefined);
      throw error;
    });
    const session: LockSession = {
      get lost() {
        return lost;
      },
      query: async (text, params) => ({
        rows: (await conn.query(text, params as unknown[] | undefined)).rows as Array<Record<string, unknown>>,
      }),
      end: async () => {
        sessions.delete(session);
        await Promise.race([
          conn.end().catch(() => undefined),
          new Promise((resolve) => setTimeout(resolve, connectTimeoutMs).unref()),
        ]);
      },
    };
    sessions.add(session);
    return session;
  };
  return createSqlMigrationHistory({
    name,
    client,
    schema,
    ownsClient: true,
    lock: advisoryLockStrategy(openSession, schema, name),
    onClose: async () => {
      await Promise.all([...sessions].map((s) => s.end()));
    },
  });
}
