/**
 * Rotation policies in PostgreSQL or PGlite: table `secret_rotation_policies` (the seed 002 table and
 * the rotation manager's columns), which this package creates and migrates itself on first use
 * (`sql-migrations.ts`: idempotent, and it leaves alone what the PostgreSQL store's migrations 1
 * and 5 already created in existing databases). It loads no driver: it runs on the one SQL seam,
 * core's `SqlDatabase` (a backends `SqlClient`, or `sqlFromPgPool(pool)`).
 *
 *   const policies = createSqlRotationPolicies({ sql: sqlFromPgPool(pool), schema });
 *
 * The seed's columns stay filled for SQL users (`secret_id` is `<provider>/<name>`,
 * `rotation_interval_days`, `rotation_lambda` is the handler name, `notify_on_rotation`,
 * `grace_period_days` rounded down, `last_rotated_at`, `next_rotation_at`); the run in progress is
 * the `run` JSON column (version ids, refs, sanitised errors: never a secret value).
 */
import { isConfigError } from '@summit-config/core';
import { errors, Lifecycle, type SqlDatabase } from '@summit-config/core/internal';
import { isSchemaName } from '../providers/local-sql.js';
import { migrateRotationPolicyTable } from '../sql-migrations.js';
import { conflict, type RotationPolicyStore } from './policies.js';
import { DAY_MS, parseSecretKey, secretKey } from './policy.js';
import type { RotationPolicy, RotationState, RotationStep } from './types.js';

/**
 * The PostgreSQL store's schema migration that first added the rotation columns. Kept for
 * compatibility: the table no longer depends on the store's migrations (this package migrates it).
 */
export const ROTATION_MIGRATION = 5;

export interface SqlRotationPoliciesOptions {
  /** The database: a backends `SqlClient` (e.g. `createPgliteClient({ pglite })`), or `sqlFromPgPool(pool)`. Borrowed. */
  sql: SqlDatabase;
  /** The schema of the table (the one holding the config tables, usually). Default `public`. */
  schema?: string;
  /** `postgres` or `pglite`; only used in errors. Default `postgres`. */
  kind?: 'postgres' | 'pglite';
  /**
   * Also brings the stores' schema up to date before first use: the PostgreSQL store or governance
   * storage of the same schema (`{ migrate() }`). Optional: the policy table migrates itself.
   */
  migrator?: { migrate(): Promise<unknown> };
}

