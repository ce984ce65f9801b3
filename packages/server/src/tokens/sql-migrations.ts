/**
 * The server's own table, `server_tokens`, created by this package where the SQL token store is
 * opened (on its first call), on the one SQL seam, as `@summit-config/secrets` creates its tables
 * (`secrets/src/sql-migrations.ts`): a catalog read first (a complete table costs no DDL, no lock and
 * no privilege beyond reading the catalog), else one transaction under the schema's DDL lock (core's
 * `SQL_SCHEMA_LOCK`, held by every package's migrations), re-inspecting there and creating only what
 * is missing. Idempotent, and safe when several processes start at once.
 *
 *   server_tokens (id PK, name, owner, roles jsonb, token_hash, created_at, expires_at,
 *                  last_used_at, revoked_at, revoked_by); index on owner
 */
import { SQL_SCHEMA_LOCK, type SqlDatabase, type SqlQueryable } from '@summit-config/core/internal';

/** The table's name (in the store's schema). */
export const TOKENS_TABLE = 'server_tokens';
const OWNER_INDEX = 'server_tokens_owner_idx';

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** SQLSTATEs of DDL that lost a race with DDL outside the lock (a schema, type or relation created meanwhile). */
const RACE_STATES = new Set(['23505', '42P06', '42P07', '42701', '42710']);

interface TableState {
  schema: boolean;
  table: boolean;
  owner_index: boolean;
}

async function inspect(db: SqlQueryable, schema: string): Promise<TableState> {
  const { rows } = await db.query<TableState>(
    `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS schema,
            to_regclass(quote_ident($1) || '.' || quote_ident($2)) IS NOT NULL AS table,
            to_regclass(quote_ident($1) || '.' || quote_ident($3)) IS NOT NULL AS owner_index`,
    [schema, TOKENS_TABLE, OWNER_INDEX],
  );
  return rows[0] as TableState;
}

const complete = (state: TableState): boolean => state.table && state.owner_index;

async function migrateOnce(sql: SqlDatabase, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))', [SQL_SCHEMA_LOCK, schema]);
    const state = await inspect(tx, schema);
    if (complete(state)) return;
    // Checked first so that an existing schema needs no CREATE privilege on the database.
    if (!state.schema) await tx.query(`CREATE SCHEMA ${s}`);
    if (!state.table) {
      await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.${TOKENS_TABLE} (
        id text PRIMARY KEY CHECK (id ~ '^[a-z2-7]{12}$'),
        name text NOT NULL,
        owner text NOT NULL,
        roles jsonb NOT NULL CHECK (jsonb_typeof(roles) = 'array' AND jsonb_array_length(roles) > 0),
        token_hash text NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        last_used_at timestamptz,
        revoked_at timestamptz,
        revoked_by text,
        CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
      )`);
    }
    if (!state.owner_index) {
      await tx.query(`CREATE INDEX IF NOT EXISTS ${OWNER_INDEX} ON ${s}.${TOKENS_TABLE} (owner)`);
    }
  });
}

/** Brings `server_tokens` in `schema` (and the schema) into being: creates what is missing, never touches what exists. */
export async function migrateTokenTable(sql: SqlDatabase, schema: string): Promise<void> {
  if (complete(await inspect(sql, schema))) return;
  try {
    await migrateOnce(sql, schema);
  } catch (error) {
    // Lost a race with DDL done outside the lock (another package's older migration): once more.
    if (!RACE_STATES.has(String((error as { code?: unknown } | null)?.code))) throw error;
    await migrateOnce(sql, schema);
  }
}
