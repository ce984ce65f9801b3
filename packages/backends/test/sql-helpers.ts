/**
 * Helpers for the PostgreSQL and PGlite store tests: fresh schemas on the shared real server,
 * raw SQL behind the store's back, cleanup.
 */
import { randomBytes } from 'node:crypto';
import type { ConfigRef, ConfigStore, ConfigVersion } from '@summit-config/core';
import { refKey } from '@summit-config/core';
import pg from 'pg';
import { services } from '../../../test/helpers/services.js';

/** A schema name nobody else uses (tests of several engineers share one database). */
export function freshSchema(tag = 't'): string {
  return `summit_${tag}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Quotes an identifier (test-side copy, so tests do not trust the code under test). */
export function q(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

let admin: pg.Pool | undefined;

/** A pool on the real server for raw SQL; closed by {@link closeAdmin}. */
export function adminPool(): pg.Pool {
  admin ??= new pg.Pool({ connectionString: services().databaseUrl, max: 3, connectionTimeoutMillis: 10_000 });
  admin.on('error', () => {});
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

export async function closeAdmin(): Promise<void> {
  const pool = admin;
  admin = undefined;
  await pool?.end();
}

/** The raw SQL that edits a stored document: a different config under the same checksum. */
export function tamperSql(schema: string): string {
  return `UPDATE ${q(schema)}.config_versions SET config = '{"n":999,"tampered":true}'::json
          WHERE config_id = $1 AND version = $2`;
}

/** Tampers through a real-server store's schema. */
export async function tamperPg(store: ConfigStore, ref: ConfigRef, version: number): Promise<void> {
  const schema = (store as unknown as { schema: string }).schema;
  const rows = await adminPool().query(tamperSql(schema), [refKey(ref), version]);
  if (rows.rowCount !== 1) throw new Error('tamper touched no row');
}

/** Polls `predicate` until it holds; throws with `what` after `timeoutMs`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Appends through raw SQL without NOTIFY, as if the notification had been lost. */
export async function forgeSilentAppend(schema: string, d: ConfigVersion): Promise<void> {
  const s = q(schema);
  const key = refKey(d.ref);
  await adminQuery(
    `WITH v AS (
       INSERT INTO ${s}.config_versions (config_id, scope, ref_id, version, config, overrides, rollout, checksum,
         metadata, created_at, created_by, message)
       VALUES ($1, $2, $3, $4, $5::json, '{}'::json, NULL, $6, '{}'::json, now(), 'forger', '')
       RETURNING config_id, version)
     UPDATE ${s}.config_heads h SET version = v.version, checksum = $6 FROM v WHERE h.config_id = v.config_id`,
    [key, d.ref.scope, d.ref.id, d.version, JSON.stringify(d.config), d.checksum],
  );
}
