/**
 * The SQL stores behind their back: PostgreSQL stores on fresh schemas (closed and dropped by vitest
 * hooks), tampering with a stored document, an append that sends no notification.
 */
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from '@summit-config/backends/postgres';
import type { ConfigRef, ConfigStore, ConfigVersion } from '@summit-config/core';
import { refKey } from '@summit-config/core';
import { afterAll, afterEach } from 'vitest';
import { services } from './services.js';
import { adminPool, adminQuery, closeShared, dropSchemas, freshSchema, q } from './sql.js';

export interface PostgresStores {
  (options?: Partial<PostgresStoreOptions>): PostgresStore;
  /** The schemas dropped after all tests (add one made another way). */
  readonly schemas: Set<string>;
}

/**
 * Call at the top of a test file: returns a maker of PostgreSQL stores on the real server, each on a
 * fresh schema (`summit_<tag>_...`) unless `options.schema` names one; the stores are closed after
 * each test, the schemas dropped after all.
 */
export function postgresStores(tag: string): PostgresStores {
  const schemas = new Set<string>();
  const stores: PostgresStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await dropSchemas(schemas);
    await closeShared();
  });
  const open = (options: Partial<PostgresStoreOptions> = {}) => {
    const schema = options.schema ?? freshSchema(tag);
    schemas.add(schema);
    const store = createPostgresStore({ connectionString: services().databaseUrl, schema, ...options });
    stores.push(store);
    return store;
  };
  return Object.assign(open, { schemas });
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
