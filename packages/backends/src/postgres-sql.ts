/**
 * The SQL text of the PostgreSQL store's writes: the tables of a schema, and the append statements,
 * each one round trip. Parameters `$1`-`$12` of the statements that insert a version are
 * `versionParams` (postgres-rows.ts).
 */
import { quoteIdent } from './sql-client.js';

/** The store's tables, schema-qualified and quoted. */
export interface SqlTables {
  readonly versions: string;
  readonly heads: string;
  readonly audit: string;
  readonly acks: string;
  readonly sync: string;
  readonly meta: string;
}

export function sqlTables(schema: string): SqlTables {
  const s = quoteIdent(schema, 'schema');
  return {
    versions: `${s}.config_versions`,
    heads: `${s}.config_heads`,
    audit: `${s}.config_audit`,
    acks: `${s}.config_applied_state`,
    sync: `${s}.config_sync`,
    meta: `${s}.config_meta`,
  };
}

/**
 * The head move of an append: only from the expected version (`UPDATE ... WHERE version = N - 1`,
 * which locks the row and re-checks it after a concurrent writer commits), or a new row for
 * version 1 (`INSERT ... ON CONFLICT DO NOTHING`, which waits for a concurrent creator).
 * `mirrored`: the mirror holds the version too (a plain append: copied from the mirror, or a chain
 * without one); otherwise `mirror_version` stays where it was, and `beginAppend` moves it at commit.
 */
function headSql(t: SqlTables, create: boolean, mirrored: boolean): string {
  return create
    ? `INSERT INTO ${t.heads} (config_id, scope, ref_id, version, checksum, mirror_version)
         VALUES ($1, $2, $3, $4, $8, ${mirrored ? '$4' : '0'})
         ON CONFLICT (config_id) DO NOTHING RETURNING config_id`
    : `UPDATE ${t.heads} SET version = $4, checksum = $8, updated_at = now()${mirrored ? ', mirror_version = $4' : ''}
         WHERE config_id = $1 AND version = $4::int - 1 RETURNING config_id`;
}

/**
 * One statement that moves the head (`h`), inserts the version (`v`) only when `h` did, runs
 * `also` (more common table expressions on `v`), and notifies (`n`, `pg_notify(<notify>)`,
 * delivered at commit). `written` is 0 when the expected head did not match.
 */
function writeVersionSql(t: SqlTables, create: boolean, mirrored: boolean, also: string[], notify: string): string {
  const ctes = [
    `h AS (${headSql(t, create, mirrored)})`,
    `v AS (
        INSERT INTO ${t.versions} (config_id, scope, ref_id, version, config, overrides, rollout, checksum, metadata,
                                   created_at, created_by, message)
        SELECT $1, $2, $3, $4, $5::json, $6::json, $7::json, $8, $9::json, $10::timestamptz, $11, $12 FROM h
        RETURNING config_id, version)`,
    ...also,
    `n AS (SELECT pg_notify(${notify}) FROM v)`,
  ];
  return `WITH ${ctes.join(',\n      ')}
    SELECT (SELECT count(*) FROM v)::int AS written, (SELECT count(*) FROM n)::int AS notified`;
}

/**
 * The whole append as one statement, hence one transaction and one round trip: the head, the
 * version, the audit row (`a`) and the sync bookkeeping (`s`, tiers `$13`), the notification
 * (channel `$14`, payload `$15`). Foreign keys are checked at the end of the statement, when the
 * version row exists; a version that exists already fails with 23505.
 */
export function appendSql(t: SqlTables, create: boolean): string {
  return writeVersionSql(
    t,
    create,
    true,
    [
      `a AS (
        INSERT INTO ${t.audit} (config_id, version, actor, action, message)
        SELECT config_id, version, $11, 'append', $12 FROM v)`,
      `s AS (
        INSERT INTO ${t.sync} (config_id, version, tier, synced)
        SELECT v.config_id, v.version, tier, false FROM v, unnest($13::text[]) AS tier)`,
    ],
    '$14, $15',
  );
}

/**
 * `beginAppend`'s first statement: the head move, the version and the notification (channel `$13`,
 * payload `$14`, delivered at commit), without the audit row: the audit chain's lock is taken only
 * at commit, so a held append never blocks the writers of other refs.
 */
export function beginSql(t: SqlTables, create: boolean): string {
  return writeVersionSql(t, create, false, [], '$13, $14');
}

/** `beginAppend`'s commit statement: what the mirror holds (`$3`), and the audit row. */
export function commitSql(t: SqlTables): string {
  return `WITH m AS (
      UPDATE ${t.heads} SET mirror_version = $2 WHERE config_id = $1 AND $3::boolean AND version = $2)
    INSERT INTO ${t.audit} (config_id, version, actor, action, message) VALUES ($1, $2, $4, 'append', $5)`;
}

/** `replace`'s rewrite of one version: `$1` config_id, `$2` version, then `contentParams`. */
export function replaceVersionSql(t: SqlTables): string {
  return `UPDATE ${t.versions}
               SET config = $3::json, overrides = $4::json, rollout = $5::json, checksum = $6, metadata = $7::json,
                   created_at = $8, created_by = $9, message = $10
             WHERE config_id = $1 AND version = $2`;
}
