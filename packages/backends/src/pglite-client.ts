/**
 * The SQL seam on embedded PGlite: one in-process PostgreSQL with a single connection. Transactions
 * are serialised by PGlite's own `transaction()` (plain queries wait for a running transaction),
 * and LISTEN/NOTIFY works inside the instance; the connection can never be "lost".
 */
import { mkdir } from 'node:fs/promises';
import { PGlite, type Results } from '@electric-sql/pglite';
import { quoteIdent, type SqlClient, type SqlListener, type SqlQueryable, type SqlResult } from './sql-client.js';

export interface PgliteClientOptions {
  /** Directory of the database files; `undefined` keeps the database in memory. */
  dataDir?: string;
  /**
   * An already created PGlite instance to use instead of opening one. It is borrowed: closing the
   * client does not close it.
   */
  pglite?: PGlite;
}

function toResult<R>(result: Results<R>): SqlResult<R> {
  return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
}

export function createPgliteClient(options: PgliteClientOptions = {}): SqlClient {
  const borrowed = options.pglite;
  let opening: Promise<PGlite> | undefined;
  let closing: Promise<void> | undefined;

  /** Opens the database on first use; a failed open is retried by the next call. */
  function db(): Promise<PGlite> {
    if (borrowed) return Promise.resolve(borrowed);
    const dataDir = options.dataDir;
    // PGlite creates the data directory itself but not its parents.
    opening ??= (dataDir === undefined ? Promise.resolve() : mkdir(dataDir, { recursive: true }).then(() => {}))
      .then(() => PGlite.create(dataDir))
      .catch((error: unknown) => {
        opening = undefined;
        throw error;
      });
    return opening;
  }

  return {
    kind: 'pglite',

    async query(text, params) {
      const pg = await db();
      return toResult(await pg.query(text, params as unknown[] | undefined));
    },

    async transaction(fn) {
      const pg = await db();
      return pg.transaction(async (tx) => {
        const scoped: SqlQueryable = {
          query: async (text, params) => toResult(await tx.query(text, params as unknown[] | undefined)),
        };
        return fn(scoped);
      });
    },

    async listen(channel, callbacks) {
      const pg = await db();
      let closed = false;
      const unlisten = await pg.listen(quoteIdent(channel, 'channel'), (payload) => {
        if (!closed) callbacks.onNotify(payload);
      });
      const listener: SqlListener = {
        async check() {
          await pg.query('SELECT 1');
        },
        async close() {
          if (closed) return;
          closed = true;
          if (!pg.closed) await unlisten().catch(() => {});
        },
      };
      return listener;
    },

    close() {
      closing ??= (async () => {
        if (borrowed || !opening) return;
        const pg = await opening.catch(() => undefined);
        if (pg && !pg.closed) await pg.close();
      })();
      return closing;
    },
  };
}
