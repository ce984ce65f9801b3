/**
 * The agent's own tables for the audit feed and notifications, in the store's database and schema
 * (PostgreSQL, or the embedded PGlite), over core's one SQL seam. Created on the first call as the
 * server creates `server_tokens` (`server/src/tokens/sql-migrations.ts`): a catalog read first, else
 * one transaction under the schema's DDL lock (core's `SQL_SCHEMA_LOCK`), creating what is missing.
 *
 *   agent_audit_cursors (name PK, seq, hash, updated_at)
 *     where each subscriber of the audit feed stands: the last audit event it has handled
 *   agent_notifications (id PK, channel, event_id, seq, action, ref, status, attempts, last_error,
 *                        body, created_at, updated_at), UNIQUE (channel, event_id)
 *     one row per event delivered (`delivered`) or given up on (`dead`, a dead letter), with the
 *     body sent (built from ids and summaries: never a secret value)
 */
import { randomBytes } from 'node:crypto';
import { errors, preparedSqlRunner, SQL_SCHEMA_LOCK, type SqlDatabase } from '@summit-config/core/internal';

/** The cursors' table (in the store's schema). */
export const CURSORS_TABLE = 'agent_audit_cursors';
/** The deliveries' and dead letters' table (in the store's schema). */
export const NOTIFICATIONS_TABLE = 'agent_notifications';

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** A delivery outcome kept in SQL. */
export interface NotificationRecord {
  /** 12 hex characters: what `notifications retry <id>` takes. */
  readonly id: string;
  readonly channel: string;
  /** The event id (`<seq>-<hash prefix>`), the receiver's idempotency key. */
  readonly eventId: string;
  readonly seq: number;
  readonly action: string;
  readonly ref: string | undefined;
  /** `delivered`, or `dead` (a dead letter: every attempt failed). */
  readonly status: 'delivered' | 'dead';
  /** Attempts made (all of them, the CLI's retries included). */
  readonly attempts: number;
  /** The last failure (status and a short reason; never a response body). */
  readonly lastError: string | undefined;
  /** The JSON text POSTed. */
  readonly body: string;
  /** ISO-8601 UTC. */
  readonly createdAt: string;
  readonly updatedAt: string;
}

interface Row {
  id: string;
  channel: string;
  event_id: string;
  seq: string | number;
  action: string;
  ref: string | null;
  status: 'delivered' | 'dead';
  attempts: number;
  last_error: string | null;
  body: string;
  created_at: Date | string;
  updated_at: Date | string;
}

const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();

function recordOf(r: Row): NotificationRecord {
  return {
    id: r.id,
    channel: r.channel,
    eventId: r.event_id,
    seq: Number(r.seq),
    action: r.action,
    ref: r.ref ?? undefined,
    status: r.status,
    attempts: r.attempts,
    lastError: r.last_error ?? undefined,
    body: r.body,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

/** Cursors and delivery records. Every method throws `BACKEND_UNAVAILABLE` when the database fails. */
export interface NotificationStore {
  /** A cursor's position (`undefined` when the subscriber has none yet). */
  getCursor(name: string): Promise<{ seq: number; hash: string | null } | undefined>;
  /** Moves a cursor forward (never back: a lower `seq` is ignored). */
  saveCursor(name: string, seq: number, hash: string | null): Promise<void>;
  /** The record of an event for a channel, if any. */
  find(channel: string, eventId: string): Promise<NotificationRecord | undefined>;
  /** Records an outcome (insert; an existing record of the same channel and event is updated). */
  record(input: Omit<NotificationRecord, 'id' | 'createdAt' | 'updatedAt'>): Promise<NotificationRecord>;
  /** One record by id. */
  get(id: string): Promise<NotificationRecord | undefined>;
  /** Newest first, at most `limit` (default 100); only dead letters with `dead`. */
  list(options?: { dead?: boolean; channel?: string; limit?: number }): Promise<NotificationRecord[]>;
  /** Dead letters, counted. */
  countDead(): Promise<number>;
  /**
   * Marks a dead letter delivered after a successful retry (compare-and-set on status `dead`);
   * resolves false when it was not dead any more (another retry won).
   */
  markDelivered(id: string, attempts: number): Promise<boolean>;
  /** Adds failed attempts to a dead letter. */
  markFailed(id: string, attempts: number, lastError: string): Promise<void>;
}

async function migrate(sql: SqlDatabase, schema: string): Promise<void> {
  const present = async (db: Pick<SqlDatabase, 'query'>) => {
    const { rows } = await db.query<{ ok: boolean }>(
      `SELECT to_regclass(quote_ident($1) || '.' || quote_ident($2)) IS NOT NULL
          AND to_regclass(quote_ident($1) || '.' || quote_ident($3)) IS NOT NULL AS ok`,
      [schema, CURSORS_TABLE, NOTIFICATIONS_TABLE],
    );
    return rows[0]?.ok === true;
  };
  if (await present(sql)) return;
  const s = quote(schema);
  await sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))', [SQL_SCHEMA_LOCK, schema]);
    if (await present(tx)) return;
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.${CURSORS_TABLE} (
      name text PRIMARY KEY,
      seq bigint NOT NULL CHECK (seq >= 0),
      hash text,
      updated_at timestamptz NOT NULL
    )`);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${s}.${NOTIFICATIONS_TABLE} (
      id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{12}$'),
      channel text NOT NULL,
      event_id text NOT NULL,
      seq bigint NOT NULL,
      action text NOT NULL,
      ref text,
      status text NOT NULL CHECK (status IN ('delivered', 'dead')),
      attempts integer NOT NULL CHECK (attempts >= 0),
      last_error text,
      body text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      UNIQUE (channel, event_id)
    )`);
  });
}

