/**
 * The SQL token store, on PostgreSQL (`pg`) or embedded PGlite, over core's one SQL seam
 * ({@link SqlDatabase}: a backends `SqlClient`, or a `pg.Pool` through `sqlFromPgPool`). It loads no
 * driver. Its table, `server_tokens` in `schema`, is created on the first call (`sql-migrations.ts`).
 *
 * Every process on the same database shares the tokens. Nothing is cached: `verify` reads the row
 * on every call, so a revocation made by any process holds from the next request in every process.
 * `lastUsedAt` is written by a conditional UPDATE at most once a minute per token (whichever process
 * gets there first), so verification is one indexed read almost always.
 */
import { ConfigError } from '@summit-config/core';
import { errors, preparedSqlRunner, type SqlDatabase, type SqlQueryable } from '@summit-config/core/internal';
import { hashToken, newToken, newTokenId, parseToken, tokenMatches } from './format.js';
import { checkCreate, checkIdArgument, checkListFilter, checkRevoker, isLive, iso, lastUseDue } from './inputs.js';
import { migrateTokenTable, quoteIdent, TOKENS_TABLE } from './sql-migrations.js';
import { LAST_USED_RESOLUTION_MS, type TokenRecord, type TokenStore, type TokenStoreCommonOptions } from './types.js';

/** Options of {@link createSqlTokenStore}. */
export interface SqlTokenStoreOptions extends TokenStoreCommonOptions {
  /** The database. It stays the caller's: `close()` does not close it. */
  sql: SqlDatabase;
  /** Schema of `server_tokens`, created when missing: use the store's. Default `public`. */
  schema?: string;
  /** `postgres` (a server) or `pglite` (embedded): the store's `name`, in errors. Default `postgres`. */
  kind?: 'postgres' | 'pglite';
}

interface TokenRow {
  id: string;
  name: string;
  owner: string;
  roles: unknown;
  token_hash?: string;
  created_at: Date | string;
  expires_at: Date | string | null;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
  revoked_by: string | null;
}

/** Every column but the hash: what lists and gets read. */
const RECORD_COLUMNS = 'id, name, owner, roles, created_at, expires_at, last_used_at, revoked_at, revoked_by';
/** Unique violation: a token id taken meanwhile. */
const UNIQUE_VIOLATION = '23505';
/** Attempts at a free id (60 random bits each: a second attempt is already astronomically rare). */
const ID_ATTEMPTS = 5;

function toIso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function toRecord(row: TokenRow): TokenRecord {
  const roles = typeof row.roles === 'string' ? (JSON.parse(row.roles) as unknown) : row.roles;
  const record: { -readonly [K in keyof TokenRecord]: TokenRecord[K] } = {
    id: row.id,
    name: row.name,
    owner: row.owner,
    roles: Array.isArray(roles) ? roles.map(String) : [],
    createdAt: toIso(row.created_at),
  };
  if (row.expires_at !== null) record.expiresAt = toIso(row.expires_at);
  if (row.last_used_at !== null) record.lastUsedAt = toIso(row.last_used_at);
  if (row.revoked_at !== null) record.revokedAt = toIso(row.revoked_at);
  if (row.revoked_by !== null) record.revokedBy = row.revoked_by;
  return record;
}

/** Whether `schema` is a PostgreSQL schema name this store accepts: 1-63 bytes, no NUL (it is quoted where used). */
function isSchemaName(schema: unknown): schema is string {
  return (
    typeof schema === 'string' && schema.length > 0 && !schema.includes('\u0000') && Buffer.byteLength(schema) <= 63
  );
}

