/**
 * Schema migrations of the PostgreSQL store: numbered, idempotent, recorded in `summit_migrations`,
 * and safe when several processes start at once (one transaction under a transaction-level advisory
 * lock per schema; the loser waits, then finds the work done). The same statements run on PGlite.
 *
 * Tables (seed 002's, plus what the store and the failover chain need):
 * - `config_versions`      every version of every ref, immutable except for reconciliation repairs
 * - `config_heads`         the head of each ref (the row appends lock)
 * - `config_audit`         the audit trail: the store's own rows (append, replace) and the change
 *                          service's events, hash-chained by a trigger (migration 3), append-only;
 *                          the service's events signed by its writer key (`signature`, migration 7)
 * - `config_applied_state` applied-state acknowledgements per (ref, environment, instance)
 * - `approval_workflows`   change requests
 * - `secret_rotation_policies` the secrets package's rotation policies: created here by migrations 1
 *                          and 5 for every existing database, and by `@summit-config/secrets` itself
 *                          (idempotently, whichever comes first)
 * - `config_sync`          per (ref, version, tier): whether that tier holds the version yet (unused
 *                          since migration 6: `config_heads.mirror_version` says what the mirror holds)
 * - `config_meta`          the failover chain's epoch (migration 6)
 * - `governance_environments`, `governance_schemas`, `governance_policies`   the change service's
 *                          environments, schema versions and named policies
 * - `config_migrations`, `config_migration_refs`   configuration migrations: runs (with checksums)
 *                          and per-ref progress (migration 4)
 *
 * Documents are `json`, not `jsonb`: `json` keeps the exact text written, so every string (even
 * `\u0000` or a lone surrogate, which `jsonb` refuses) and every number round-trips, and the
 * checksum (over canonical JSON of the parsed value) verifies on read.
 */
