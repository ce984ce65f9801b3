/**
 * SQL behind the code's back: fresh schemas on the shared real PostgreSQL server (several engineers
 * share one database), a pool for raw SQL, one in-memory PGlite per test file, cleanup.
 */
import { randomBytes } from 'node:crypto';
import { openPglite } from '@summit-config/backends/pglite';
import pg from 'pg';
import { afterAll } from 'vitest';
import { services } from './services.js';

/** Quotes an identifier (test-side copy, so tests do not trust the code under test). */
export function q(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A schema name nobody else uses. */
export function freshSchema(tag = 't'): string {
  return `summit_${tag}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** A new `pg.Pool` on the real server of `scripts/services.sh` (`DATABASE_URL`); the caller ends it. */
export function pgPool(max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: services().databaseUrl, max, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => {});
  return pool;
}

export type TestPool = pg.Pool;

let admin: pg.Pool | undefined;

/** The test file's pool on the real server for raw SQL; closed by {@link closeShared}. */
export function adminPool(): pg.Pool {
  admin ??= pgPool(6);
  return admin;
}

export async function adminQuery<R extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const { rows } = await adminPool().query<R>(text, params);
  return rows;
}

export async function dropSchemas(schemas: Iterable<string>): Promise<void> {
  for (const schema of schemas) await adminQuery(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
}

export type Pglite = Awaited<ReturnType<typeof openPglite>>;
let sharedPglite: Promise<Pglite> | undefined;

/** One in-memory PGlite per test file (each user takes its own schema in it); closed by {@link closeShared}. */
export function pglite(): Promise<Pglite> {
  sharedPglite ??= openPglite();
  return sharedPglite;
}

/** Closes the test file's shared pool and PGlite. */
export async function closeShared(): Promise<void> {
  const pool = admin;
  admin = undefined;
  await pool?.end();
  const db = sharedPglite;
  sharedPglite = undefined;
  if (db) await (await db).close();
}

/**
 * Call at the top of a test file that makes schemas on the real server: push their names to the
 * returned list; after all the file's tests they are dropped and the shared pool and PGlite closed.
 */
export function schemasToDrop(): string[] {
  const schemas: string[] = [];
  afterAll(async () => {
    await dropSchemas(schemas);
    await closeShared();
  });
  return schemas;
}
