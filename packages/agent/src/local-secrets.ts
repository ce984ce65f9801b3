/**
 * The local secret provider and its rotation manager over the same durable record as the stores:
 * PostgreSQL (a small pool of its own) or the shared embedded PGlite. Used by the agent's rotation
 * job and by the CLI's secret commands.
 */
import type { PGlite } from '@electric-sql/pglite';
import { type Actor, ConfigError, type ConfigService, type ConfigStore, type Rbac } from '@summit-config/core';
import type { SqlDatabase, SqlPoolStats } from '@summit-config/core/internal';
import type { RotationManager, SecretProvider } from '@summit-config/secrets';

export interface SecretSqlHandle {
  sql: SqlDatabase;
  kind: 'postgres' | 'pglite';
  schema: string;
  /** Ends a pool this handle opened (nothing for a shared PGlite). */
  close(): Promise<void>;
  /** The pool's counts now (PostgreSQL only), for the agent's metrics. Never throws. */
  poolStats?(): SqlPoolStats;
}

/** SQL for the secrets tables: a 2-connection pool on PostgreSQL, or the shared PGlite instance. */
export async function openSecretSql(
  target: { postgres: { url: string; schema: string }; applicationName: string } | { pglite: PGlite },
): Promise<SecretSqlHandle> {
  if ('pglite' in target) {
    const { createPgliteClient } = await import('@summit-config/backends/pglite');
    // Borrowed: closing the client leaves the shared instance open.
    const sql = createPgliteClient({ pglite: target.pglite });
    return { sql, kind: 'pglite', schema: 'public', close: async () => {} };
  }
  const { default: Pg } = await import('pg');
  const { sqlFromPgPool } = await import('@summit-config/secrets');
  const pool = new Pg.Pool({
    connectionString: target.postgres.url,
    max: 2,
    connectionTimeoutMillis: 5000,
    application_name: target.applicationName,
  });
  pool.on('error', () => {}); // an idle client's error; the next query reports it
  return {
    sql: sqlFromPgPool(pool),
    kind: 'postgres',
    schema: target.postgres.schema,
    close: () => pool.end(),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: 2 }),
  };
}

export interface LocalRotation {
  provider: SecretProvider;
  rotation: RotationManager;
  storage: import('@summit-config/secrets').LocalSecretStorage;
  /** Names of the secrets the local provider holds, sorted. */
  listNames(): Promise<string[]>;
  close(): Promise<void>;
}

/** The local provider (key from `SUMMIT_MASTER_KEY` / `_FILE` in `env`) and a rotation manager for it. */
export async function createLocalRotation(options: {
  handle: SecretSqlHandle;
  migrator: { migrate(): Promise<unknown> };
  service: ConfigService;
  store: ConfigStore;
  rbac: Rbac;
  actor: Actor;
  env: NodeJS.ProcessEnv;
}): Promise<LocalRotation> {
  if (!options.env.SUMMIT_MASTER_KEY && !options.env.SUMMIT_MASTER_KEY_FILE) {
    throw new ConfigError(
      'MISSING_REQUIRED',
      'no master key for the local secret provider: set SUMMIT_MASTER_KEY (or SUMMIT_MASTER_KEY_FILE, a file of mode 0600); `summit-config secret keygen` prints a new key',
    );
  }
  const s = await import('@summit-config/secrets');
  const { sql, kind, schema } = options.handle;
  const storage = s.createSqlSecretStorage({ sql, kind, schema });
  const provider = s.createLocalProvider({ storage, env: options.env });
  const policies = s.createSqlRotationPolicies({ sql, kind, schema, migrator: options.migrator });
  const rotation = s.createRotationManager({
    policies,
    providers: [provider],
    service: options.service,
    store: options.store,
    rbac: options.rbac,
    actor: options.actor,
  });
  return {
    provider,
    rotation,
    storage,
    async listNames() {
      // The local provider's own table (see local-sql.ts); created by the first call.
      await storage.list('summit-cli-probe');
      const quoted = `"${schema.replace(/"/g, '""')}"`;
      const { rows } = await sql.query<{ name: string }>(`SELECT name FROM ${quoted}.summit_secrets ORDER BY name`);
      return rows.map((r) => r.name);
    },
    async close() {
      await rotation.close().catch(() => {});
      await provider.close().catch(() => {});
      await options.handle.close().catch(() => {});
    },
  };
}
