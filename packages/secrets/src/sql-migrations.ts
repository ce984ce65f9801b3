/**
 * The secrets package's own tables, created and migrated by this package where its SQL storages are
 * opened (on their first call), on the one SQL seam (`SqlDatabase` of `@summit-config/core`):
 *
 * - {@link migrateSecretStorageTables}: the local provider's encrypted versions, `summit_secrets`
 *   and `summit_secret_versions`, and its master key check value, `summit_secret_meta`
 *   (`createSqlSecretStorage`);
 * - {@link migrateRotationPolicyTable}: `secret_rotation_policies` (`createSqlRotationPolicies`).
 *   Databases the PostgreSQL store migrated before also have it, from the store's migrations 1 and 5
 *   (`@summit-config/backends`, which keeps them for existing databases): this migration detects
 *   what is already there and only adds what is missing, and the store's migrations tolerate a table
 *   this one created first. A complete table costs one catalog query and no DDL (no lock, no
 *   privilege beyond reading the catalog).
 *
 * Both are idempotent, and safe when several processes start at once (one transaction under an
 * advisory lock).
 */
import { SQL_SCHEMA_LOCK, type SqlDatabase, type SqlQueryable } from '@summit-config/core/internal';

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** SQLSTATEs of DDL that lost a race with DDL outside the lock (a schema, type, column or constraint created meanwhile). */
const RACE_STATES = new Set(['23505', '42P06', '42P07', '42701', '42710']);

/** Runs `migrate` once more when it lost a race with DDL done outside its lock (by another package). */
async function withRetry(migrate: () => Promise<void>): Promise<void> {
  try {
    await migrate();
  } catch (error) {
    if (!RACE_STATES.has(String((error as { code?: unknown } | null)?.code))) throw error;
    await migrate();
  }
}

/**
 * Creates the local provider's tables in `schema` (and the schema) when missing: `summit_secrets`,
 * `summit_secret_versions` and `summit_secret_meta` (storage-wide values: the master key's check
 * value), the last one also in databases created before it existed.
 */
