/**
 * The server side of bench/server.ts, in its own process (forked with IPC) so that the client load
 * does not share its event loop: the change service over the failover chain (Consul mirror +
 * PostgreSQL record, PostgreSQL governance: `openBenchService`), API tokens in PostgreSQL
 * (`createSqlTokenStore` in the same schema, verified on every request by `createTokenAuthenticator`)
 * and `createConfigServer` listening on 127.0.0.1 with the rate limit off (the default 50/s per
 * principal would measure the limit, not the server).
 *
 * IPC: it sends `{ ready, port, token, prefix, refs }` once `refs` documents are written; it answers
 * `{ cmd: 'direct', concurrency, durationMs }` with `{ result }`, the `service.set` per second of
 * that many writers in this process (the same service and refs as the API writes),
 * `{ cmd: 'direct-get', ... }` likewise with `service.get` of the refs the API reads, and
 * `{ cmd: 'close' }` by closing everything (the prefix and schema are dropped) and `{ closed }`.
 */
import type { SqlDatabase, SqlQueryable, SqlResult } from '@summit-config/core/internal';
import { createConfigServer, createSqlTokenStore, createTokenAuthenticator } from '@summit-config/server';
import pg from 'pg';
import { throughput } from './throughput.js';
import { benchConfig } from './writes-consul.js';
import { openBenchService } from './writes-service.js';

const REFS = Number(process.argv[2] ?? 16);
const MAX_WRITERS = Number(process.argv[3] ?? 16);
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:15432/summit';

type Queryable = { query(text: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }> };
const result = <R>(r: { rows: unknown[]; rowCount: number | null }): SqlResult<R> => ({
  rows: r.rows as R[],
  rowCount: r.rowCount ?? r.rows.length,
});
const queryable = (q: Queryable): SqlQueryable => ({
  query: async <R>(text: string, params?: readonly unknown[]) => result<R>(await q.query(text, params as unknown[])),
});

/** Core's SQL seam over a `pg.Pool`, as the agent gives the server (`sqlFromPgPool`). */
function sqlOf(pool: pg.Pool): SqlDatabase {
  return {
    ...queryable(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(queryable(client));
        await client.query('COMMIT');
        client.release();
        return out;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release(true);
        throw error;
      }
    },
  };
}

const bench = await openBenchService(MAX_WRITERS);
const pool = new pg.Pool({ connectionString: databaseUrl, max: 32 });
const tokens = createSqlTokenStore({ sql: sqlOf(pool), schema: bench.schema });
const { token } = await tokens.create({ name: 'bench', owner: 'bench', roles: ['config-admin'] });
const app = createConfigServer({
  service: bench.service,
  authenticators: [createTokenAuthenticator(tokens)],
  rateLimit: false,
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;

const versions = new Array<number>(Math.max(REFS, MAX_WRITERS)).fill(0);
for (let w = 0; w < REFS; w++) {
  await bench.service.set(bench.actor, { ref: `app:bench-${w}/settings`, config: benchConfig(w, 0) });
}

const send = (message: unknown) => process.send?.(message);
process.on('message', async (m: { cmd?: string; concurrency?: number; durationMs?: number }) => {
  if (m.cmd === 'direct-get') {
    const ops = await throughput(m.concurrency as number, m.durationMs as number, (w) =>
      bench.service.get(bench.actor, `app:bench-${w % REFS}/settings`),
    );
    send({ result: ops });
  } else if (m.cmd === 'direct') {
    const ops = await throughput(m.concurrency as number, m.durationMs as number, async (w) => {
      const v = (versions[w] as number) + 1;
      await bench.service.set(bench.actor, { ref: `app:bench-${w}/settings`, config: benchConfig(w, v) });
      versions[w] = v;
    });
    send({ result: ops });
  } else if (m.cmd === 'close') {
    await app.close();
    await tokens.close();
    await pool.end();
    await bench.close();
    send({ closed: true });
    process.disconnect?.();
  }
});
send({ ready: true, port, token, prefix: bench.prefix, refs: REFS });
