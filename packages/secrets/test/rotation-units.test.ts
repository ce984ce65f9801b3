/**
 * Rotation building blocks: the password generator, the database-user handler, the cron
 * evaluator, what the SQL policy storage keeps for SQL users and its own migration (the contract
 * every policy storage keeps is test/contract/rotation-policies.test.ts), and the
 * webhook sender.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createPgliteClient, createPgliteStore } from '@summit-config/backends/pglite';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { isConfigError } from '@summit-config/core';
import {
  createLocalProvider,
  createSqlRotationPolicies,
  DEFAULT_SYMBOLS,
  databaseUserHandler,
  generatePassword,
  type HandlerContext,
  nextCronTime,
  parseCron,
  postWebhooks,
  type RotationPolicyStore,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { masterKey } from '@summit-config/test-support/builders';
import { rotationPolicy } from '@summit-config/test-support/contract/rotation-policies-contract';
import { repoRoot } from '@summit-config/test-support/services';
import type { TestPool } from '@summit-config/test-support/sql';
import { adminPool, freshSchema, type Pglite, pglite, q, schemasToDrop } from '@summit-config/test-support/sql';
import { beforeAll, describe, expect, it } from 'vitest';

const LOWER = /[a-z]/;
const UPPER = /[A-Z]/;
const DIGIT = /[0-9]/;

describe('password generator', () => {
  it('draws length characters from the enabled classes, each class at least once', () => {
    const symbol = new RegExp(`[${DEFAULT_SYMBOLS.replace(/[\]\\^-]/g, '\\$&')}]`);
    for (let i = 0; i < 300; i++) {
      // Length 8 with four classes: a class would often be missing without the guarantee.
      const p = generatePassword({ length: 8 });
      expect(p).toHaveLength(8);
      expect(p).toMatch(LOWER);
      expect(p).toMatch(UPPER);
      expect(p).toMatch(DIGIT);
      expect(p).toMatch(symbol);
    }
    expect(generatePassword()).toHaveLength(32);
    expect(generatePassword({ length: 4096 })).toHaveLength(4096);
  });

  it('uses only the classes asked for, and a custom symbol set', () => {
    for (let i = 0; i < 100; i++) {
      expect(generatePassword({ length: 12, upper: false, symbols: false })).toMatch(/^[a-z0-9]{12}$/);
      expect(generatePassword({ length: 9, lower: false, upper: false, digits: false, symbols: '-_' })).toMatch(
        /^[-_]{9}$/,
      );
      const p = generatePassword({ length: 10, symbols: '#' });
      expect(p).toMatch(/^[A-Za-z0-9#]{10}$/);
      expect(p).toContain('#');
    }
  });

  it('does not repeat itself and spreads over the alphabet', () => {
    const seen = new Set(Array.from({ length: 200 }, () => generatePassword({ length: 16 })));
    expect(seen.size).toBe(200);
    const chars = new Set(Array.from({ length: 50 }, () => generatePassword({ length: 64, symbols: false })).join(''));
    expect(chars.size).toBe(62);
  });

  it('refuses bad specs with CONSTRAINT_VIOLATION naming the field', () => {
    const bad: Array<[object, RegExp]> = [
      [{ length: 7 }, /length/],
      [{ length: 4097 }, /length/],
      [{ length: 10.5 }, /length/],
      [{ lower: 'yes' }, /lower/],
      [{ symbols: 'aa' }, /symbols/],
      [{ symbols: '##' }, /symbols/],
      [{ symbols: ' ' }, /symbols/],
      [{ symbols: 3 }, /symbols/],
      [{ lower: false, upper: false, digits: false, symbols: false }, /no character class/],
    ];
    for (const [spec, message] of bad) {
      let error: unknown;
      try {
        generatePassword(spec as never);
      } catch (e) {
        error = e;
      }
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe('database user handler', () => {
  async function context(current: string | undefined, versions: Record<string, string> = {}): Promise<HandlerContext> {
    const provider = createLocalProvider({ key: masterKey().base64 });
    return {
      secret: { provider: 'local', name: 'db' },
      runId: 'run-1',
      options: {},
      provider,
      signal: new AbortController().signal,
      current: async () => current,
      read: async (version) => versions[version] as string,
    };
  }

  it('alternates two logins, sets and tests the password, disables the previous login', async () => {
    const calls: string[] = [];
    const handler = databaseUserHandler({
      users: ['app_a', 'app_b'],
      password: { length: 20, symbols: false },
      setPassword: async (user, password) => {
        calls.push(`set ${user} ${password.length}`);
      },
      testLogin: async (user) => {
        calls.push(`login ${user}`);
      },
      disableUser: async (user) => {
        calls.push(`disable ${user}`);
      },
    });
    const first = JSON.parse(await handler.generate(await context(undefined)));
    expect(first.username).toBe('app_a');
    expect(first.password).toMatch(/^[A-Za-z0-9]{20}$/);
    const currentA = JSON.stringify({ username: 'app_a', password: 'x' });
    const next = await handler.generate(await context(currentA));
    expect(JSON.parse(next).username).toBe('app_b');
    const ctx = await context(next, { '1': currentA });
    await handler.activate?.({ ...ctx, value: next, version: '2' });
    await handler.verify?.({ ...ctx, value: next, version: '2' });
    await handler.retire?.({ ...ctx, previousVersion: '1' });
    expect(calls).toEqual(['set app_b 20', 'login app_b', 'disable app_a']);
  });

  it('with one login there is nothing to disable; bad options are refused', async () => {
    const calls: string[] = [];
    const handler = databaseUserHandler({
      users: 'app',
      setPassword: async (user) => {
        calls.push(`set ${user}`);
      },
      disableUser: async (user) => {
        calls.push(`disable ${user}`);
      },
    });
    const value = await handler.generate(await context(JSON.stringify({ username: 'app', password: 'old' })));
    expect(JSON.parse(value).username).toBe('app');
    const ctx = await context(value, { '1': JSON.stringify({ username: 'app', password: 'old' }) });
    await handler.retire?.({ ...ctx, previousVersion: '1' });
    expect(calls).toEqual([]);
    expect(() => databaseUserHandler({ users: ['a', 'a'], setPassword: async () => {} })).toThrow(/users/);
    expect(() => databaseUserHandler({ users: 'a' } as never)).toThrow(/setPassword/);
    await expect(handler.activate?.({ ...ctx, value: 'not json', version: '2' })).rejects.toThrow(
      /not JSON \{"username", "password"\}/,
    );
  });
});

describe('cron', () => {
  const at = (iso: string) => new Date(iso);
  it.each([
    ['0 3 * * *', '2030-01-01T02:59:00Z', '2030-01-01T03:00:00.000Z'],
    ['0 3 * * *', '2030-01-01T03:00:00Z', '2030-01-02T03:00:00.000Z'],
    ['*/15 * * * *', '2030-01-01T10:07:30Z', '2030-01-01T10:15:00.000Z'],
    ['30 2 1 * *', '2030-01-15T00:00:00Z', '2030-02-01T02:30:00.000Z'],
    ['0 0 * * sun', '2030-01-01T00:00:00Z', '2030-01-06T00:00:00.000Z'],
    ['0 0 * * 7', '2030-01-01T00:00:00Z', '2030-01-06T00:00:00.000Z'],
    ['0 12 29 feb *', '2030-01-01T00:00:00Z', '2032-02-29T12:00:00.000Z'],
    ['0 0 1-7 * mon', '2030-01-08T00:00:00Z', '2030-01-14T00:00:00.000Z'],
    ['5,10 9-10/1 * jan-mar *', '2030-03-31T10:10:00Z', '2031-01-01T09:05:00.000Z'],
  ])('%s after %s is %s', (expr, after, expected) => {
    expect(nextCronTime(expr, at(after))?.toISOString()).toBe(expected);
  });

  it('refuses malformed expressions naming the field', () => {
    for (const [expr, message] of [
      ['* * * *', /5 fields/],
      ['60 * * * *', /minute field/],
      ['* 24 * * *', /hour field/],
      ['* * 0 * *', /day-of-month field/],
      ['* * * 13 *', /month field/],
      ['* * * * 8', /day-of-week field/],
      ['*/0 * * * *', /step/],
      ['5-1 * * * *', /backwards/],
      ['a * * * *', /not a number/],
      ['0 0 31 4 *', /never matches/],
    ] as const) {
      expect(() => parseCron(expr)).toThrow(message);
    }
  });
});

