/**
 * The SQL seam on `pg`: a Pool for queries and transactions, and one dedicated `pg.Client` per
 * LISTEN. Every connection has an `error` listener, so a connection the server drops (restart,
 * `pg_terminate_backend`, network loss) is discarded and never crashes the process.
 */
import { createHash } from 'node:crypto';
import { errors } from '@summit-config/core/internal';
import pg from 'pg';
import {
  isConnectionError,
  type ListenCallbacks,
  quoteIdent,
  type SqlClient,
  type SqlListener,
  type SqlQueryable,
  type SqlResult,
  type SqlStatementOptions,
  type StoreLogger,
} from './sql-client.js';

export interface PgClientOptions {
  /** Connection settings (connectionString, host, port, user, ssl, max, ...). */
  config: pg.PoolConfig;
  /** Milliseconds to wait for a connection (new, or a free one from the pool). */
  connectTimeoutMs: number;
  /** Server-side `statement_timeout` in milliseconds; the client gives up on a silent server a little later. */
  statementTimeoutMs: number;
  /** `application_name` of the pool's connections; the LISTEN connection adds `:listen`. */
  applicationName: string;
  logger?: StoreLogger;
}

type PgQueryTarget = Pick<pg.PoolClient, 'query'> | Pick<pg.Pool, 'query'>;

/** Names of prepared statements, by text (`pg` prepares a named statement once per connection). */
const statementNames = new Map<string, string>();
/** Beyond this many distinct prepared texts, statements run unnamed (bounds every connection's plans). */
const MAX_PREPARED = 256;

/** The name a prepared statement of `text` has on every connection: a digest of the text. */
function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined) {
    if (statementNames.size >= MAX_PREPARED) return undefined;
    name = `summit_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

async function run<R>(
  target: PgQueryTarget,
  text: string,
  params?: readonly unknown[],
  options?: SqlStatementOptions,
): Promise<SqlResult<R>> {
  const name = options?.prepare === true ? statementName(text) : undefined;
  const values = params as unknown[] | undefined;
  const result = name === undefined ? await target.query(text, values) : await target.query({ name, text, values });
  return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
}

/** SQLSTATE 57P01 (admin_shutdown) / 57P02 (crash_shutdown): the backend was gone before the statement ran. */
function terminatedBeforeRunning(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '57P01' || code === '57P02';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Ends a client politely, then destroys its socket if the server does not answer in time. */
async function endWithin(client: pg.Client, ms: number): Promise<void> {
  const ended = client.end().then(
    () => true,
    () => true,
  );
  if (await Promise.race([ended, sleep(ms).then(() => false)])) return;
  // pg has no public destroy(); its connection's socket is the only handle left.
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

export function createPgClient(options: PgClientOptions): SqlClient {
  const { logger } = options;
  const base: pg.ClientConfig = {
    ...options.config,
    application_name: options.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    // A crashed writer must not hold a head row lock for long.
    idle_in_transaction_session_timeout: options.statementTimeoutMs,
    // The server enforces statement_timeout; this catches a server that stopped answering at all.
    query_timeout: options.statementTimeoutMs + options.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  const pool = new pg.Pool({ max: 10, idleTimeoutMillis: 30_000, ...options.config, ...base });
  // An idle pooled connection that the server drops emits here.
  pool.on('error', (error) => logger?.warn?.({ err: error }, 'postgres: idle pooled connection lost'));
  // pg-pool removes its own listener while a connection is checked out; without this one a
  // connection dropped between two statements of a transaction would be an uncaught 'error'.
  pool.on('connect', (client) => {
    client.on('error', (error) => logger?.debug?.({ err: error }, 'postgres: pooled connection error'));
  });
  let ended: Promise<void> | undefined;
  const listeners = new Set<SqlListener>();

  const max = pool.options.max ?? 10;
  return {
    kind: 'postgres',

    poolStats() {
      return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max };
    },

    async query(text, params, statement) {
      try {
        return await run(pool, text, params, statement);
      } catch (error) {
        // A pooled connection the server terminated while idle (pg_terminate_backend, a restart) can
        // be handed out before the pool notices. A terminated backend rolls back what it was running,
        // so one retry on a fresh connection repeats nothing; every write here is a compare-and-set,
        // which would refuse (never duplicate) a statement that did commit.
        if (!terminatedBeforeRunning(error)) throw error;
        return run(pool, text, params, statement);
      }
    },

    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      // Set once COMMIT was sent behind a `last` statement: the transaction is over, either way.
      let ended = false;
      try {
        await client.query('BEGIN');
        const tx: SqlQueryable = {
          async query(text, params, statement) {
            if (ended) throw errors.constraint("a statement ran after the transaction's last one");
            if (statement?.last !== true) return run(client, text, params, statement);
            ended = true;
            // pg sends queued queries as soon as the previous one completes: COMMIT follows the
            // statement at once, without a round trip through this process. If the statement
            // fails, the server turns the COMMIT of the aborted transaction into a ROLLBACK.
            const result = run<never>(client, text, params, statement);
            const commit = client.query('COMMIT');
            const [ran, committed] = await Promise.allSettled([result, commit]);
            if (ran.status === 'rejected') throw ran.reason;
            if (committed.status === 'rejected') throw committed.reason;
            return ran.value;
          },
        };
        const result = await fn(tx);
        if (!ended) await client.query('COMMIT');
        return result;
      } catch (error) {
        if (isConnectionError(error)) {
          broken = error instanceof Error ? error : new Error(String(error));
        } else if (!ended) {
          await client.query('ROLLBACK').catch((rollbackError: unknown) => {
            broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
          });
        }
        throw error;
      } finally {
        // Releasing with an error destroys the connection instead of pooling it.
        client.release(broken);
      }
    },

    async listen(channel, callbacks: ListenCallbacks) {
      const client = new pg.Client({ ...base, application_name: `${options.applicationName}:listen` });
      let closed = false;
      let lost = false;
      const reportLost = (error: Error) => {
        if (closed || lost) return;
        lost = true;
        callbacks.onLost(error);
      };
      client.on('error', (error) => reportLost(error));
      client.on('end', () => reportLost(new Error('the LISTEN connection ended')));
      client.on('notification', (message) => {
        if (!closed && message.channel === channel) callbacks.onNotify(message.payload ?? '');
      });
      const close = async () => {
        if (closed) return;
        closed = true;
        listeners.delete(listener);
        await endWithin(client, options.connectTimeoutMs);
      };
      const listener: SqlListener = {
        async check() {
          await client.query('SELECT 1');
        },
        close,
      };
      try {
        await client.connect();
        await client.query(`LISTEN ${quoteIdent(channel, 'channel')}`);
      } catch (error) {
        await close();
        throw error;
      }
      listeners.add(listener);
      return listener;
    },

    close() {
      ended ??= (async () => {
        await Promise.all([...listeners].map((l) => l.close()));
        const end = pool.end().catch((error: unknown) => logger?.warn?.({ err: error }, 'postgres: pool end failed'));
        // A frozen server never completes the goodbye; close() must not hang on it.
        await Promise.race([end, sleep(options.connectTimeoutMs)]);
      })();
      return ended;
    },
  };
}
