/**
 * The local provider's SQL storage, on PostgreSQL (`pg`) or embedded PGlite. It loads no driver:
 * it runs on the one SQL seam, core's {@link SqlDatabase} (statements and transactions), which
 * `@summit-config/backends`' clients satisfy and {@link sqlFromPgPool} builds from a `pg.Pool`.
 *
 * Tables, created on first use in `schema` by this package's own migration (`sql-migrations.ts`:
 * CREATE ... IF NOT EXISTS under an advisory lock, so several processes may start at once). Only
 * ciphertext, IV and tag are stored, never plaintext:
 *
 *   summit_secrets          (name PK, next_version, created_at, updated_at)
 *   summit_secret_versions  (name, version, stage, state, ciphertext, iv, tag, labels,
 *                            created_at, updated_at; PK (name, version); one row per (name, stage))
 *   summit_secret_meta      (key PK, value, created_at): the master key's check value
 */
import type { SqlDatabase, SqlQueryable, SqlResult } from '@summit-config/core/internal';
import type { SecretStage, SecretVersionState } from '../contract.js';
import { isSecretError, sanitizeCause, secretError } from '../errors.js';
import { optionError } from '../provider-kit.js';
import { migrateSecretStorageTables } from '../sql-migrations.js';
import {
  checkPlanStages,
  type LocalSecretStorage,
  type SealedValue,
  type StoredVersion,
  type StoredVersionMeta,
} from './local-storage.js';

/** The SQL seam of the secrets' storages: core's `SqlDatabase` (kept under its former name). */
export type SecretSql = SqlDatabase;
/** One statement on the SQL seam: core's `SqlQueryable` (kept under its former name). */
export type SecretSqlQueryable = SqlQueryable;

/** What a `pg` query resolves to, as far as {@link sqlFromPgPool} reads it. */
interface PgResultLike {
  rows: unknown[];
  rowCount?: number | null;
}

/** The part of a `pg.Pool` that {@link sqlFromPgPool} uses. */
export interface PgPoolLike {
  query(text: string, params?: unknown[]): Promise<PgResultLike>;
  connect(): Promise<{
    query(text: string, params?: unknown[]): Promise<PgResultLike>;
    release(destroy?: boolean | Error): void;
  }>;
}

function toResult<R>(result: PgResultLike): SqlResult<R> {
  return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
}

/** A {@link SqlDatabase} over a `pg.Pool` (the pool stays the caller's: it is never ended here). */
export function sqlFromPgPool(pool: PgPoolLike): SqlDatabase {
  return {
    async query<R>(text: string, params?: readonly unknown[]) {
      return toResult<R>(await pool.query(text, params as unknown[] | undefined));
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({
          query: async <R>(text: string, params?: readonly unknown[]) =>
            toResult<R>(await client.query(text, params as unknown[] | undefined)),
        });
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch (rollbackError) {
          // The connection is broken: discard it rather than return it to the pool.
          client.release(rollbackError instanceof Error ? rollbackError : true);
        }
        throw error;
      }
    },
  };
}

export interface SqlSecretStorageOptions {
  /** The database: a backends `SqlClient` (e.g. `createPgliteClient({ pglite })`), or `sqlFromPgPool(pool)`. */
  sql: SqlDatabase;
  /** `postgres` (a server) or `pglite` (embedded); only reported as `kind`. Default `postgres`. */
  kind?: 'postgres' | 'pglite';
  /** Schema of the two tables, created when missing. Default `public`. */
  schema?: string;
  /** Called by `close()`, e.g. to end a pool the storage was given to own. Default: nothing. */
  onClose?: () => Promise<void> | void;
}

