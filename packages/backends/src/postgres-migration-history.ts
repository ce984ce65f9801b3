/**
 * The configuration-migration history (runs with checksums, per-ref progress) in PostgreSQL,
 * written against the SQL seam so it runs on `pg` and on PGlite. Tables `config_migrations` and
 * `config_migration_refs` come from schema migration 4.
 *
 * Runner exclusion (`acquire()`) is a strategy given by the entry point:
 * - `pg` (see `postgres.ts`): a session-level advisory lock (`pg_try_advisory_lock`, polled until
 *   the timeout) held on a dedicated connection for the whole run; the server releases it when the
 *   process dies, so a crashed runner never blocks the next one.
 * - PGlite (see `pglite.ts`): one process owns the database, and its single connection would make
 *   an advisory lock re-entrant for every runner, so an in-process lock per database and schema.
 * Behind the lock, `save()` is a compare-and-set on `(status, run)`: two runners can never both
 * claim one run even if the lock were lost.
 */
import { ConfigError, isConfigError } from '@summit-config/core';
import {
  type AcquireOptions,
  abortReason,
  checkMigrationRecord,
  checkRefRecord,
  createLocalLock,
  delay,
  errors,
  Lifecycle,
  type LocalLock,
  type RecordExpectation,
} from '@summit-config/core/internal';
import type {
  MigrationHistory,
  MigrationLock,
  MigrationRecord,
  MigrationRefRecord,
} from '@summit-config/core/migrations';
import { type MigrationResult, migrate } from './postgres-migrations.js';
import { mapSqlError, quoteIdent, type SqlClient } from './sql-client.js';

/** Acquires the runner lock of one history (schema). */
export type MigrationLockStrategy = (options: AcquireOptions) => Promise<MigrationLock>;

export interface SqlMigrationHistoryConfig {
  /** `postgres`, `pglite`, ... (used in errors). */
  name: string;
  client: SqlClient;
  schema: string;
  /** Close the client on `close()` (false when it is borrowed). */
  ownsClient: boolean;
  lock: MigrationLockStrategy;
  /** Released on `close()` (e.g. the lock strategy's connections). */
  onClose?: () => Promise<void>;
}

/** The migration history on SQL, plus its schema migrations. */
export interface SqlMigrationHistory extends MigrationHistory {
  readonly schema: string;
  /** Applies pending schema migrations now (otherwise the first call does). */
  migrate(): Promise<MigrationResult>;
}

interface DocumentRow {
  document: unknown;
}

function parseDocument(raw: unknown): unknown {
  return typeof raw === 'string' ? JSON.parse(raw) : raw;
}

export function createSqlMigrationHistory(config: SqlMigrationHistoryConfig): SqlMigrationHistory {
  const { client, name } = config;
  const lifecycle = new Lifecycle(`${name} migration history`);
  const s = quoteIdent(config.schema, 'schema');
  const runs = `${s}.config_migrations`;
  const refs = `${s}.config_migration_refs`;

  let ready: Promise<MigrationResult> | undefined;
  function ensureReady(): Promise<MigrationResult> {
    ready ??= migrate(client, config.schema).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  }

  async function op<T>(work: () => Promise<T>): Promise<T> {
    lifecycle.assertOpen();
    try {
      await ensureReady();
      return await work();
    } catch (error) {
      if (lifecycle.closed) throw errors.closed(`${name} migration history`);
      throw mapSqlError(error, name);
    }
  }

  function recordParams(r: MigrationRecord): unknown[] {
    return [
      r.name,
      r.version,
      r.checksum,
      r.kind,
      r.status,
      r.run,
      r.appliedBy,
      r.startedAt,
      r.finishedAt ?? null,
      JSON.stringify(r),
    ];
  }

  const history: SqlMigrationHistory = {
    name,
    schema: config.schema,

    migrate() {
      return op(() => ensureReady());
    },

    async acquire(options = {}) {
      lifecycle.assertOpen();
      await op(() => ensureReady());
      return config.lock(options);
    },

    list() {
      return op(async () => {
        const { rows } = await client.query<DocumentRow>(`SELECT document FROM ${runs} ORDER BY name`);
        return rows.map((r) => checkMigrationRecord(parseDocument(r.document)));
      });
    },

    get(migration) {
      return op(async () => {
        const { rows } = await client.query<DocumentRow>(`SELECT document FROM ${runs} WHERE name = $1`, [migration]);
        return rows[0] ? checkMigrationRecord(parseDocument(rows[0].document)) : undefined;
      });
    },

    save(record: MigrationRecord, expected: RecordExpectation) {
      return op(async () => {
        const r = checkMigrationRecord(record);
        const params = recordParams(r);
        let claimed: boolean;
        if (expected === undefined) {
          const { rows } = await client.query(
            `INSERT INTO ${runs} (name, version, checksum, kind, status, run, applied_by, started_at, finished_at,
                                  document, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9::timestamptz, $10::json, now())
             ON CONFLICT (name) DO NOTHING
             RETURNING name`,
            params,
          );
          claimed = rows.length === 1;
        } else {
          const { rows } = await client.query(
            `UPDATE ${runs} SET version = $2, checksum = $3, kind = $4, status = $5, run = $6, applied_by = $7,
                    started_at = $8::timestamptz, finished_at = $9::timestamptz, document = $10::json, updated_at = now()
             WHERE name = $1 AND status = $11 AND run = $12
             RETURNING name`,
            [...params, expected.status, expected.run],
          );
          claimed = rows.length === 1;
        }
        if (!claimed) {
          const current = await history.get(r.name);
          throw new ConfigError(
            'CONFLICTING_CHANGE',
            `migration ${r.name}: the history changed underneath (found ${current ? `${current.status} run ${current.run}` : 'nothing'}, expected ${expected ? `${expected.status} run ${expected.run}` : 'nothing'})`,
            { backend: name },
          );
        }
      });
    },

    listRefs(migration, run) {
      return op(async () => {
        const { rows } = await client.query<DocumentRow>(
          `SELECT document FROM ${refs} WHERE migration = $1 AND run = $2 ORDER BY config_id`,
          [migration, run],
        );
        return rows.map((row) => checkRefRecord(parseDocument(row.document)));
      });
    },

    saveRef(record: MigrationRefRecord) {
      return op(async () => {
        const r = checkRefRecord(record);
        const { rows } = await client.query(`SELECT 1 FROM ${runs} WHERE name = $1`, [r.migration]);
        if (rows.length === 0)
          throw errors.constraint(`migration ${r.migration} has no record; save it before its refs`);
        await client.query(
          `INSERT INTO ${refs} (migration, run, config_id, state, before_version, after_version, request_id, document,
                                recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9::timestamptz)
           ON CONFLICT (migration, run, config_id) DO UPDATE SET state = EXCLUDED.state,
             before_version = EXCLUDED.before_version, after_version = EXCLUDED.after_version,
             request_id = EXCLUDED.request_id, document = EXCLUDED.document, recorded_at = EXCLUDED.recorded_at`,
          [
            r.migration,
            r.run,
            r.ref,
            r.state,
            r.beforeVersion,
            r.afterVersion ?? null,
            r.requestId ?? null,
            JSON.stringify(r),
            r.recordedAt,
          ],
        );
      });
    },

    close() {
      return lifecycle.close(async () => {
        await config.onClose?.().catch(() => undefined);
        if (config.ownsClient) await client.close();
      });
    },

    [Symbol.asyncDispose]() {
      return history.close();
    },
  };
  return history;
}

