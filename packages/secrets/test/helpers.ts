/**
 * Test helpers of the secrets package: the SQL drivers (loaded from the packages that depend on
 * them, since `@summit-config/secrets` itself loads no driver) and fresh schemas on the shared server.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PgPoolLike, SecretSql } from '@summit-config/secrets';
import { repoRoot, services } from '../../../test/helpers/services.js';

/** The part of a `pg.Pool` the tests use. */
export interface TestPool extends PgPoolLike {
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** A PGlite instance as the tests use it (it satisfies `SecretSql` as it is). */
export interface TestPglite extends SecretSql {
  close(): Promise<void>;
}

async function importFrom(anchor: string, specifier: string): Promise<Record<string, unknown>> {
  const resolved = createRequire(join(repoRoot, anchor)).resolve(specifier);
  return (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
}

/** A `pg.Pool` on the real server of `scripts/services.sh` (`DATABASE_URL`). */
export async function pgPool(max = 4): Promise<TestPool> {
  const mod = await importFrom('test/package.json', 'pg');
  const pg = (mod.default ?? mod) as { Pool: new (config: object) => TestPool };
  const pool = new pg.Pool({ connectionString: services().databaseUrl, max, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => {});
  return pool;
}

/** A new in-memory PGlite. */
export async function pglite(): Promise<TestPglite> {
  const mod = await importFrom('packages/backends/package.json', '@electric-sql/pglite');
  const PGlite = mod.PGlite as { create(dataDir?: string): Promise<TestPglite> };
  return PGlite.create();
}

/** A schema name nobody else uses (several engineers share one database). */
export function freshSchema(tag = 'sec'): string {
  return `summit_${tag}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A random master key as base64 and hex. */
export function masterKey(): { base64: string; hex: string; bytes: Buffer } {
  const bytes = randomBytes(32);
  return { base64: bytes.toString('base64'), hex: bytes.toString('hex'), bytes };
}