// The stored-shape policy the rotation policy storage contract suite uses.
const samplePolicy = rotationPolicy;

const schemas = schemasToDrop();
const pool = adminPool();
let lite: Pglite;
beforeAll(async () => {
  lite = await pglite();
});

interface Storage {
  store: RotationPolicyStore;
  /** Raw SQL on the storage's schema (`$S` stands for the quoted schema). */
  query: (text: string) => Promise<Record<string, unknown>[]>;
}

async function storeOf(kind: 'postgres' | 'pglite'): Promise<Storage> {
  const schema = freshSchema('rpol');
  const S = q(schema);
  if (kind === 'postgres') {
    schemas.push(schema);
    const migrator = createPostgresStore({ connectionString: process.env.DATABASE_URL as string, schema });
    await migrator.migrate();
    await migrator.close();
    return {
      store: createSqlRotationPolicies({ sql: sqlFromPgPool(pool), schema }),
      query: async (text) => (await pool.query(text.replaceAll('$S', S))).rows as Record<string, unknown>[],
    };
  }
  return {
    store: createSqlRotationPolicies({
      sql: createPgliteClient({ pglite: lite }),
      schema,
      kind: 'pglite',
      migrator: createPgliteStore({ pglite: lite, schema }),
    }),
    query: async (text) => (await lite.query<Record<string, unknown>>(text.replaceAll('$S', S))).rows,
  };
}

