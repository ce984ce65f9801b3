/**
 * The SQL seam's contract suite (core's `SqlDatabase` and `SqlClient`). Every client runs it with
 * one call:
 *
 *   runSqlClientContract('pg', { create: () => createPgClient({ ... }) });
 *
 * `create` must return a client on a database where the suite may create (and drops) a schema of its
 * own. LISTEN and `close()` are checked when the client has them (`SqlClient`); a `SqlDatabase` only
 * (e.g. `sqlFromPgPool`) answers statements and transactions.
 */
import type { SqlClient, SqlDatabase } from '@summit-config/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { freshSchema, q } from '../sql.js';

export interface SqlClientContractOptions {
  create: () => Promise<SqlDatabase> | SqlDatabase;
  /** Releases what `create` opened (for a `SqlDatabase` without `close()`). */
  release?: (db: SqlDatabase) => Promise<void>;
}

function isClient(db: SqlDatabase): db is SqlClient {
  return typeof (db as Partial<SqlClient>).listen === 'function';
}

export function runSqlClientContract(name: string, options: SqlClientContractOptions): void {
  describe(`SQL seam contract: ${name}`, () => {
    const open: Array<{ db: SqlDatabase; schema: string }> = [];
    /** A client and a table `t (id int primary key, v text)` in a schema of its own. */
    async function fresh(): Promise<{ db: SqlDatabase; t: string }> {
      const db = await options.create();
      const schema = freshSchema('sqlc');
      open.push({ db, schema });
      await db.query(`CREATE SCHEMA ${q(schema)}`);
      await db.query(`CREATE TABLE ${q(schema)}.t (id integer PRIMARY KEY, v text)`);
      return { db, t: `${q(schema)}.t` };
    }
    afterEach(async () => {
      for (const { db, schema } of open.splice(0)) {
        await db.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`).catch(() => {});
        if (isClient(db)) await db.close();
        else await options.release?.(db);
      }
    });

    it('runs statements with $n parameters: rows as objects, rowCount returned or affected', async () => {
      const { db, t } = await fresh();
      expect(await db.query('SELECT $1::int + 1 AS n, $2::text AS s', [1, "it's"])).toEqual({
        rows: [{ n: 2, s: "it's" }],
        rowCount: 1,
      });
      expect((await db.query(`INSERT INTO ${t} (id, v) VALUES (1, 'a'), (2, 'b')`)).rowCount).toBe(2);
      expect((await db.query(`UPDATE ${t} SET v = 'c' WHERE id >= $1`, [1])).rowCount).toBe(2);
      expect(await db.query(`SELECT id FROM ${t} WHERE id > $1`, [5])).toEqual({ rows: [], rowCount: 0 });
    });

    it('commits a transaction, and rolls one back when it throws (rethrowing that error)', async () => {
      const { db, t } = await fresh();
      expect(
        await db.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${t} (id, v) VALUES (1, 'kept')`);
          return (await tx.query<{ v: string }>(`SELECT v FROM ${t}`)).rows;
        }),
      ).toEqual([{ v: 'kept' }]);
      const boom = new Error('boom');
      const thrown = await db
        .transaction(async (tx) => {
          await tx.query(`INSERT INTO ${t} (id, v) VALUES (2, 'lost')`);
          throw boom;
        })
        .catch((e: unknown) => e);
      expect(thrown).toBe(boom);
      // A failed statement aborts the transaction as well, and the client stays usable.
      await expect(
        db.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${t} (id, v) VALUES (3, 'lost')`);
          await tx.query(`INSERT INTO ${t} (id, v) VALUES (1, 'duplicate')`);
        }),
      ).rejects.toMatchObject({ code: '23505' });
      expect((await db.query(`SELECT id, v FROM ${t} ORDER BY id`)).rows).toEqual([{ id: 1, v: 'kept' }]);
    });

    it('LISTENs on a channel until the listener closes (clients only)', async () => {
      const { db } = await fresh();
      if (!isClient(db)) return;
      expect(['postgres', 'pglite']).toContain(db.kind);
      const channel = `sqlc_${freshSchema('ch')}`.slice(0, 60);
      const payloads: string[] = [];
      const listener = await db.listen(channel, {
        onNotify: (payload) => payloads.push(payload),
        onLost: () => {},
      });
      await listener.check();
      await db.query('SELECT pg_notify($1, $2)', [channel, 'hello']);
      const deadline = Date.now() + 5_000;
      while (payloads.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(payloads).toEqual(['hello']);
      await listener.close();
      await listener.close();
      await db.query('SELECT pg_notify($1, $2)', [channel, 'unheard']);
      await new Promise((r) => setTimeout(r, 100));
      expect(payloads).toEqual(['hello']);
    });

    it('close is idempotent (clients only)', async () => {
      const db = await options.create();
      if (!isClient(db)) return options.release?.(db);
      await db.query('SELECT 1');
      await db.close();
      await db.close();
    });
  });
}
