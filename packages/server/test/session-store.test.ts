/**
 * The console's session stores: one contract (put, get, expiry, delete) run on the memory store,
 * on PGlite and on the real PostgreSQL; then what SQL is for: two replicas of the server, each with
 * its own pool on the same database (tokens and sessions both there), share a session: signed in
 * on one, used on the other, signed out on the other and refused on the first. The rows hold
 * neither the session id nor the token.
 */
import { createPgliteClient } from '@summit-config/backends/pglite';
import { sqlFromPgPool } from '@summit-config/secrets';
import { harness } from '@summit-config/test-support/service';
import { adminPool, adminQuery, freshSchema, pglite, pgPool, q, schemasToDrop } from '@summit-config/test-support/sql';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createConfigServer, createSqlTokenStore, createTokenAuthenticator } from '../src/index.js';
import { createMemorySessionStore, type SessionRecord, type SessionStore } from '../src/sessions.js';
import { createSqlSessionStore } from '../src/sessions-sql.js';
import { SERVER_RBAC, validateResponses } from './support.js';

const schemas = schemasToDrop();
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

function ownPool(): pg.Pool {
  const pool = pgPool(4);
  pools.push(pool);
  return pool;
}

const HOUR = 3_600_000;

function record(n: number, at: number, ttl = HOUR): SessionRecord {
  return {
    idHash: n.toString(16).padStart(64, '0'),
    sealed: `sealed-${n}`,
    principal: `user-${n}`,
    createdAt: at,
    expiresAt: at + ttl,
  };
}

type Factory = (clock: () => number) => Promise<SessionStore>;

function contract(name: string, create: Factory): void {
  describe(`session store contract: ${name}`, () => {
    it('keeps a session until it expires or is deleted', async () => {
      let now = Date.UTC(2026, 0, 1);
      const store = await create(() => now);
      const a = record(1, now);
      const b = record(2, now, 2 * HOUR);
      await store.put(a);
      await store.put(b);
      expect(await store.get(a.idHash)).toEqual(a);
      expect(await store.get(record(3, now).idHash)).toBeUndefined();
      now += HOUR; // a expires now: the end is exclusive
      expect(await store.get(a.idHash)).toBeUndefined();
      expect(await store.get(b.idHash)).toEqual(b);
      expect(await store.delete(b.idHash)).toBe(true);
      expect(await store.delete(b.idHash)).toBe(false);
      expect(await store.get(b.idHash)).toBeUndefined();
    });

    it('records the last request seen, never moving it backwards; touching an unknown session does nothing', async () => {
      const now = Date.UTC(2026, 0, 1);
      const store = await create(() => now);
      const a = { ...record(4, now), lastSeenAt: now };
      await store.put(a);
      await store.touch(a.idHash, now + 5000);
      expect(await store.get(a.idHash)).toEqual({ ...a, lastSeenAt: now + 5000 });
      // A replica with an older view touches later with an earlier time: the later one stays.
      await store.touch(a.idHash, now + 2000);
      expect((await store.get(a.idHash))?.lastSeenAt).toBe(now + 5000);
      await store.touch(record(5, now).idHash, now + 1000);
      expect(await store.get(record(5, now).idHash)).toBeUndefined();
    });
  });
}

contract('memory', async (clock) => createMemorySessionStore({ clock }));
contract('pglite', async (clock) =>
  createSqlSessionStore({ sql: createPgliteClient({ pglite: await pglite() }), schema: freshSchema('ses'), clock }),
);
contract('postgres', async (clock) => {
  const schema = freshSchema('ses');
  schemas.push(schema);
  return createSqlSessionStore({ sql: sqlFromPgPool(adminPool()), schema, clock });
});

describe('memory session store', () => {
  it('drops the oldest session over maxSessions, expired ones first', async () => {
    let now = 1_000_000;
    const store = createMemorySessionStore({ maxSessions: 2, clock: () => now });
    await store.put(record(1, now, 10));
    await store.put(record(2, now));
    now += 10;
    await store.put(record(3, now)); // 1 has expired: it goes, 2 stays
    expect(await store.get(record(2, 0).idHash)).toBeDefined();
    await store.put(record(4, now)); // none expired: the oldest (2) goes
    expect(await store.get(record(2, 0).idHash)).toBeUndefined();
    expect(await store.get(record(3, 0).idHash)).toBeDefined();
    expect(() => createMemorySessionStore({ maxSessions: 0 })).toThrow(/maxSessions/);
  });
});