// -- lock strategies

/** First key of the two-key advisory lock ('SUMG'); the second is a hash of the schema name. */
export const MIGRATION_LOCK_CLASS = 0x53554d47;

/** A connection dedicated to holding a session-level lock. */
export interface LockSession {
  query(text: string, params?: readonly unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  /** Closes the connection (releasing its session locks). Never rejects. */
  end(): Promise<void>;
  /** True once the connection was lost. */
  readonly lost: boolean;
}

/**
 * The `pg` strategy: opens a dedicated session per acquisition and polls `pg_try_advisory_lock`
 * (backing off up to 500 ms) until it holds the lock, the timeout passes (`TIMEOUT`), or the signal
 * aborts. Release unlocks and closes the session.
 */
export function advisoryLockStrategy(
  openSession: () => Promise<LockSession>,
  schema: string,
  backend: string,
): MigrationLockStrategy {
  return async (options) => {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    if (options.signal?.aborted) throw abortReason(options.signal);
    let session: LockSession;
    try {
      session = await openSession();
    } catch (error) {
      throw mapSqlError(error, backend);
    }
    try {
      for (let attempt = 0; ; attempt++) {
        const { rows } = await session.query('SELECT pg_try_advisory_lock($1::int4, hashtext($2::text)) AS locked', [
          MIGRATION_LOCK_CLASS,
          schema,
        ]);
        if (rows[0]?.locked === true) break;
        if (Date.now() >= deadline) {
          throw new ConfigError(
            'TIMEOUT',
            `migration lock of schema ${schema}: still held by another runner after ${timeoutMs} ms`,
            { backend },
          );
        }
        await delay(Math.min(500, 25 * 2 ** Math.min(attempt, 5), Math.max(1, deadline - Date.now())), options.signal);
      }
    } catch (error) {
      await session.end();
      throw isConfigError(error) ? error : mapSqlError(error, backend);
    }
    let released = false;
    return {
      async check() {
        if (released) throw errors.constraint('the migration lock was released');
        if (session.lost) throw errors.unavailable(backend, new Error('the migration lock connection was lost'));
        try {
          await session.query('SELECT 1');
        } catch (error) {
          throw errors.unavailable(backend, error);
        }
      },
      async release() {
        if (released) return;
        released = true;
        await session
          .query('SELECT pg_advisory_unlock($1::int4, hashtext($2::text))', [MIGRATION_LOCK_CLASS, schema])
          .catch(() => undefined);
        await session.end();
      },
    };
  };
}

const localLocks = new WeakMap<object, Map<string, LocalLock>>();
const namedLocks = new Map<string, LocalLock>();

/**
 * The in-process strategy: one lock per `(owner, schema)`, shared by every history created with
 * the same owner (a PGlite instance, or a data directory's resolved path) in this process.
 */
export function localLockStrategy(owner: object | string, schema: string): MigrationLockStrategy {
  let lock: LocalLock | undefined;
  if (typeof owner === 'string') {
    const key = `${owner}\u0000${schema}`;
    lock = namedLocks.get(key);
    if (!lock) {
      lock = createLocalLock(`migration lock of schema ${schema}`);
      namedLocks.set(key, lock);
    }
  } else {
    let bySchema = localLocks.get(owner);
    if (!bySchema) {
      bySchema = new Map();
      localLocks.set(owner, bySchema);
    }
    lock = bySchema.get(schema);
    if (!lock) {
      lock = createLocalLock(`migration lock of schema ${schema}`);
      bySchema.set(schema, lock);
    }
  }
  const chosen = lock;
  return (options) => chosen.acquire(options);
}