export async function migrateSecretStorageTables(sql: SqlDatabase, schema: string): Promise<void> {
  const s = quote(schema);
  const secretsTable = `${s}.summit_secrets`;
  const versionsTable = `${s}.summit_secret_versions`;
  await sql.transaction(async (tx) => {
    // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog: serialise them.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`summit-secrets:${schema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${secretsTable} (
      name text PRIMARY KEY,
      next_version integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${versionsTable} (
      name text NOT NULL REFERENCES ${secretsTable} (name) ON DELETE CASCADE,
      version integer NOT NULL,
      stage text CHECK (stage IN ('current', 'previous', 'pending')),
      state text NOT NULL CHECK (state IN ('enabled', 'disabled', 'destroyed')),
      ciphertext bytea,
      iv bytea,
      tag bytea,
      labels jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (name, version),
      CHECK ((state = 'destroyed') = (ciphertext IS NULL)),
      CHECK ((ciphertext IS NULL) = (iv IS NULL) AND (iv IS NULL) = (tag IS NULL))
    )`);
    await tx.query(
      `CREATE UNIQUE INDEX IF NOT EXISTS summit_secret_versions_stage ON ${versionsTable} (name, stage)
       WHERE stage IS NOT NULL`,
    );
    // Added later (the master key's check value): IF NOT EXISTS, so existing databases get it too.
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.summit_secret_meta (
      key text PRIMARY KEY,
      value text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
}

const POLICIES = 'secret_rotation_policies';

/** The table as the seed (002) and the store's migration 1 created it. */
const POLICIES_TABLE = (s: string) => `CREATE TABLE IF NOT EXISTS ${s}.${POLICIES} (
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
)`;

/**
 * The columns the rotation manager added (the store's migration 5), in that order: the seed's
 * columns stay filled for SQL users (`secret_id` is `<provider>/<name>`, `grace_period_days` rounded
 * down); the run in progress is the `run` JSON (version ids, refs, sanitised errors: never a value).
 */
const POLICY_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['provider', 'text'],
  ['secret_name', 'text'],
  ['grace_ms', 'bigint CHECK (grace_ms >= 0)'],
  ['enabled', 'boolean NOT NULL DEFAULT true'],
  ['step', 'text'],
  ['run', 'json'],
  ['error', 'json'],
  ['last_run', 'json'],
  ['revision', 'integer NOT NULL DEFAULT 1'],
  ['created_at', 'timestamptz NOT NULL DEFAULT now()'],
  ['updated_at', 'timestamptz NOT NULL DEFAULT now()'],
];

const STATE_CHECK = 'secret_rotation_policies_state_check';
const DUE_INDEX = 'secret_rotation_policies_due_idx';

interface PolicyTableState {
  schema: boolean;
  table: boolean;
  columns: string[];
  state_check: boolean;
  due_index: boolean;
}

/** What of the rotation policy table exists in `schema` (catalog reads only). */
async function inspect(db: SqlQueryable, schema: string): Promise<PolicyTableState> {
  const { rows } = await db.query<PolicyTableState>(
    `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema,
            t.oid IS NOT NULL AS table,
            coalesce((SELECT array_agg(a.attname::text) FROM pg_attribute a
                      WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS columns,
            EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = t.oid AND c.conname = $2) AS state_check,
            to_regclass(quote_ident($1) || '.' || quote_ident($3)) IS NOT NULL AS due_index
     FROM (SELECT to_regclass(quote_ident($1) || '.' || quote_ident($4))::oid AS oid) t`,
    [schema, STATE_CHECK, DUE_INDEX, POLICIES],
  );
  const row = rows[0] as PolicyTableState;
  return { ...row, columns: toArray(row.columns) };
}

/** A `text[]` as the driver returns it: an array (pg, PGlite) or its literal (`{a,b}`). */
function toArray(value: unknown): string[] {
  if (Array.isArray(value)) return value as string[];
  const text = String(value ?? '{}');
  return text.length <= 2 ? [] : text.slice(1, -1).split(',');
}

function complete(state: PolicyTableState): boolean {
  return (
    state.table &&
    POLICY_COLUMNS.every(([column]) => state.columns.includes(column)) &&
    state.state_check &&
    state.due_index
  );
}

/**
 * Brings `secret_rotation_policies` in `schema` (and the schema) up to date: creates what is missing,
 * never touches what exists. Serialised with every package's DDL on the schema (core's
 * `SQL_SCHEMA_LOCK`, which the store's migrations hold too).
 */
export async function migrateRotationPolicyTable(sql: SqlDatabase, schema: string): Promise<void> {
  if (complete(await inspect(sql, schema))) return;
  const s = quote(schema);
  await withRetry(() =>
    sql.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))', [SQL_SCHEMA_LOCK, schema]);
      const state = await inspect(tx, schema);
      if (complete(state)) return;
      // Checked first so that an existing schema needs no CREATE privilege on the database.
      if (!state.schema) await tx.query(`CREATE SCHEMA ${s}`);
      if (!state.table) await tx.query(POLICIES_TABLE(s));
      for (const [column, type] of POLICY_COLUMNS) {
        if (!state.columns.includes(column)) {
          await tx.query(`ALTER TABLE ${s}.${POLICIES} ADD COLUMN IF NOT EXISTS ${column} ${type}`);
        }
      }
      if (!state.state_check) {
        await tx.query(
          `ALTER TABLE ${s}.${POLICIES} ADD CONSTRAINT ${STATE_CHECK} CHECK (state IN ('idle', 'rotating', 'failed'))`,
        );
      }
      if (!state.due_index) {
        await tx.query(`CREATE INDEX IF NOT EXISTS ${DUE_INDEX} ON ${s}.${POLICIES} (next_rotation_at) WHERE enabled`);
      }
    }),
  );
}