// The behaviour every policy storage shares (memory, PostgreSQL, PGlite) is the contract suite's:
// test/contract/rotation-policies.test.ts. Here: what the SQL table keeps for SQL users.
describe.each(['postgres', 'pglite'] as const)('rotation policy storage in SQL: %s', (kind) => {
  it("keeps the seed's columns filled for SQL users", async () => {
    const { store, query } = await storeOf(kind);
    await store.save(samplePolicy('prod/db'), 0);
    await store.save(
      samplePolicy('other', { generator: { type: 'handler', name: 'db-user' }, notify: [], graceMs: 0 }),
      0,
    );
    const rows = await query(
      `SELECT secret_id, provider, secret_name, rotation_interval_days, rotation_lambda, notify_on_rotation,
                grace_period_days, grace_ms::text AS grace_ms, state, revision
         FROM $S.secret_rotation_policies ORDER BY secret_id`,
    );
    expect(rows).toEqual([
      {
        secret_id: 'aws/other',
        provider: 'aws',
        secret_name: 'other',
        rotation_interval_days: 30,
        rotation_lambda: 'db-user',
        notify_on_rotation: [],
        grace_period_days: 0,
        grace_ms: '0',
        state: 'idle',
        revision: 1,
      },
      {
        secret_id: 'aws/prod/db',
        provider: 'aws',
        secret_name: 'prod/db',
        rotation_interval_days: 30,
        rotation_lambda: null,
        notify_on_rotation: ['http://127.0.0.1:1/hook'],
        grace_period_days: 1,
        grace_ms: '90000000',
        state: 'idle',
        revision: 1,
      },
    ]);
    // The table refuses a state the state machine does not know.
    await expect(query(`UPDATE $S.secret_rotation_policies SET state = 'paused'`)).rejects.toThrow(/state_check/);
    await store.close();
  });
});

describe('rotation policy storage: schema checks', () => {
  it('a bare schema gets the table from the package migration; a dead database BACKEND_UNAVAILABLE', async () => {
    const schema = freshSchema('rbare');
    schemas.push(schema);
    const bare = createSqlRotationPolicies({ sql: sqlFromPgPool(pool), schema });
    // No store ever migrated this schema: the policy storage creates its own table.
    expect(await bare.list()).toEqual([]);
    const { rows } = await pool.query('SELECT to_regclass($1) IS NOT NULL AS found', [
      `${q(schema)}.secret_rotation_policies`,
    ]);
    expect(rows).toEqual([{ found: true }]);
    await bare.close();
    // The driver from the test package (this package loads none).
    const { Pool } = createRequire(join(repoRoot, 'test', 'package.json'))('pg') as {
      Pool: new (config: object) => TestPool;
    };
    const deadPool = new Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMillis: 2_000,
    });
    deadPool.on('error', () => {});
    const dead = createSqlRotationPolicies({ sql: sqlFromPgPool(deadPool), schema });
    expect(isConfigError(await dead.list().catch((x) => x), 'BACKEND_UNAVAILABLE')).toBe(true);
    await deadPool.end();
    expect(() => createSqlRotationPolicies({ sql: {} as never })).toThrow(/option sql/);
    expect(() => createSqlRotationPolicies({ sql: sqlFromPgPool(pool), kind: 'mysql' as never })).toThrow(
      /option kind/,
    );
  });
});

describe('webhooks', () => {
  it('posts JSON to every URL; non-2xx, refused and hanging ones are results, never rejections', async () => {
    const bodies: Array<{ path: string; type: string; body: string }> = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      bodies.push({
        path: req.url as string,
        type: req.headers['content-type'] as string,
        body: Buffer.concat(chunks).toString(),
      });
      if (req.url === '/hang') return;
      res.writeHead(req.url === '/500' ? 500 : 200).end('ignored');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const payload = {
      event: 'secret.rotation.completed' as const,
      secret: { provider: 'aws', name: 'db' },
      runId: 'r',
      version: '2',
      at: new Date().toISOString(),
    };
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
    await new Promise((r) => closed.close(r));
    const results = await postWebhooks([`${base}/ok`, `${base}/500`, `${base}/hang`, refused], payload, {
      timeoutMs: 200,
    });
    server.closeAllConnections();
    server.close();
    expect(results).toEqual([
      { url: `${base}/ok`, ok: true, status: 200 },
      { url: `${base}/500`, ok: false, status: 500, error: 'HTTP 500' },
      { url: `${base}/hang`, ok: false, error: 'no answer within 200 ms' },
      { url: refused, ok: false, error: 'ECONNREFUSED' },
    ]);
    expect(bodies.find((b) => b.path === '/ok')).toEqual({
      path: '/ok',
      type: 'application/json',
      body: JSON.stringify(payload),
    });
  });
});