import { SQL_SCHEMA_LOCK } from '@summit-config/core/internal';
import { quoteIdent, type SqlClient, type SqlQueryable, sqlState } from './sql-client.js';

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
      // The secrets package's table (it now creates and migrates it itself, see
      // @summit-config/secrets' sql-migrations.ts): either may come first, so both tolerate the other.
      `CREATE TABLE IF NOT EXISTS ${s}.secret_rotation_policies (
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
  {
    version: 3,
    name: 'audit hash chain (trigger, append-only), governance tables',
    statements: (s) => [
      // The audit trail outlives the versions of any one store (the change service may keep its
      // versions in Consul and its trail here), so events no longer reference config_versions.
      `ALTER TABLE ${s}.config_audit DROP CONSTRAINT IF EXISTS config_audit_config_id_version_fkey`,
      // seq is assigned by the chain trigger (gap-free, in chain order), not by an identity.
      `ALTER TABLE ${s}.config_audit ALTER COLUMN seq DROP IDENTITY IF EXISTS`,
      `ALTER TABLE ${s}.config_audit ADD COLUMN request_id text`,
      `CREATE INDEX config_audit_request_idx ON ${s}.config_audit (request_id) WHERE request_id IS NOT NULL`,
      // The hash formula of packages/core/src/audit/chain.ts, field for field:
      // sha256_hex('summit-audit-v1\n' || F(seq) || F(at) || ... || F(prev_hash)),
      // F(NULL) = '-\n', F(x) = octet_length(x) || ':' || x || '\n'.
      `CREATE FUNCTION ${s}.summit_audit_hash(
         seq bigint, at timestamptz, actor text, action text, config_id text, version integer,
         environment text, message text, changes text, source text, request_id text, prev_hash text)
       RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $summit$
         SELECT encode(sha256(convert_to('summit-audit-v1' || chr(10) || string_agg(
                  CASE WHEN f IS NULL THEN '-' ELSE octet_length(f)::text || ':' || f END || chr(10), '' ORDER BY i),
                'UTF8')), 'hex')
         FROM unnest(ARRAY[
           seq::text,
           to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           actor, action, config_id, version::text, environment, message, changes, source, request_id, prev_hash
         ]) WITH ORDINALITY AS t(f, i)
       $summit$`,
      // Every insert (the store's own rows and the change service's) is chained here: inserts
      // serialise on a transaction-level advisory lock ('SUAU', schema), so the chain is linear in
      // commit order whatever the writers.
      `CREATE FUNCTION ${s}.summit_audit_chain() RETURNS trigger LANGUAGE plpgsql
       SET search_path = ${s}, pg_catalog, pg_temp AS $summit$
       DECLARE
         last_seq bigint;
         last_hash text;
       BEGIN
         PERFORM pg_advisory_xact_lock(1398096213, hashtext(TG_TABLE_SCHEMA));
         SELECT a.seq, a.hash INTO last_seq, last_hash FROM config_audit a ORDER BY a.seq DESC LIMIT 1;
         NEW.seq := coalesce(last_seq, 0) + 1;
         NEW.prev_hash := last_hash;
         NEW."timestamp" := date_trunc('milliseconds', coalesce(NEW."timestamp", now()));
         NEW.hash := summit_audit_hash(NEW.seq, NEW."timestamp", NEW.actor, NEW.action, NEW.config_id, NEW.version,
           NEW.environment, NEW.message, NEW.changes::text, NEW.source, NEW.request_id, NEW.prev_hash);
         RETURN NEW;
       END
       $summit$`,
      // Rows written before this migration join the chain in their seq order.
      `CREATE FUNCTION ${s}.summit_audit_backfill() RETURNS void LANGUAGE plpgsql
       SET search_path = ${s}, pg_catalog, pg_temp AS $summit$
       DECLARE
         r record;
         n bigint := 0;
         prev text := NULL;
         h text;
         ts timestamptz;
       BEGIN
         UPDATE config_audit SET seq = -seq;
         FOR r IN SELECT * FROM config_audit ORDER BY seq DESC LOOP
           n := n + 1;
           ts := date_trunc('milliseconds', r."timestamp");
           h := summit_audit_hash(n, ts, r.actor, r.action, r.config_id, r.version, r.environment, r.message,
             r.changes::text, r.source, r.request_id, prev);
           UPDATE config_audit SET seq = n, "timestamp" = ts, prev_hash = prev, hash = h WHERE id = r.id;
           prev := h;
         END LOOP;
       END
       $summit$`,
      `SELECT ${s}.summit_audit_backfill()`,
      `DROP FUNCTION ${s}.summit_audit_backfill()`,
      `CREATE TRIGGER config_audit_chain BEFORE INSERT ON ${s}.config_audit
       FOR EACH ROW EXECUTE FUNCTION ${s}.summit_audit_chain()`,
      // Append-only: rows are never updated or deleted (verify() still detects it when someone
      // with the rights disables this trigger first).
      `CREATE FUNCTION ${s}.summit_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $summit$
       BEGIN
         RAISE EXCEPTION 'config_audit is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
       END
       $summit$`,
      `CREATE TRIGGER config_audit_append_only BEFORE UPDATE OR DELETE ON ${s}.config_audit
       FOR EACH ROW EXECUTE FUNCTION ${s}.summit_audit_append_only()`,
      `CREATE TRIGGER config_audit_no_truncate BEFORE TRUNCATE ON ${s}.config_audit
       FOR EACH STATEMENT EXECUTE FUNCTION ${s}.summit_audit_append_only()`,
      // Change requests keep their whole document beside the seed's columns (which stay filled for SQL users).
      `ALTER TABLE ${s}.approval_workflows ADD COLUMN document json`,
      `ALTER TABLE ${s}.approval_workflows ADD COLUMN review varchar(20)`,
      `CREATE TABLE ${s}.governance_environments (
        name text COLLATE "C" PRIMARY KEY,
        parent text COLLATE "C",
        production boolean NOT NULL,
        approval_policy json,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${s}.governance_schemas (
        schema_id text COLLATE "C" NOT NULL,
        version integer NOT NULL CHECK (version >= 1),
        schema json NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (schema_id, version)
      )`,
      `CREATE TABLE ${s}.governance_policies (
        name text COLLATE "C" PRIMARY KEY,
        policy json NOT NULL,
        updated_at timestamptz NOT NULL
      )`,
    ],
  },
  {
    version: 4,
    name: 'configuration migration history (runs and per-ref progress)',
    statements: (s) => [
      // One row per configuration migration: its latest run. The document holds the whole record;
      // the columns beside it are for SQL users and for the compare-and-set on (status, run).
      `CREATE TABLE ${s}.config_migrations (
        name text COLLATE "C" PRIMARY KEY,
        version text NOT NULL,
        checksum varchar(64) NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('data', 'module')),
        status varchar(20) NOT NULL
          CHECK (status IN ('running', 'failed', 'applied', 'rolling_back', 'rolled_back')),
        run integer NOT NULL CHECK (run >= 1),
        applied_by text NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        document json NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
      // What each run did to each ref: resuming a run skips the refs recorded here.
      `CREATE TABLE ${s}.config_migration_refs (
        migration text COLLATE "C" NOT NULL REFERENCES ${s}.config_migrations (name),
        run integer NOT NULL CHECK (run >= 1),
        config_id text COLLATE "C" NOT NULL,
        state varchar(20) NOT NULL CHECK (state IN ('applied', 'proposed', 'unchanged', 'declined')),
        before_version integer NOT NULL,
        after_version integer,
        request_id text,
        document json NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (migration, run, config_id)
      )`,
      `CREATE INDEX config_migration_refs_ref_idx ON ${s}.config_migration_refs (config_id)`,
    ],
  },
  {
    version: 5,
    name: 'secret rotation: policy fields, the resumable run record, compare-and-set revision',
    // The secrets package's columns (it now adds them itself too, see @summit-config/secrets'
    // sql-migrations.ts): every statement tolerates what the other already did.
    statements: (s) => [
      // secret_id stays '<provider>/<name>'; the parts are kept apart too for SQL users.
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS provider text`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS secret_name text`,
      // The grace period as given (grace_period_days stays filled, rounded down, for SQL users).
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS grace_ms bigint CHECK (grace_ms >= 0)`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS enabled boolean NOT NULL DEFAULT true`,
      // The recorded step and the record of the run in progress (version ids, refs, sanitised
      // errors: never a secret value), the failure that ended the last run, the last completed run.
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS step text`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS run json`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS error json`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS last_run json`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS revision integer NOT NULL DEFAULT 1`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now()`,
      `ALTER TABLE ${s}.secret_rotation_policies ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now()`,
      `DO $summit_secrets$ BEGIN
         ALTER TABLE ${s}.secret_rotation_policies ADD CONSTRAINT secret_rotation_policies_state_check
           CHECK (state IN ('idle', 'rotating', 'failed'));
       EXCEPTION WHEN duplicate_object THEN NULL;
       END $summit_secrets$`,
      `CREATE INDEX IF NOT EXISTS secret_rotation_policies_due_idx ON ${s}.secret_rotation_policies (next_rotation_at)
        WHERE enabled`,
    ],
  },
  {
    version: 6,
    name: 'failover: the version the mirror holds per ref, the chain epoch',
    statements: (s) => [
      // The highest version of each ref the mirror tier (Consul) is known to hold. Rows from before
      // this migration count as mirrored; the chain's first full reconciliation checks them.
      `ALTER TABLE ${s}.config_heads ADD COLUMN mirror_version integer NOT NULL DEFAULT 0`,
      `UPDATE ${s}.config_heads SET mirror_version = version`,
      `CREATE INDEX config_heads_lagging_idx ON ${s}.config_heads (config_id) WHERE mirror_version < version`,
      // Small facts about the store: the chain epoch (created once, copied to the mirror).
      `CREATE TABLE ${s}.config_meta (
        key text COLLATE "C" PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`,
    ],
  },
  {
    version: 7,
    name: 'signed audit events: the writer key signature of each event (not part of the hash chain)',
    statements: (s) => [
      // '<keyId>:<base64 Ed25519 signature>' (core/src/audit/signing.ts); the chain trigger does not
      // hash it, so rows from before keep their hashes and a forger cannot make one with the trigger.
      `ALTER TABLE ${s}.config_audit ADD COLUMN signature text`,
    ],
  },
  {
    version: 8,
    name: 'audit origin: where a call came from (a server request), covered by the signature, not the hash chain',
    statements: (s) => [
      // The JSON text of core's AuditOrigin (auditOriginText): method, token id, remote address, user
      // agent, request id. Like the signature, the chain trigger does not hash it.
      `ALTER TABLE ${s}.config_audit ADD COLUMN origin text`,
    ],
  },
];

/** The newest schema version this code knows. */
export const LATEST_MIGRATION = Math.max(...MIGRATIONS.map((m) => m.version));

/** First key of the two-key advisory lock ('SUMM', core's schema DDL lock); the second is a hash of the schema name. */
const LOCK_CLASS = SQL_SCHEMA_LOCK;

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
  try {
    return await migrateOnce(client, schema);
  } catch (error) {
    // Another package creating the same schema at the same moment (outside this lock) makes
    // CREATE SCHEMA fail with a unique violation: the schema exists now, so once more succeeds.
    if (!['23505', '42P06'].includes(sqlState(error) ?? '')) throw error;
    return migrateOnce(client, schema);
  }
}

/**
 * {@link migrate} on first call, its result shared by every later call; a failed attempt is
 * forgotten, so the next call tries again.
 */
export function lazyMigrate(client: SqlClient, schema: string): () => Promise<MigrationResult> {
  let ready: Promise<MigrationResult> | undefined;
  return () => {
    ready ??= migrate(client, schema).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
}

async function migrateOnce(client: SqlClient, schema: string): Promise<MigrationResult> {
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