interface Row {
  secret_id: string;
  rotation_interval_days: number | null;
  cron: string | null;
  generator: string | null;
  notify: string | null;
  grace_period_days: number;
  grace_ms: string | number | null;
  last_rotated_at: Date | string | null;
  next_rotation_at: Date | string | null;
  state: RotationState;
  enabled: boolean;
  step: RotationStep | null;
  run: string | null;
  error: string | null;
  last_run: string | null;
  revision: number;
  created_at: Date | string;
  updated_at: Date | string;
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function iso(value: Date | string | null): string | undefined {
  if (value === null || value === undefined) return undefined;
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function json<T>(text: string | null): T | undefined {
  return text === null || text === undefined ? undefined : (JSON.parse(text) as T);
}

const COLUMNS = `secret_id, rotation_interval_days, cron, generator::text AS generator,
  array_to_json(notify_on_rotation)::text AS notify, grace_period_days, grace_ms, last_rotated_at,
  next_rotation_at, state, enabled, step, run::text AS run, error::text AS error, last_run::text AS last_run,
  revision, created_at, updated_at`;

function toPolicy(row: Row): RotationPolicy {
  return {
    secret: parseSecretKey(row.secret_id),
    intervalDays: row.rotation_interval_days ?? undefined,
    cron: row.cron ?? undefined,
    graceMs: row.grace_ms === null ? Number(row.grace_period_days) * DAY_MS : Number(row.grace_ms),
    generator: json(row.generator) ?? { type: 'password' },
    notify: json<string[]>(row.notify) ?? [],
    enabled: row.enabled,
    lastRotatedAt: iso(row.last_rotated_at),
    nextRotationAt: iso(row.next_rotation_at),
    state: row.state,
    step: row.step ?? undefined,
    run: json(row.run),
    error: json(row.error),
    lastRun: json(row.last_run),
    revision: Number(row.revision),
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

/** The parameters $2.. of an insert or update, in {@link FIELDS} order. */
function params(p: RotationPolicy): unknown[] {
  return [
    p.secret.provider,
    p.secret.name,
    p.intervalDays ?? null,
    p.cron ?? null,
    p.generator.type === 'handler' ? p.generator.name : null,
    JSON.stringify(p.generator),
    JSON.stringify(p.notify),
    Math.floor(p.graceMs / DAY_MS),
    p.graceMs,
    p.lastRotatedAt ?? null,
    p.nextRotationAt ?? null,
    p.state,
    p.enabled,
    p.step ?? null,
    p.run === undefined ? null : JSON.stringify(p.run),
    p.error === undefined ? null : JSON.stringify(p.error),
    p.lastRun === undefined ? null : JSON.stringify(p.lastRun),
    p.createdAt,
    p.updatedAt,
  ];
}

const FIELDS = [
  ['provider', '$2::text'],
  ['secret_name', '$3::text'],
  ['rotation_interval_days', '$4::integer'],
  ['cron', '$5::text'],
  ['rotation_lambda', '$6::text'],
  ['generator', '$7::json'],
  ['notify_on_rotation', 'ARRAY(SELECT json_array_elements_text($8::json))'],
  ['grace_period_days', '$9::integer'],
  ['grace_ms', '$10::bigint'],
  ['last_rotated_at', '$11::timestamptz'],
  ['next_rotation_at', '$12::timestamptz'],
  ['state', '$13::text'],
  ['enabled', '$14::boolean'],
  ['step', '$15::text'],
  ['run', '$16::json'],
  ['error', '$17::json'],
  ['last_run', '$18::json'],
  ['created_at', '$19::timestamptz'],
  ['updated_at', '$20::timestamptz'],
] as const;

/** Creates the SQL policy storage. Nothing runs until the first call. */
export function createSqlRotationPolicies(options: SqlRotationPoliciesOptions): RotationPolicyStore {
  if (options === null || typeof options !== 'object')
    throw errors.constraint('sql rotation policies options are required');
  const { sql } = options;
  if (!sql || typeof sql.query !== 'function') {
    throw errors.constraint('sql rotation policies option sql must have query() (use sqlFromPgPool for a pg.Pool)');
  }
  const schema = options.schema ?? 'public';
  if (!isSchemaName(schema)) {
    throw errors.constraint('sql rotation policies option schema must be a non-empty identifier of at most 63 bytes');
  }
  const kind = options.kind ?? 'postgres';
  if (kind !== 'postgres' && kind !== 'pglite') {
    throw errors.constraint('sql rotation policies option kind must be "postgres" or "pglite"');
  }
  if (options.migrator !== undefined && typeof options.migrator?.migrate !== 'function') {
    throw errors.constraint('sql rotation policies option migrator must have migrate() (a PostgreSQL store)');
  }
  const table = `${quote(schema)}.secret_rotation_policies`;
  const lifecycle = new Lifecycle(`${kind} rotation policies`);
  let ready: Promise<void> | undefined;

  async function checkSchema(): Promise<void> {
    await options.migrator?.migrate();
    await migrateRotationPolicyTable(sql, schema);
  }

  /** Runs `fn` once the schema is ready; driver failures become `BACKEND_UNAVAILABLE`. */
  async function run<T>(fn: () => Promise<T>): Promise<T> {
    lifecycle.assertOpen();
    try {
      ready ??= checkSchema().catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
      await ready;
      return await fn();
    } catch (error) {
      if (isConfigError(error)) throw error;
      throw errors.unavailable(kind, error);
    }
  }

  async function revisionOf(key: string): Promise<number | undefined> {
    const { rows } = await sql.query<{ revision: number }>(`SELECT revision FROM ${table} WHERE secret_id = $1`, [key]);
    return rows[0] === undefined ? undefined : Number(rows[0].revision);
  }

  const store: RotationPolicyStore = {
    name: kind,
    durable: true,

    get(secret) {
      return run(async () => {
        const { rows } = await sql.query<Row>(`SELECT ${COLUMNS} FROM ${table} WHERE secret_id = $1`, [
          secretKey(secret),
        ]);
        return rows[0] && toPolicy(rows[0]);
      });
    },

    list() {
      return run(async () => {
        // Rows written by other tools without the rotation manager's columns are not policies of ours.
        const { rows } = await sql.query<Row>(
          `SELECT ${COLUMNS} FROM ${table} WHERE provider IS NOT NULL ORDER BY secret_id COLLATE "C"`,
        );
        return rows.map(toPolicy);
      });
    },

    save(policy, expectedRevision) {
      return run(async () => {
        const key = secretKey(policy.secret);
        const values = [key, ...params(policy)];
        let rows: Row[];
        if (expectedRevision === 0) {
          ({ rows } = await sql.query<Row>(
            `INSERT INTO ${table} (secret_id, ${FIELDS.map(([c]) => c).join(', ')}, revision)
             VALUES ($1, ${FIELDS.map(([, v]) => v).join(', ')}, 1)
             ON CONFLICT (secret_id) DO NOTHING
             RETURNING ${COLUMNS}`,
            values,
          ));
        } else {
          ({ rows } = await sql.query<Row>(
            `UPDATE ${table} SET ${FIELDS.map(([c, v]) => `${c} = ${v}`).join(', ')}, revision = revision + 1
             WHERE secret_id = $1 AND revision = $21
             RETURNING ${COLUMNS}`,
            [...values, expectedRevision],
          ));
        }
        const row = rows[0];
        if (!row) throw conflict(policy.secret, expectedRevision, await revisionOf(key));
        return toPolicy(row);
      });
    },

    delete(secret, expectedRevision) {
      return run(async () => {
        const key = secretKey(secret);
        const { rows } = await sql.query(`DELETE FROM ${table} WHERE secret_id = $1 AND revision = $2 RETURNING 1`, [
          key,
          expectedRevision,
        ]);
        if (rows.length > 0) return true;
        const found = await revisionOf(key);
        if (found === undefined) return false;
        throw conflict(secret, expectedRevision, found);
      });
    },

    close() {
      return lifecycle.close(() => {});
    },

    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}
