/**
 * Schema migrations of the PostgreSQL store: numbered, idempotent, recorded in `summit_migrations`,
 * and safe when several processes start at once (one transaction under a transaction-level advisory
 * lock per schema; the loser waits, then finds the work done). The same statements run on PGlite.
 *
 * Tables (seed 002's, plus what the store and the failover chain need):
 * - `config_versions`      every version of every ref, immutable except for reconciliation repairs
 * - `config_heads`         the head of each ref (the row appends lock)
 * - `config_audit`         one row per write; hash-chain columns are filled by the change service
 * - `config_applied_state` applied-state acknowledgements per (ref, environment, instance)
 * - `approval_workflows`   change requests
 * - `secret_rotation_policies`
 * - `config_sync`          per (ref, version, tier): whether that tier holds the version yet
 *
 * Documents are `json`, not `jsonb`: `json` keeps the exact text written, so every string (even
 * `\u0000` or a lone surrogate, which `jsonb` refuses) and every number round-trips, and the
 * checksum (over canonical JSON of the parsed value) verifies on read.
 */
import { quoteIdent, type SqlClient, type SqlQueryable } from './sql-client.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements, run one at a time in order, given the quoted schema name. */
  readonly statements: (schema: string) => readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'config versions, heads, audit, applied state, approvals, rotation policies',
    statements: (s) => [
      `CREATE TABLE ${s}.config_versions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        config_id text COLLATE "C" NOT NULL,
        scope text COLLATE "C" NOT NULL,
        ref_id text COLLATE "C" NOT NULL,
        version integer NOT NULL CHECK (version >= 1),
        config json NOT NULL,
        overrides json NOT NULL,
        rollout json,
        checksum varchar(64) NOT NULL,
        metadata json NOT NULL,
        ab_test json,
        canary json,
        feature_flags json,
        created_at timestamptz NOT NULL,
        created_by text NOT NULL,
        message text NOT NULL DEFAULT '',
        UNIQUE (config_id, version)
      )`,
      `COMMENT ON COLUMN ${s}.config_versions.config_id IS '<scope>/<id>'`,
      `COMMENT ON COLUMN ${s}.config_versions.ab_test IS 'seed 002 column, unused: rollouts live in rollout'`,
      `CREATE TABLE ${s}.config_heads (
        config_id text COLLATE "C" PRIMARY KEY,
        scope text COLLATE "C" NOT NULL,
        ref_id text COLLATE "C" NOT NULL,
        version integer NOT NULL,
        checksum varchar(64) NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        FOREIGN KEY (config_id, version) REFERENCES ${s}.config_versions (config_id, version)
      )`,
      `CREATE TABLE ${s}.config_audit (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        config_id text COLLATE "C",
        version integer,
        actor text NOT NULL,
        action text NOT NULL,
        "timestamp" timestamptz NOT NULL DEFAULT now(),
        environment text,
        message text,
        changes json,
        source text,
        prev_hash varchar(64),
        hash varchar(64),
        FOREIGN KEY (config_id, version) REFERENCES ${s}.config_versions (config_id, version)
      )`,
      `CREATE INDEX config_audit_ref_idx ON ${s}.config_audit (config_id, version)`,
      `CREATE INDEX config_audit_time_idx ON ${s}.config_audit ("timestamp")`,
      `CREATE TABLE ${s}.config_applied_state (
        config_id text COLLATE "C" NOT NULL,
        scope text COLLATE "C" NOT NULL,
        ref_id text COLLATE "C" NOT NULL,
        environment varchar(128) NOT NULL,
        instance text NOT NULL,
        version integer NOT NULL,
        checksum varchar(64) NOT NULL,
        status varchar(16) NOT NULL CHECK (status IN ('applied', 'rejected')),
        reason text,
        applied_at timestamptz NOT NULL,
        PRIMARY KEY (config_id, environment, instance)
      )`,
      `CREATE TABLE ${s}.approval_workflows (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        change_id text UNIQUE NOT NULL,
        config_id text COLLATE "C" NOT NULL,
        environment text,
        base_version integer,
        proposed_version json NOT NULL,
        requested_by text NOT NULL,
        requested_at timestamptz NOT NULL,
        approvers text[] NOT NULL DEFAULT '{}',
        approvals json,
        required_approvals integer NOT NULL DEFAULT 1,
        status varchar(20) NOT NULL
          CHECK (status IN ('pending', 'approved', 'rejected', 'applied', 'expired', 'cancelled')),
        emergency boolean NOT NULL DEFAULT false,
        apply_at timestamptz,
        expires_at timestamptz,
        auto_approve_for text[],
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX approval_workflows_ref_idx ON ${s}.approval_workflows (config_id)`,
      `CREATE INDEX approval_workflows_status_idx ON ${s}.approval_workflows (status)`,
      `CREATE TABLE ${s}.secret_rotation_policies (
        secret_id text PRIMARY KEY,
        rotation_interval_days integer CHECK (rotation_interval_days > 0),
        cron text,
        rotation_lambda text,
        generator json,
        notify_on_rotation text[],
        grace_period_days integer NOT NULL DEFAULT 7,
        last_rotated_at timestamptz,
        next_rotation_at timestamptz,
        state text NOT NULL DEFAULT 'idle',
        CHECK (rotation_interval_days IS NOT NULL OR cron IS NOT NULL)
      )`,
    ],
  },
  {
    version: 2,
    name: 'sync bookkeeping per (ref, version, tier)',
    statements: (s) => [
      `CREATE TABLE ${s}.config_sync (
        config_id text COLLATE "C" NOT NULL,
        version integer NOT NULL,
        tier text NOT NULL,
        synced boolean NOT NULL DEFAULT false,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        synced_at timestamptz,
        PRIMARY KEY (config_id, version, tier),
        FOREIGN KEY (config_id, version) REFERENCES ${s}.config_versions (config_id, version)
      )`,
      `CREATE INDEX config_sync_unsynced_idx ON ${s}.config_sync (tier, config_id, version) WHERE NOT synced`,
    ],
  },
];

/** The newest schema version this code knows. */
export const LATEST_MIGRATION = Math.max(...MIGRATIONS.map((m) => m.version));

/** First key of the two-key advisory lock ('SUMM'); the second is a hash of the schema name. */
const LOCK_CLASS = 0x53554d4d;

export interface MigrationResult {
  /** Versions this call applied, ascending (empty when another process, or an earlier run, did). */
  applied: number[];
  /** The schema version after the call. */
  current: number;
}

/**
 * Brings `schema` (created when missing) up to {@link LATEST_MIGRATION} in one transaction.
 * Concurrent callers on the same database serialise on an advisory lock; each migration is applied
 * once and recorded in `<schema>.summit_migrations`. Rejects with the driver's error.
 */
export async function migrate(client: SqlClient, schema: string): Promise<MigrationResult> {
  const s = quoteIdent(schema, 'schema');
  return client.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))', [LOCK_CLASS, schema]);
    await ensureSchema(tx, schema, s);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${s}.summit_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const done = new Set(
      (await tx.query<{ version: number }>(`SELECT version FROM ${s}.summit_migrations`)).rows.map((r) => r.version),
    );
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      for (const statement of migration.statements(s)) await tx.query(statement);
      await tx.query(`INSERT INTO ${s}.summit_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    return { applied, current: Math.max(LATEST_MIGRATION, ...done) };
  });
}

async function ensureSchema(tx: SqlQueryable, schema: string, quoted: string): Promise<void> {
  // Checked first so that an existing schema needs no CREATE privilege on the database.
  const { rows } = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (rows.length === 0) await tx.query(`CREATE SCHEMA ${quoted}`);
}