describe('sessions in PostgreSQL, two replicas', () => {
  it('a session opened on one replica works on the other, and sign-out on either ends it on both', async () => {
    const schema = freshSchema('ses');
    schemas.push(schema);
    const h = await harness('memory', { rbac: SERVER_RBAC });
    const apps: FastifyInstance[] = [];
    const replica = () => {
      // Each replica has its own pool: another process's connections to the same database.
      const sql = sqlFromPgPool(ownPool());
      const tokens = createSqlTokenStore({ sql, schema });
      const app = createConfigServer({
        service: h.service,
        store: h.store,
        authenticators: [createTokenAuthenticator(tokens)],
        console: { sessions: createSqlSessionStore({ sql, schema }) },
      });
      validateResponses(app);
      apps.push(app);
      return { app, tokens };
    };
    try {
      const a = replica();
      const b = replica();
      const { token } = await a.tokens.create({ name: 'console', owner: 'root', roles: ['superuser'] });
      const signIn = await a.app.inject({
        method: 'POST',
        url: '/api/v1/session',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(signIn.statusCode).toBe(201);
      const cookie = String(signIn.headers['set-cookie']).split(';', 1)[0] as string;
      const { csrfToken } = JSON.parse(signIn.body) as { csrfToken: string };

      expect((await b.app.inject({ url: '/api/v1/configs', headers: { cookie } })).statusCode).toBe(200);
      const rows = await adminQuery(`SELECT * FROM ${q(schema)}.server_sessions`);
      expect(rows).toHaveLength(1);
      const kept = JSON.stringify(rows);
      expect(kept).not.toContain(cookie.split('=')[1]);
      expect(kept).not.toContain(token);

      const out = await b.app.inject({
        method: 'DELETE',
        url: '/api/v1/session',
        headers: { cookie, 'x-csrf-token': csrfToken },
      });
      expect(out.statusCode).toBe(204);
      expect((await a.app.inject({ url: '/api/v1/configs', headers: { cookie } })).statusCode).toBe(401);
      expect(await adminQuery(`SELECT * FROM ${q(schema)}.server_sessions`)).toEqual([]);
    } finally {
      for (const app of apps) await app.close();
      await h.service.close();
      await h.close();
    }
  });

  it('adds last_seen_at to a table made before it existed, keeping the sessions in it', async () => {
    const schema = freshSchema('sesold');
    schemas.push(schema);
    const now = Date.now();
    await adminQuery(`CREATE SCHEMA ${q(schema)}`);
    await adminQuery(`CREATE TABLE ${q(schema)}.server_sessions (
      id_hash text PRIMARY KEY, sealed text NOT NULL, principal text NOT NULL,
      created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)`);
    await adminQuery(`CREATE INDEX server_sessions_expires_idx ON ${q(schema)}.server_sessions (expires_at)`);
    const old = record(7, now);
    await adminQuery(`INSERT INTO ${q(schema)}.server_sessions VALUES ($1, $2, $3, $4, $5)`, [
      old.idHash,
      old.sealed,
      old.principal,
      new Date(old.createdAt),
      new Date(old.expiresAt),
    ]);
    const store = createSqlSessionStore({ sql: sqlFromPgPool(ownPool()), schema });
    // Last seen unknown: the manager counts idleness from createdAt.
    expect(await store.get(old.idHash)).toEqual(old);
    await store.touch(old.idHash, now + 1000);
    expect(await store.get(old.idHash)).toEqual({ ...old, lastSeenAt: now + 1000 });
  });

  it('checks its options, and an unreachable database is BACKEND_UNAVAILABLE', async () => {
    expect(() => createSqlSessionStore({ sql: {} as never })).toThrow(/sql session store option sql/);
    expect(() => createSqlSessionStore({ sql: sqlFromPgPool(adminPool()), schema: '' })).toThrow(/schema/);
    const broken = createSqlSessionStore({
      sql: {
        query: async () => {
          throw new Error('connection refused');
        },
        transaction: async () => {
          throw new Error('connection refused');
        },
      },
    });
    await expect(broken.get('0'.repeat(64))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });
});