/** Creates the SQL token store. Nothing runs until the first call, which creates the table. */
export function createSqlTokenStore(options: SqlTokenStoreOptions): TokenStore {
  if (options === null || typeof options !== 'object') throw errors.constraint('sql token store options are required');
  const { sql } = options;
  if (!sql || typeof sql.query !== 'function' || typeof sql.transaction !== 'function') {
    throw errors.constraint('sql token store option sql must have query() and transaction()');
  }
  const schema = options.schema ?? 'public';
  if (!isSchemaName(schema)) {
    throw errors.constraint(
      'sql token store option schema must be a non-empty identifier of at most 63 bytes without NUL',
    );
  }
  const kind = options.kind ?? 'postgres';
  if (kind !== 'postgres' && kind !== 'pglite') {
    throw errors.constraint('sql token store option kind must be "postgres" or "pglite"');
  }
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw errors.constraint('sql token store option now must be a function');
  const table = `${quoteIdent(schema)}.${TOKENS_TABLE}`;
  let closed = false;
  /** Creates the table once (a failed attempt is retried by the next call); a driver failure is `BACKEND_UNAVAILABLE`. */
  const prepared = preparedSqlRunner(() => migrateTokenTable(sql, schema), kind);

  /** Runs `fn` once the store is open and its table exists. */
  async function run<T>(fn: () => Promise<T>): Promise<T> {
    if (closed) throw errors.closed(`the ${kind} token store`);
    return prepared(fn);
  }

  async function select(db: SqlQueryable, id: string): Promise<TokenRow | undefined> {
    const { rows } = await db.query<TokenRow>(`SELECT ${RECORD_COLUMNS} FROM ${table} WHERE id = $1`, [id], {
      prepare: true,
    });
    return rows[0];
  }

  return {
    name: kind,
    capabilities: { durable: true },

    async create(input) {
      if (closed) throw errors.closed(`the ${kind} token store`);
      const at = now();
      const checked = checkCreate(input, at);
      return run(async () => {
        for (let attempt = 1; ; attempt++) {
          const id = newTokenId();
          const token = newToken(id);
          try {
            const { rows } = await sql.query<TokenRow>(
              `INSERT INTO ${table} (id, name, owner, roles, token_hash, created_at, expires_at)
               VALUES ($1, $2, $3, $4::jsonb, $5, $6::timestamptz, $7::timestamptz)
               RETURNING ${RECORD_COLUMNS}`,
              [
                id,
                checked.name,
                checked.owner,
                JSON.stringify(checked.roles),
                hashToken(token),
                iso(at),
                checked.expiresAt === undefined ? null : iso(checked.expiresAt),
              ],
            );
            return { token, record: toRecord(rows[0] as TokenRow) };
          } catch (error) {
            const code = (error as { code?: unknown } | null)?.code;
            if (code !== UNIQUE_VIOLATION || attempt >= ID_ATTEMPTS) throw error;
          }
        }
      });
    },

    async list(filter) {
      if (closed) throw errors.closed(`the ${kind} token store`);
      const owner = checkListFilter(filter);
      return run(async () => {
        const { rows } =
          owner === undefined
            ? await sql.query<TokenRow>(`SELECT ${RECORD_COLUMNS} FROM ${table} ORDER BY created_at, id`)
            : await sql.query<TokenRow>(
                `SELECT ${RECORD_COLUMNS} FROM ${table} WHERE owner = $1 ORDER BY created_at, id`,
                [owner],
              );
        return rows.map(toRecord);
      });
    },

    async get(id) {
      if (closed) throw errors.closed(`the ${kind} token store`);
      if (!checkIdArgument(id)) return undefined;
      return run(async () => {
        const row = await select(sql, id);
        return row ? toRecord(row) : undefined;
      });
    },

    async revoke(id, by) {
      if (closed) throw errors.closed(`the ${kind} token store`);
      const known = checkIdArgument(id);
      const revokedBy = checkRevoker(by);
      if (!known) throw new ConfigError('NOT_FOUND', 'no API token has that id (malformed)');
      return run(async () => {
        const { rows } = await sql.query<TokenRow>(
          `UPDATE ${table} SET revoked_at = $2::timestamptz, revoked_by = $3
           WHERE id = $1 AND revoked_at IS NULL RETURNING ${RECORD_COLUMNS}`,
          [id, iso(now()), revokedBy],
        );
        // Revoked already (the first revocation stays), or no such token.
        const row = rows[0] ?? (await select(sql, id));
        if (!row) throw new ConfigError('NOT_FOUND', `no API token has id "${id}"`);
        return toRecord(row);
      });
    },

    async verify(token) {
      if (closed) throw errors.closed(`the ${kind} token store`);
      const parsed = parseToken(token);
      if (!parsed) return undefined;
      return run(async () => {
        const { rows } = await sql.query<TokenRow>(
          `SELECT ${RECORD_COLUMNS}, token_hash FROM ${table} WHERE id = $1`,
          [parsed.id],
          { prepare: true },
        );
        const row = rows[0];
        if (!tokenMatches(token, row?.token_hash) || !row) return undefined;
        const record = toRecord(row);
        const at = now();
        if (!isLive(record, at)) return undefined;
        if (!lastUseDue(record, at)) return record;
        // Whoever writes first this minute wins; the others keep the record they read.
        const written = await sql.query<{ last_used_at: Date | string }>(
          `UPDATE ${table} SET last_used_at = $2::timestamptz
           WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3::timestamptz) RETURNING last_used_at`,
          [parsed.id, iso(at), iso(at - LAST_USED_RESOLUTION_MS)],
          { prepare: true },
        );
        const lastUsed = written.rows[0]?.last_used_at;
        return lastUsed === undefined ? record : { ...record, lastUsedAt: toIso(lastUsed) };
      });
    },

    async close() {
      closed = true;
    },
  };
}