/** The store over `sql` in `schema` (the database stays the caller's). Nothing runs before the first call. */
export function createNotificationStore(options: { sql: SqlDatabase; schema?: string }): NotificationStore {
  const { sql } = options;
  if (!sql || typeof sql.query !== 'function' || typeof sql.transaction !== 'function') {
    throw errors.constraint('notification store option sql must have query() and transaction()');
  }
  const schema = options.schema ?? 'public';
  const cursors = `${quote(schema)}.${CURSORS_TABLE}`;
  const table = `${quote(schema)}.${NOTIFICATIONS_TABLE}`;
  const columns = 'id, channel, event_id, seq, action, ref, status, attempts, last_error, body, created_at, updated_at';
  const run = preparedSqlRunner(() => migrate(sql, schema), 'notification store');

  return {
    getCursor: (name) =>
      run(async () => {
        const { rows } = await sql.query<{ seq: string | number; hash: string | null }>(
          `SELECT seq, hash FROM ${cursors} WHERE name = $1`,
          [name],
        );
        const row = rows[0];
        return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
      }),
    saveCursor: (name, seq, hash) =>
      run(async () => {
        await sql.query(
          `INSERT INTO ${cursors} (name, seq, hash, updated_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, updated_at = now()
           WHERE ${cursors}.seq < EXCLUDED.seq`,
          [name, seq, hash],
        );
      }),
    find: (channel, eventId) =>
      run(async () => {
        const { rows } = await sql.query<Row>(`SELECT ${columns} FROM ${table} WHERE channel = $1 AND event_id = $2`, [
          channel,
          eventId,
        ]);
        return rows[0] ? recordOf(rows[0]) : undefined;
      }),
    record: (input) =>
      run(async () => {
        const id = randomBytes(6).toString('hex');
        const { rows } = await sql.query<Row>(
          `INSERT INTO ${table} (${columns})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), now())
           ON CONFLICT (channel, event_id) DO UPDATE SET status = EXCLUDED.status, attempts = EXCLUDED.attempts,
             last_error = EXCLUDED.last_error, updated_at = now()
           RETURNING ${columns}`,
          [
            id,
            input.channel,
            input.eventId,
            input.seq,
            input.action,
            input.ref ?? null,
            input.status,
            input.attempts,
            input.lastError ?? null,
            input.body,
          ],
        );
        return recordOf(rows[0] as Row);
      }),
    get: (id) =>
      run(async () => {
        const { rows } = await sql.query<Row>(`SELECT ${columns} FROM ${table} WHERE id = $1`, [id]);
        return rows[0] ? recordOf(rows[0]) : undefined;
      }),
    list: (o = {}) =>
      run(async () => {
        const where: string[] = [];
        const params: unknown[] = [];
        if (o.dead) where.push(`status = 'dead'`);
        if (o.channel !== undefined) {
          params.push(o.channel);
          where.push(`channel = $${params.length}`);
        }
        params.push(Math.min(Math.max(o.limit ?? 100, 1), 10_000));
        const { rows } = await sql.query<Row>(
          `SELECT ${columns} FROM ${table} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY updated_at DESC, seq DESC LIMIT $${params.length}`,
          params,
        );
        return rows.map(recordOf);
      }),
    countDead: () =>
      run(async () => {
        const { rows } = await sql.query<{ n: string | number }>(
          `SELECT count(*) AS n FROM ${table} WHERE status = 'dead'`,
        );
        return Number(rows[0]?.n ?? 0);
      }),
    markDelivered: (id, attempts) =>
      run(async () => {
        const { rows } = await sql.query<{ id: string }>(
          `UPDATE ${table} SET status = 'delivered', attempts = $2, last_error = NULL, updated_at = now()
           WHERE id = $1 AND status = 'dead' RETURNING id`,
          [id, attempts],
        );
        return rows.length === 1;
      }),
    markFailed: (id, attempts, lastError) =>
      run(async () => {
        await sql.query(`UPDATE ${table} SET attempts = $2, last_error = $3, updated_at = now() WHERE id = $1`, [
          id,
          attempts,
          lastError,
        ]);
      }),
  };
}
