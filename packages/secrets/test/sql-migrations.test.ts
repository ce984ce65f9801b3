/**
 * The secrets package creates and migrates its own table, `secret_rotation_policies`, which the
 * PostgreSQL store's migrations 1 and 5 also created in databases of earlier versions. Whatever the
 * order (the store first, the policies first, or a database the store left at migration 4), the
 * table ends up the same, nothing fails, and a complete table gets no DDL at all.
 */

import { createPgliteClient, createPgliteStore } from '@summit-config/backends/pglite';
import { createPostgresStore, MIGRATIONS } from '@summit-config/backends/postgres';
import type { SqlDatabase } from '@summit-config/core/internal';
import { createSqlRotationPolicies, sqlFromPgPool } from '@summit-config/secrets';
import { services } from '@summit-config/test-support/services';
import { adminPool, freshSchema, pglite, q, schemasToDrop } from '@summit-config/test-support/sql';
import { describe, expect, it } from 'vitest';

const schemas = schemasToDrop();

interface Backing {
  sql: SqlDatabase;
  schema: string;
  /** The PostgreSQL store (or PGlite store) of the schema, to run its migrations. */
  store(): { migrate(): Promise<{ applied: number[] }>; close(): Promise<void> };
}

async function backing(kind: 'postgres' | 'pglite'): Promise<Backing> {
  const schema = freshSchema('smig');
  if (kind === 'postgres') {
    schemas.push(schema);
    return {
      sql: sqlFromPgPool(adminPool()),
      schema,
      store: () => createPostgresStore({ connectionString: services().databaseUrl, schema }),
    };
  }
  const db = await pglite();
  return { sql: createPgliteClient({ pglite: db }), schema, store: () => createPgliteStore({ pglite: db, schema }) };
}

/** The table as the catalog describes it: columns in order, constraints, indexes. */
async function tableShape(b: Backing): Promise<unknown> {
  const params = [b.schema, 'secret_rotation_policies'];
  const columns = await b.sql.query(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            pg_get_expr(d.adbin, d.adrelid) AS default
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    params,
  );
  const constraints = await b.sql.query(
    `SELECT k.conname AS name, pg_get_constraintdef(k.oid) AS def
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 ORDER BY k.conname`,
    params,
  );
  const indexes = await b.sql.query<{ name: string; def: string }>(
    `SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = $1 AND tablename = $2
     ORDER BY indexname`,
    params,
  );
  return {
    columns: columns.rows,
    constraints: constraints.rows,
    indexes: indexes.rows.map((i) => ({ ...i, def: i.def.replaceAll(q(b.schema), 'S').replaceAll(b.schema, 'S') })),
  };
}

/** Runs the store's migrations up to `last` by hand, as a store of that version did. */
async function migrateStoreTo(b: Backing, last: number): Promise<void> {
  const s = q(b.schema);
  await b.sql.transaction(async (tx) => {
    await tx.query(`CREATE SCHEMA ${s}`);
    await tx.query(
      `CREATE TABLE ${s}.summit_migrations (version integer PRIMARY KEY, name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const m of MIGRATIONS.filter((x) => x.version <= last)) {
      for (const statement of m.statements(s)) await tx.query(statement);
      await tx.query(`INSERT INTO ${s}.summit_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
    }
  });
}

describe.each(['postgres', 'pglite'] as const)('the rotation policy table on %s', (kind) => {
  it('on a database the store migrated: no DDL, the table is left as it is', async () => {
    const b = await backing(kind);
    const store = b.store();
    await store.migrate();
    await store.close();
    const before = await tableShape(b);
    const policies = createSqlRotationPolicies({ sql: b.sql, schema: b.schema, kind });
    expect(await policies.list()).toEqual([]);
    await policies.close();
    expect(await tableShape(b)).toEqual(before);
  });

  it('policies first, then the store: both succeed and the table is the one the store makes', async () => {
    const reference = await backing(kind);
    const referenceStore = reference.store();
    await referenceStore.migrate();
    await referenceStore.close();

    const b = await backing(kind);
    const policies = createSqlRotationPolicies({ sql: b.sql, schema: b.schema, kind });
    expect(await policies.list()).toEqual([]);
    await policies.close();
    const store = b.store();
    expect((await store.migrate()).applied).toEqual(MIGRATIONS.map((m) => m.version));
    await store.close();
    expect(await tableShape(b)).toEqual(await tableShape(reference));
  });

  it('a database the store left at migration 4: the policies add their columns, then migration 5 still applies', async () => {
    const reference = await backing(kind);
    const referenceStore = reference.store();
    await referenceStore.migrate();
    await referenceStore.close();

    const b = await backing(kind);
    await migrateStoreTo(b, 4);
    const policies = createSqlRotationPolicies({ sql: b.sql, schema: b.schema, kind });
    expect(await policies.list()).toEqual([]);
    await policies.close();
    expect(await tableShape(b)).toEqual(await tableShape(reference));
    const store = b.store();
    expect((await store.migrate()).applied).toEqual(MIGRATIONS.filter((m) => m.version > 4).map((m) => m.version));
    await store.close();
    expect(await tableShape(b)).toEqual(await tableShape(reference));
  });
});