interface VersionRow {
  version: number;
  stage: SecretStage | null;
  state: SecretVersionState;
  labels: unknown;
  created_at: Date | string;
  updated_at: Date | string;
  ciphertext?: Uint8Array | null;
  iv?: Uint8Array | null;
  tag?: Uint8Array | null;
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

function toLabels(value: unknown): Record<string, string> {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
}

function toMeta(row: VersionRow): StoredVersionMeta {
  return {
    version: Number(row.version),
    stage: row.stage,
    state: row.state,
    labels: toLabels(row.labels),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

function toStored(row: VersionRow): StoredVersion {
  const sealed: SealedValue | null =
    row.ciphertext && row.iv && row.tag
      ? { ciphertext: Uint8Array.from(row.ciphertext), iv: Uint8Array.from(row.iv), tag: Uint8Array.from(row.tag) }
      : null;
  return { ...toMeta(row), sealed };
}

const META_COLUMNS = 'version, stage, state, labels, created_at, updated_at';

/** A PostgreSQL schema name this package accepts: 1-63 bytes, no NUL (it is quoted where used). */
export function isSchemaName(schema: unknown): schema is string {
  return (
    typeof schema === 'string' && schema.length > 0 && !schema.includes('\u0000') && Buffer.byteLength(schema) <= 63
  );
}

/** Creates the SQL storage. Nothing runs until the first call, which creates the tables. */
export function createSqlSecretStorage(options: SqlSecretStorageOptions): LocalSecretStorage {
  if (options === null || typeof options !== 'object') throw optionError('local', 'storage', 'options are required');
  const { sql } = options;
  if (!sql || typeof sql.query !== 'function' || typeof sql.transaction !== 'function') {
    throw optionError('local', 'sql', 'must have query() and transaction() (use sqlFromPgPool for a pg.Pool)');
  }
  const schema = options.schema ?? 'public';
  if (!isSchemaName(schema)) {
    throw optionError('local', 'schema', 'must be a non-empty identifier of at most 63 bytes without NUL');
  }
  const kind = options.kind ?? 'postgres';
  if (kind !== 'postgres' && kind !== 'pglite') throw optionError('local', 'kind', 'must be "postgres" or "pglite"');
  const secretsTable = `${quote(schema)}.summit_secrets`;
  const versionsTable = `${quote(schema)}.summit_secret_versions`;
  const metaTable = `${quote(schema)}.summit_secret_meta`;
  let ready: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  function unavailable(error: unknown, secret?: string): Error {
    if (isSecretError(error)) return error;
    return secretError('unavailable', `the ${kind} secret storage failed`, {
      provider: 'local',
      secret,
      cause: sanitizeCause(error),
    });
  }

  /** Creates the tables once; a failed attempt is retried by the next call. */
  async function ensureReady(): Promise<void> {
    if (closing) throw secretError('unavailable', 'the secret storage is closed', { provider: 'local' });
    ready ??= migrateSecretStorageTables(sql, schema).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    await ready;
  }

  return {
    kind,
    durable: true,

    async change(name, plan) {
      try {
        await ensureReady();
        return await sql.transaction(async (tx) => {
          const head = await tx.query<{ next_version: number }>(
            `SELECT next_version FROM ${secretsTable} WHERE name = $1 FOR UPDATE`,
            [name],
          );
          const exists = head.rows.length > 0;
          const versions = exists
            ? (
                await tx.query<VersionRow>(
                  `SELECT ${META_COLUMNS} FROM ${versionsTable} WHERE name = $1 ORDER BY version`,
                  [name],
                )
              ).rows.map(toMeta)
            : [];
          const nextVersion = exists ? Number(head.rows[0]?.next_version) : 1;
          const result = plan({ exists, versions, nextVersion });
          checkPlanStages(versions, result);
          if (result.create) {
            // A concurrent create of the same name fails here with a unique violation.
            const created = await tx.query(
              `INSERT INTO ${secretsTable} (name, next_version) VALUES ($1, 1) ON CONFLICT (name) DO NOTHING RETURNING name`,
              [name],
            );
            if (created.rows.length === 0) {
              throw secretError('exists', 'the secret already exists', { provider: 'local', secret: name });
            }
          }
          const updates = result.updates ?? [];
          const byVersion = new Map(versions.map((v) => [v.version, v]));
          // Clear every stage that moves first, so the (name, stage) index never sees two holders.
          for (const u of updates) {
            if (byVersion.get(u.version)?.stage !== u.stage) {
              await tx.query(`UPDATE ${versionsTable} SET stage = NULL WHERE name = $1 AND version = $2`, [
                name,
                u.version,
              ]);
            }
          }
          for (const u of updates) {
            await tx.query(
              `UPDATE ${versionsTable}
               SET stage = $3, state = $4, updated_at = now(),
                   ciphertext = CASE WHEN $5 THEN NULL ELSE ciphertext END,
                   iv = CASE WHEN $5 THEN NULL ELSE iv END,
                   tag = CASE WHEN $5 THEN NULL ELSE tag END
               WHERE name = $1 AND version = $2`,
              [name, u.version, u.stage, u.state, u.wipe === true],
            );
          }
          if (result.insert) {
            const { sealed, stage, labels } = result.insert;
            await tx.query(
              `INSERT INTO ${versionsTable} (name, version, stage, state, ciphertext, iv, tag, labels)
               VALUES ($1, $2, $3, 'enabled', $4, $5, $6, $7::jsonb)`,
              [
                name,
                nextVersion,
                stage,
                Buffer.from(sealed.ciphertext),
                Buffer.from(sealed.iv),
                Buffer.from(sealed.tag),
                JSON.stringify(labels),
              ],
            );
            await tx.query(
              `UPDATE ${secretsTable} SET next_version = next_version + 1, updated_at = now() WHERE name = $1`,
              [name],
            );
          }
          return result.result;
        });
      } catch (error) {
        if (isSecretError(error)) throw error;
        if ((error as { code?: unknown })?.code === '23505' && typeof error === 'object') {
          throw secretError('exists', 'the secret already exists', { provider: 'local', secret: name });
        }
        // A plan's own error (not a driver error) passes through unchanged.
        if (error instanceof Error && error.message.startsWith('storage plan')) throw error;
        throw unavailable(error, name);
      }
    },

    async get(name, lookup) {
      try {
        await ensureReady();
        const where = 'version' in lookup ? 'version = $2' : 'stage = $2';
        const param = 'version' in lookup ? lookup.version : lookup.stage;
        const { rows } = await sql.query<VersionRow & { secret_exists: boolean }>(
          `SELECT s.name IS NOT NULL AS secret_exists, v.version, v.stage, v.state, v.labels, v.created_at,
                  v.updated_at, v.ciphertext, v.iv, v.tag
           FROM (SELECT $1::text AS name) q
           LEFT JOIN ${secretsTable} s ON s.name = q.name
           LEFT JOIN ${versionsTable} v ON v.name = q.name AND v.${where}`,
          [name, param],
        );
        const row = rows[0];
        if (!row?.secret_exists) return { secretExists: false, row: undefined };
        return { secretExists: true, row: row.version === null ? undefined : toStored(row) };
      } catch (error) {
        throw unavailable(error, name);
      }
    },

    async list(name) {
      try {
        await ensureReady();
        const { rows } = await sql.query<VersionRow & { secret_exists: boolean }>(
          `SELECT s.name IS NOT NULL AS secret_exists, v.version, v.stage, v.state, v.labels, v.created_at, v.updated_at
           FROM (SELECT $1::text AS name) q
           LEFT JOIN ${secretsTable} s ON s.name = q.name
           LEFT JOIN ${versionsTable} v ON v.name = q.name
           ORDER BY v.version`,
          [name],
        );
        if (!rows[0]?.secret_exists) return undefined;
        return rows.filter((r) => r.version !== null).map(toMeta);
      } catch (error) {
        throw unavailable(error, name);
      }
    },

    async getMeta(key) {
      try {
        await ensureReady();
        const { rows } = await sql.query<{ value: string }>(`SELECT value FROM ${metaTable} WHERE key = $1`, [key]);
        return rows[0]?.value;
      } catch (error) {
        throw unavailable(error);
      }
    },

    async putMeta(key, value) {
      try {
        await ensureReady();
        const inserted = await sql.query<{ value: string }>(
          `INSERT INTO ${metaTable} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value`,
          [key, value],
        );
        if (inserted.rows[0]) return inserted.rows[0].value;
        // Set before (or by a concurrent caller, committed by now): a new statement sees it.
        const { rows } = await sql.query<{ value: string }>(`SELECT value FROM ${metaTable} WHERE key = $1`, [key]);
        if (!rows[0]) throw new Error(`meta value ${key} neither inserted nor found`);
        return rows[0].value;
      } catch (error) {
        throw unavailable(error);
      }
    },

    async firstSealed() {
      try {
        await ensureReady();
        const { rows } = await sql.query<VersionRow & { name: string }>(
          `SELECT name, ${META_COLUMNS}, ciphertext, iv, tag FROM ${versionsTable}
           WHERE ciphertext IS NOT NULL ORDER BY created_at, name, version LIMIT 1`,
        );
        const row = rows[0];
        return row && { name: row.name, row: toStored(row) };
      } catch (error) {
        throw unavailable(error);
      }
    },

    close() {
      closing ??= Promise.resolve().then(() => options.onClose?.());
      return closing;
    },
  };
}
