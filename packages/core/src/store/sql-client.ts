/**
 * The one SQL seam: what every SQL-backed storage is written against, so that the same code runs
 * on `pg` (a pool plus a dedicated LISTEN connection) and on embedded PGlite (one in-process
 * connection). Core loads no driver; the clients live in `@summit-config/backends` (`pg-client.ts`,
 * `pglite-client.ts`), and `@summit-config/secrets`' `sqlFromPgPool` builds a {@link SqlDatabase}
 * from a `pg.Pool`.
 *
 * - {@link SqlDatabase}: statements and transactions. What a package keeping its own tables beside
 *   the stores needs (the secrets' storage and rotation policies).
 * - {@link SqlClient}: that, plus LISTEN/NOTIFY and the connections' life: what the PostgreSQL
 *   store, governance storage and migration history run on.
 */
import { errors, isConfigError } from '../errors/config-error.js';

/** Rows of one statement, as objects keyed by column name. */
export interface SqlResult<R> {
  rows: R[];
  /** Rows returned or affected by the statement. */
  rowCount: number;
}

/** How a statement is run. */
export interface SqlStatementOptions {
  /**
   * The statement runs often with the same text: a driver that can (`pg`) prepares it once per
   * connection and reuses the plan, under a name derived from the text. Ignored by the others.
   */
  prepare?: boolean;
  /**
   * Inside a transaction: the transaction's last statement. A driver may send COMMIT right behind
   * it, without waiting for its result (so locks it takes are held for no client round trip); the
   * statement then resolves once the commit did, and rejects if either failed. Nothing may run
   * through the transaction after it. Ignored outside a transaction and by other drivers.
   */
  last?: boolean;
}

/** Runs one statement with `$1`-style parameters (never string interpolation of values). */
export interface SqlQueryable {
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: SqlStatementOptions,
  ): Promise<SqlResult<R>>;
}

/** Statements, and transactions on one connection. */
export interface SqlDatabase extends SqlQueryable {
  /**
   * Runs `fn` inside BEGIN ... COMMIT on one connection (ROLLBACK when it throws, and the error is
   * rethrown). `fn` must issue every statement through `tx`, never through the database itself.
   */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
}

/** What `listen` reports. Both callbacks must not throw. */
export interface ListenCallbacks {
  /** A notification on the channel, with its payload (`''` when none). */
  onNotify(payload: string): void;
  /**
   * The listening connection was lost after `listen` resolved. Called at most once, and never after
   * `close()`. Notifications sent while no connection listens are lost: the caller re-listens and
   * resyncs.
   */
  onLost(error: Error): void;
}

/** An active LISTEN. */
export interface SqlListener {
  /** A round trip on the listening connection; rejects when that connection is dead or hangs. */
  check(): Promise<void>;
  /** UNLISTENs and releases the connection. Idempotent; never rejects. */
  close(): Promise<void>;
}

/** A connection pool's state at one instant (counts of connections; the LISTEN connection is not pooled). */
export interface SqlPoolStats {
  /** Connections open (idle plus checked out). */
  readonly total: number;
  /** Open connections nobody has checked out. */
  readonly idle: number;
  /** Callers waiting for a connection (the pool is at `max`). */
  readonly waiting: number;
  /** The most connections the pool opens. */
  readonly max: number;
}

export interface SqlClient extends SqlDatabase {
  /** `postgres` for a server reached through `pg`, `pglite` for the embedded database. */
  readonly kind: 'postgres' | 'pglite';
  /** LISTENs on `channel` (an exact, case-sensitive name) on a connection dedicated to it. */
  listen(channel: string, callbacks: ListenCallbacks): Promise<SqlListener>;
  /** The pool's counts now (a client with a connection pool only; PGlite has none). Never throws. */
  poolStats?(): SqlPoolStats;
  /** Releases every connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * The schema's DDL lock: the first key ('SUMM') of the two-key, transaction-level advisory lock
 * (`pg_advisory_xact_lock(SQL_SCHEMA_LOCK, hashtext(schema))`) that every package holds while it
 * creates or migrates its tables in a schema, so that packages migrating the same schema (the
 * stores' migrations, the secrets' tables) never race each other's DDL.
 */
export const SQL_SCHEMA_LOCK = 0x53554d4d;

/**
 * The calls of a SQL-backed store, each run once `prepare` (creating or checking its tables) has
 * succeeded: one attempt shared by concurrent calls, a failed one retried by the next call. A
 * `ConfigError` passes through; any other failure (the driver's) becomes `BACKEND_UNAVAILABLE`
 * naming `what`.
 */
export function preparedSqlRunner(prepare: () => Promise<void>, what: string): <T>(fn: () => Promise<T>) => Promise<T> {
  let ready: Promise<void> | undefined;
  return async (fn) => {
    try {
      ready ??= prepare().catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
      await ready;
      return await fn();
    } catch (error) {
      if (isConfigError(error)) throw error;
      throw errors.unavailable(what, error);
    }
  };
}
