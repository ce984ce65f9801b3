/**
 * The console's sessions in SQL (PostgreSQL through `pg`, or embedded PGlite), over core's one SQL
 * seam ({@link SqlDatabase}), so every replica of the server over the same database shares them: a
 * cookie opened on one replica works on any other, and a sign-out on one ends it everywhere. Give
 * it the database and schema of the token store. It loads no driver.
 *
 *   server_sessions (id_hash PK, sealed, principal, created_at, expires_at, last_seen_at);
 *   index on expires_at
 *
 * Created on the first call, as `server_tokens` is (`tokens/sql-migrations.ts`): a catalog read,
 * else one transaction under the schema's DDL lock (core's `SQL_SCHEMA_LOCK`). A row holds what a
 * {@link SessionRecord} holds: SHA-256 of the session id and the sealed credential, neither of
 * which opens a session without the cookie. Expired rows are never returned, and deleted when a
 * session is created.
 */
import { errors, preparedSqlRunner, SQL_SCHEMA_LOCK, type SqlDatabase } from '@summit-config/core/internal';
import type { SessionRecord, SessionStore } from './sessions.js';
import { quoteIdent } from './tokens/sql-migrations.js';

export interface SqlSessionStoreOptions {
  /** The database. It stays the caller's. */
  sql: SqlDatabase;
  /** Schema of `server_sessions`, created when missing: use the token store's. Default `public`. */
  schema?: string;
  /** The clock, epoch milliseconds (default `Date.now`), for tests. */
  clock?: () => number;
}

export const SESSIONS_TABLE = 'server_sessions';
const EXPIRY_INDEX = 'server_sessions_expires_idx';

interface SessionRow {
  id_hash: string;
  sealed: string;
  principal: string;
  created_at: Date | string;
  expires_at: Date | string;
  last_seen_at: Date | string | null;
}

const ms = (v: Date | string) => (v instanceof Date ? v : new Date(v)).getTime();

async function migrate(sql: SqlDatabase, schema: string): Promise<void> {
  const present = async (db: Pick<SqlDatabase, 'query'>) => {
    // The table, its index, and last_seen_at (added after the first release: ALTER below).
    const { rows } = await db.query<{ ok: boolean }>(
      `SELECT to_regclass(quote_ident($1) || '.' || quote_ident($2)) IS NOT NULL
          AND to_regclass(quote_ident($1) || '.' || quote_ident($3)) IS NOT NULL
          AND EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = $1 AND table_name = $2 AND column_name = 'last_seen_at') AS ok`,
      [schema, SESSIONS_TABLE, EXPIRY_INDEX],
    );
    return rows[0]?.ok === true;
  };
  if (await present(sql)) return;
  const s = quoteIdent(schema);
  await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))', [SQL_SCHEMA_LOCK, schema]);
    if (await present(tx)) return;
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.${SESSIONS_TABLE} (
      id_hash text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
      sealed text NOT NULL,
      principal text NOT NULL,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL
    )`);
    await tx.query(`CREATE INDEX IF NOT EXISTS ${EXPIRY_INDEX} ON ${s}.${SESSIONS_TABLE} (expires_at)`);
    await tx.query(`ALTER TABLE ${s}.${SESSIONS_TABLE} ADD COLUMN IF NOT EXISTS last_seen_at timestamptz`);
  });
}

/** Creates the SQL session store. Nothing runs until the first call, which creates the table. */
export function createSqlSessionStore(options: SqlSessionStoreOptions): SessionStore {
  const sql = options?.sql;
  if (!sql || typeof sql.query !== 'function' || typeof sql.transaction !== 'function') {
    throw errors.constraint('sql session store option sql must have query() and transaction()');
  }
  const schema = options.schema ?? 'public';
  if (typeof schema !== 'string' || schema === '' || schema.includes('\u0000') || Buffer.byteLength(schema) > 63) {
    throw errors.constraint('sql session store option schema must be a non-empty identifier of at most 63 bytes');
  }
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') throw errors.constraint('sql session store option clock must be a function');
  const table = `${quoteIdent(schema)}.${SESSIONS_TABLE}`;
  /** Runs `fn` once the table exists; a driver failure is `BACKEND_UNAVAILABLE`. */
  const run = preparedSqlRunner(() => migrate(sql, schema), 'session store');

  return {
    put: (record: SessionRecord) =>
      run(async () => {
        const now = new Date(clock());
        await sql.query(`DELETE FROM ${table} WHERE expires_at <= $1`, [now]);
        await sql.query(
          `INSERT INTO ${table} (id_hash, sealed, principal, created_at, expires_at, last_seen_at)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [
            record.idHash,
            record.sealed,
            record.principal,
            new Date(record.createdAt),
            new Date(record.expiresAt),
            record.lastSeenAt === undefined ? null : new Date(record.lastSeenAt),
          ],
        );
      }),
    get: (idHash: string) =>
      run(async () => {
        const { rows } = await sql.query<SessionRow>(
          `SELECT id_hash, sealed, principal, created_at, expires_at, last_seen_at FROM ${table}
            WHERE id_hash = $1 AND expires_at > $2`,
          [idHash, new Date(clock())],
          { prepare: true },
        );
        const row = rows[0];
        if (row === undefined) return undefined;
        return {
          idHash: row.id_hash,
          sealed: row.sealed,
          principal: row.principal,
          createdAt: ms(row.created_at),
          expiresAt: ms(row.expires_at),
          ...(row.last_seen_at === null ? {} : { lastSeenAt: ms(row.last_seen_at) }),
        };
      }),
    delete: (idHash: string) =>
      run(async () => {
        const { rows } = await sql.query<{ id_hash: string }>(
          `DELETE FROM ${table} WHERE id_hash = $1 RETURNING id_hash`,
          [idHash],
        );
        return rows.length > 0;
      }),
    touch: (idHash: string, at: number) =>
      run(async () => {
        // Never backwards: two replicas touching at once keep the later time.
        await sql.query(
          `UPDATE ${table} SET last_seen_at = $2
            WHERE id_hash = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)`,
          [idHash, new Date(at)],
        );
      }),
  };
}
