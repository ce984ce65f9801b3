/**
 * The one PostgreSQL store implementation, written against the SQL seam (`sql-client.ts`), behind
 * both `createPostgresStore` (`pg`) and `createPgliteStore` (embedded PGlite).
 *
 * - Append is one transaction: lock the head row, check the expected version, insert the version,
 *   move the head, write the audit row, record sync bookkeeping, `pg_notify({scope,id,version})`.
 * - Reads verify every document against its checksum.
 * - Watch runs on one LISTEN connection shared by every listener of the store, opened with the
 *   first listener and closed after the last. After every (re)connect, and every `resyncIntervalMs`,
 *   it re-reads the heads and diffs them by version and checksum against the last ones it emitted,
 *   because notifications sent while no connection listened are lost.
 */
import { createHash } from 'node:crypto';
import {
  type AppliedAck,
  backoffDelay,
  type ConfigError,
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  compareHeads,
  delay,
  errors,
  type Head,
  type HeadChange,
  type HeadListener,
  headChange,
  headOf,
  isConfigError,
  isPlainObject,
  Lifecycle,
  type ListQuery,
  onAbort,
  type PendingAppend,
  parseEnvironmentName,
  parseRef,
  parseScope,
  type ReadOptions,
  refKey,
  type Scope,
  type StoreCapabilities,
  throwIfAborted,
  type Unwatch,
  verifyVersion,
  type WatchOptions,
} from '@summit-config/core';
import { type MigrationResult, migrate } from './postgres-migrations.js';
import {
  escapeLike,
  mapSqlError,
  quoteIdent,
  type SqlClient,
  type SqlListener,
  type SqlQueryable,
  type StoreLogger,
} from './sql-client.js';

/** Largest version number an `integer` column holds. */
const MAX_VERSION = 2_147_483_647;
/** A `beginAppend` not settled within this long rolls back by itself. */
const HOLD_LIMIT_MS = 30_000;
/** Thrown inside a held transaction to roll it back (a ConfigError, so the connection is kept). */
const ROLLED_BACK = errors.constraint('append rolled back by its caller');
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_NOTIFY_BYTES = 7999;

export interface SqlStoreConfig {
  /** Tier name: `postgres`, `pglite`, ... */
  name: string;
  client: SqlClient;
  schema: string;
  durable: boolean;
  maxDocumentBytes: number;
  resyncIntervalMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  logger?: StoreLogger;
}

/** A version some tier does not hold yet (see {@link PostgresStore.listUnsynced}). */
export interface UnsyncedVersion {
  readonly ref: ConfigRef;
  readonly version: number;
  readonly tier: string;
  /** ISO-8601 UTC time the gap was recorded. */
  readonly recordedAt: string;
}

/** The PostgreSQL store: the contract plus migrations and the sync ledger the failover chain uses. */
export interface PostgresStore extends ConfigStore {
  /** The schema holding the tables. */
  readonly schema: string;
  /** The NOTIFY channel of head changes: `{"scope","id","version"}` payloads. */
  readonly channel: string;
  /** Applies pending migrations now (otherwise the first call does). Rejects `BACKEND_UNAVAILABLE`. */
  migrate(): Promise<MigrationResult>;
  /**
   * Records that `tiers` do not hold `ref`@`version` yet. Append records the same for the tier names
   * listed in the document's `metadata.unsynced` (a string or an array of strings), atomically.
   */
  markUnsynced(ref: ConfigRef, version: number, tiers: readonly string[]): Promise<void>;
  /** Records that `tier` now holds `ref`@`version`. */
  markSynced(ref: ConfigRef, version: number, tier: string): Promise<void>;
  /** Versions still missing from `tier` (every tier when omitted), oldest first, at most `limit` (default 1000). */
  listUnsynced(query?: { tier?: string; limit?: number }): Promise<UnsyncedVersion[]>;
}

interface HeadRow {
  config_id: string;
  scope: string;
  ref_id: string;
  version: number;
  checksum: string;
}

interface VersionRow {
  scope: string;
  ref_id: string;
  version: number;
  config: unknown;
  overrides: unknown;
  rollout: unknown;
  checksum: string;
  metadata: unknown;
  created_at: Date | string;
  created_by: string;
  message: string | null;
}

interface AckRow {
  scope: string;
  ref_id: string;
  environment: string;
  instance: string;
  version: number;
  checksum: string;
  status: 'applied' | 'rejected';
  reason: string | null;
  applied_at: Date | string;
}

function iso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

function headOfRow(row: HeadRow): Head {
  return Object.freeze({
    ref: Object.freeze({ scope: row.scope as Scope, id: row.ref_id }),
    version: row.version,
    checksum: row.checksum,
  });
}

/** The NOTIFY channel of a schema: `summit:<schema>`, or a hash when that would not fit 63 bytes. */
export function channelFor(schema: string): string {
  const plain = `summit:${schema}`;
  if (Buffer.byteLength(plain, 'utf8') <= 63 && !plain.includes('"')) return plain;
  return `summit:${createHash('sha256').update(schema, 'utf8').digest('hex').slice(0, 40)}`;
}

/** Rejects with the signal's reason when it aborts first; the operation itself keeps running. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(signal, () => {
      try {
        throwIfAborted(signal);
      } catch (reason) {
        reject(reason);
      }
    });
    promise.then(
      (value) => {
        off();
        resolve(value);
      },
      (error: unknown) => {
        off();
        reject(error);
      },
    );
  });
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether a PostgreSQL text column keeps `value` exactly (no NUL, no lone surrogate). */
function isStorableText(value: string): boolean {
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value);
}

function unsyncedTiers(metadata: unknown, own: string): string[] {
  if (!isPlainObject(metadata)) return [];
  const raw = metadata.unsynced;
  const list = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
  return [...new Set(list.filter((t): t is string => typeof t === 'string' && t.length > 0 && t !== own))];
}

export function createSqlStore(config: SqlStoreConfig): PostgresStore {
  const { client, name, logger } = config;
  const lifecycle = new Lifecycle(`${name} store`);
  const s = quoteIdent(config.schema, 'schema');
  const t = {
    versions: `${s}.config_versions`,
    heads: `${s}.config_heads`,
    audit: `${s}.config_audit`,
    acks: `${s}.config_applied_state`,
    sync: `${s}.config_sync`,
    meta: `${s}.config_meta`,
  };
  const channel = channelFor(config.schema);
  const limits = { maxDocumentBytes: config.maxDocumentBytes };
  const capabilities: StoreCapabilities = Object.freeze({
    watch: true,
    durable: config.durable,
    historyLimit: undefined,
    consistentReads: true,
    appliedState: true,
    repair: true,
    bulkReads: true,
    record: config.durable,
  });

  let ready: Promise<MigrationResult> | undefined;
  function ensureReady(): Promise<MigrationResult> {
    ready ??= migrate(client, config.schema).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  }

  function fail(error: unknown, ctx: { ref?: string; version?: number } = {}): ConfigError {
    if (lifecycle.closed) return errors.closed(`${name} store`);
    return mapSqlError(error, name, ctx);
  }

  /** Every member: CLOSED first, then migrations, then the work; driver errors mapped. */
  async function op<T>(
    work: () => Promise<T>,
    ctx: { ref?: string; version?: number } = {},
    signal?: AbortSignal,
  ): Promise<T> {
    lifecycle.assertOpen();
    throwIfAborted(signal);
    try {
      await abortable(ensureReady(), signal);
      return await abortable(work(), signal);
    } catch (error) {
      throw fail(error, ctx);
    }
  }

  function open(ref: ConfigRef): ConfigRef {
    lifecycle.assertOpen();
    return parseRef(ref);
  }

  const VERSION_COLUMNS = `v.scope, v.ref_id, v.version, v.config, v.overrides, v.rollout, v.checksum, v.metadata,
      v.created_at, v.created_by, v.message`;

  async function readVersion(key: string, version: number | undefined): Promise<ConfigVersion | undefined> {
    const { rows } =
      version === undefined
        ? await client.query<VersionRow>(
            `SELECT ${VERSION_COLUMNS} FROM ${t.heads} h
             JOIN ${t.versions} v ON v.config_id = h.config_id AND v.version = h.version
             WHERE h.config_id = $1`,
            [key],
          )
        : await client.query<VersionRow>(
            `SELECT ${VERSION_COLUMNS} FROM ${t.versions} v WHERE v.config_id = $1 AND v.version = $2`,
            [key, version],
          );
    const row = rows[0];
    return row ? verifyStored(key, row) : undefined;
  }

  /** Verifies a stored row; a row that does not even parse as a version was edited behind the store's back. */
  function verifyStored(key: string, row: VersionRow): ConfigVersion {
    try {
      return verifyRow(row);
    } catch (error) {
      if (isConfigError(error, 'CONSTRAINT_VIOLATION') || isConfigError(error, 'INVALID_CONFIG_REF')) {
        throw errors.checksumMismatch(`${key} v${row.version}: the stored document is malformed: ${error.message}`, {
          ref: key,
          version: row.version,
          backend: name,
          cause: error,
        });
      }
      throw error;
    }
  }

  /** The WHERE clause (on the heads table `h`) and parameters of a list query. */
  function headFilter(query: ListQuery): { where: string; params: unknown[] } {
    const scope = query.scope === undefined ? undefined : parseScope(query.scope);
    if (query.prefix !== undefined && typeof query.prefix !== 'string') {
      throw errors.constraint('list prefix must be a string');
    }
    if (scope !== undefined) {
      return {
        where: `WHERE h.config_id LIKE $1 ESCAPE '\\'`,
        params: [`${escapeLike(`${scope}/${query.prefix ?? ''}`)}%`],
      };
    }
    if (query.prefix) return { where: `WHERE h.ref_id LIKE $1 ESCAPE '\\'`, params: [`${escapeLike(query.prefix)}%`] };
    return { where: '', params: [] };
  }

  function verifyRow(row: VersionRow): ConfigVersion {
    return verifyVersion(
      {
        ref: { scope: row.scope, id: row.ref_id },
        version: row.version,
        config: row.config,
        overrides: row.overrides,
        rollout: row.rollout,
        metadata: row.metadata,
        checksum: row.checksum,
        createdAt: iso(row.created_at),
        createdBy: row.created_by,
        message: row.message ?? '',
      },
      limits,
      name,
    );
  }

  /** The NOTIFY payload: `{scope,id,version}` only; readers fetch the head themselves. */
  function notifyPayload(ref: ConfigRef, version: number): string {
    const payload = JSON.stringify({ scope: ref.scope, id: ref.id, version });
    // A ref is at most ~400 ASCII bytes, far below the cap; the check documents the limit.
    if (Buffer.byteLength(payload, 'utf8') > MAX_NOTIFY_BYTES) throw errors.constraint('notify payload too large');
    return payload;
  }

  async function notify(tx: SqlQueryable, ref: ConfigRef, version: number): Promise<void> {
    await tx.query('SELECT pg_notify($1, $2)', [channel, notifyPayload(ref, version)]);
  }

  function checkDocument(doc: ConfigVersion): ConfigVersion {
    const verified = verifyVersion(doc, limits, name);
    const ctx = { ref: refKey(verified.ref), version: verified.version, backend: name };
    if (verified.version > MAX_VERSION) throw errors.constraint(`version must be at most ${MAX_VERSION}`, ctx);
    if (Number.isNaN(Date.parse(verified.createdAt))) throw errors.constraint('createdAt is not a valid date', ctx);
    // Document content is stored as json text, where every escape survives; these two are text
    // columns, which hold neither U+0000 nor a lone surrogate (UTF-8 would turn it into U+FFFD).
    if (!isStorableText(verified.createdBy) || !isStorableText(verified.message)) {
      throw errors.constraint(
        'createdBy and message must be well-formed Unicode without U+0000 (PostgreSQL text cannot hold them)',
        ctx,
      );
    }
    return verified;
  }

  async function recordUnsynced(tx: SqlQueryable, key: string, version: number, tiers: readonly string[]) {
    for (const tier of tiers) {
      await tx.query(
        `INSERT INTO ${t.sync} (config_id, version, tier, synced) VALUES ($1, $2, $3, false)
         ON CONFLICT (config_id, version, tier) DO UPDATE SET synced = false, synced_at = NULL`,
        [key, version, tier],
      );
    }
  }

  /**
   * The head move of an append: only from the expected version (`UPDATE ... WHERE version = N - 1`,
   * which locks the row and re-checks it after a concurrent writer commits), or a new row for
   * version 1 (`INSERT ... ON CONFLICT DO NOTHING`, which waits for a concurrent creator).
   * `mirrored`: the mirror holds the version too (a plain append: copied from the mirror, or a chain
   * without one); otherwise `mirror_version` stays where it was, and `beginAppend` moves it at commit.
   */
  function headSql(create: boolean, mirrored: boolean): string {
    return create
      ? `INSERT INTO ${t.heads} (config_id, scope, ref_id, version, checksum, mirror_version)
         VALUES ($1, $2, $3, $4, $8, ${mirrored ? '$4' : '0'})
         ON CONFLICT (config_id) DO NOTHING RETURNING config_id`
      : `UPDATE ${t.heads} SET version = $4, checksum = $8, updated_at = now()${mirrored ? ', mirror_version = $4' : ''}
         WHERE config_id = $1 AND version = $4::int - 1 RETURNING config_id`;
  }

  /**
   * `beginAppend`'s first statement: the head move, the version and the notification (delivered at
   * commit), without the audit row: the audit chain's lock is taken only at commit, so a held append
   * never blocks the writers of other refs.
   */
  function beginSql(create: boolean): string {
    return `WITH h AS (${headSql(create, false)}),
      v AS (
        INSERT INTO ${t.versions} (config_id, scope, ref_id, version, config, overrides, rollout, checksum, metadata,
                                   created_at, created_by, message)
        SELECT $1, $2, $3, $4, $5::json, $6::json, $7::json, $8, $9::json, $10::timestamptz, $11, $12 FROM h
        RETURNING config_id, version),
      n AS (SELECT pg_notify($13, $14) FROM v)
    SELECT (SELECT count(*) FROM v)::int AS written, (SELECT count(*) FROM n)::int AS notified`;
  }

  /** `beginAppend`'s commit statement: what the mirror holds, and the audit row. */
  const commitSql = `WITH m AS (
      UPDATE ${t.heads} SET mirror_version = $2 WHERE config_id = $1 AND $3::boolean AND version = $2)
    INSERT INTO ${t.audit} (config_id, version, actor, action, message) VALUES ($1, $2, $4, 'append', $5)`;

  function versionParams(verified: ConfigVersion): unknown[] {
    return [
      refKey(verified.ref),
      verified.ref.scope,
      verified.ref.id,
      verified.version,
      JSON.stringify(verified.config),
      JSON.stringify(verified.overrides),
      verified.rollout === null ? null : JSON.stringify(verified.rollout),
      verified.checksum,
      JSON.stringify(verified.metadata),
      verified.createdAt,
      verified.createdBy,
      verified.message,
    ];
  }

  async function conflictOf(q: SqlQueryable, key: string, version: number): Promise<ConfigError> {
    const current = await q.query<{ version: number }>(`SELECT version FROM ${t.heads} WHERE config_id = $1`, [key]);
    return errors.versionConflict(`${key}: expected head v${version - 1}, found v${current.rows[0]?.version ?? 0}`, {
      ref: key,
      version,
      backend: name,
    });
  }

  /**
   * The whole append as one statement, hence one transaction and one round trip:
   * - `h` moves the head only from the expected version (`UPDATE ... WHERE version = N - 1`, which
   *   locks the row and re-checks it after a concurrent writer commits), or creates it for version 1
   *   (`INSERT ... ON CONFLICT DO NOTHING`, which waits for a concurrent creator);
   * - `v`, `a`, `s` insert the version, the audit row and the sync bookkeeping only when `h` did;
   * - `n` notifies `{scope,id,version}`, delivered at commit.
   * Foreign keys are checked at the end of the statement, when the version row exists. `written` is
   * 0 when the expected head did not match; a version that exists already fails with 23505.
   */
  function appendSql(create: boolean): string {
    return `WITH h AS (${headSql(create, true)}),
      v AS (
        INSERT INTO ${t.versions} (config_id, scope, ref_id, version, config, overrides, rollout, checksum, metadata,
                                   created_at, created_by, message)
        SELECT $1, $2, $3, $4, $5::json, $6::json, $7::json, $8, $9::json, $10::timestamptz, $11, $12 FROM h
        RETURNING config_id, version),
      a AS (
        INSERT INTO ${t.audit} (config_id, version, actor, action, message)
        SELECT config_id, version, $11, 'append', $12 FROM v),
      s AS (
        INSERT INTO ${t.sync} (config_id, version, tier, synced)
        SELECT v.config_id, v.version, tier, false FROM v, unnest($13::text[]) AS tier),
      n AS (SELECT pg_notify($14, $15) FROM v)
    SELECT (SELECT count(*) FROM v)::int AS written, (SELECT count(*) FROM n)::int AS notified`;
  }

  /**
   * Runs `beginAppend`'s transaction: the first statement, then waits (holding the ref's row lock)
   * for the caller's commit or rollback. Resolves once the version is inserted; a version conflict
   * rolls back at once and rejects.
   */
  function holdAppend(
    verified: ConfigVersion,
    key: string,
    ctx: { ref: string; version: number },
  ): Promise<PendingAppend> {
    const { ref, version } = verified;
    return new Promise<PendingAppend>((resolveBegin, rejectBegin) => {
      let begun = false;
      let decide: (d: { commit: boolean; mirrored: boolean }) => void = () => {};
      const decision = new Promise<{ commit: boolean; mirrored: boolean }>((resolve) => {
        decide = resolve;
      });
      // A caller that never settles cannot hold the row for ever.
      const guard = setTimeout(() => decide({ commit: false, mirrored: false }), HOLD_LIMIT_MS);
      guard.unref();
      const done = client.transaction(async (tx) => {
        const { rows } = await tx.query<{ written: number }>(beginSql(version === 1), [
          ...versionParams(verified),
          channel,
          notifyPayload(ref, version),
        ]);
        if (rows[0]?.written !== 1) throw await conflictOf(tx, key, version);
        begun = true;
        resolveBegin(pending);
        const d = await decision;
        if (!d.commit) throw ROLLED_BACK;
        await tx.query(commitSql, [key, version, d.mirrored, verified.createdBy, verified.message]);
      });
      done.then(
        () => clearTimeout(guard),
        (error: unknown) => {
          clearTimeout(guard);
          if (!begun) rejectBegin(error);
        },
      );
      const pending: PendingAppend = {
        doc: verified,
        async commit({ mirrored }) {
          decide({ commit: true, mirrored });
          try {
            await done;
          } catch (error) {
            throw fail(error === ROLLED_BACK ? errors.unavailable(name, new Error('held too long')) : error, ctx);
          }
          feeds.noteWrite(headOf(verified));
        },
        async rollback() {
          decide({ commit: false, mirrored: false });
          await done.catch(() => {});
        },
      };
    });
  }

  const feeds = new FeedRegistry({
    name,
    client,
    channel,
    headsTable: t.heads,
    ensureReady: async () => {
      await ensureReady();
    },
    resyncIntervalMs: config.resyncIntervalMs,
    reconnectBaseMs: config.reconnectBaseMs,
    reconnectMaxMs: config.reconnectMaxMs,
    logger,
  });

  const store: PostgresStore = {
    name,
    capabilities,
    schema: config.schema,
    channel,

    async getHead(refInput, options: ReadOptions = {}) {
      const ref = open(refInput);
      const key = refKey(ref);
      return op(
        async () => {
          const { rows } = await client.query<HeadRow>(
            `SELECT config_id, scope, ref_id, version, checksum FROM ${t.heads} WHERE config_id = $1`,
            [key],
          );
          return rows[0] ? headOfRow(rows[0]) : undefined;
        },
        { ref: key },
        options.signal,
      );
    },

    async getVersion(refInput, version, options: ReadOptions = {}) {
      const ref = open(refInput);
      const key = refKey(ref);
      if (version !== undefined && (!Number.isSafeInteger(version) || version < 1 || version > MAX_VERSION)) {
        lifecycle.assertOpen();
        return undefined;
      }
      return op(() => readVersion(key, version), { ref: key, version }, options.signal);
    },

    async listHeads(query: ListQuery = {}, options: ReadOptions = {}) {
      lifecycle.assertOpen();
      const { where, params } = headFilter(query);
      return op(
        async () => {
          const { rows } = await client.query<HeadRow>(
            `SELECT h.config_id, h.scope, h.ref_id, h.version, h.checksum FROM ${t.heads} h ${where} ORDER BY h.config_id`,
            params,
          );
          return rows.map(headOfRow).sort(compareHeads);
        },
        {},
        options.signal,
      );
    },

    async getHeadDocuments(query: ListQuery = {}, options: ReadOptions = {}) {
      lifecycle.assertOpen();
      const { where, params } = headFilter(query);
      return op(
        async () => {
          const { rows } = await client.query<VersionRow & { config_id: string }>(
            `SELECT h.config_id, ${VERSION_COLUMNS} FROM ${t.heads} h
             JOIN ${t.versions} v ON v.config_id = h.config_id AND v.version = h.version
             ${where} ORDER BY h.config_id`,
            params,
          );
          return { docs: rows.map((row) => verifyStored(row.config_id, row)), source: name, stale: false };
        },
        {},
        options.signal,
      );
    },

    async listVersions(refInput, options: ReadOptions = {}) {
      const key = refKey(open(refInput));
      return op(
        async () => {
          const { rows } = await client.query<{ version: number }>(
            `SELECT version FROM ${t.versions} WHERE config_id = $1 ORDER BY version`,
            [key],
          );
          return rows.map((r) => r.version);
        },
        { ref: key },
        options.signal,
      );
    },

    async append(doc, options = {}) {
      lifecycle.assertOpen();
      const verified = checkDocument(doc);
      const { ref, version } = verified;
      const key = refKey(ref);
      const ctx = { ref: key, version };
      const tiers = unsyncedTiers(verified.metadata, name);
      throwIfAborted(options.signal);
      return op(async () => {
        const { rows } = await client.query<{ written: number }>(appendSql(version === 1), [
          ...versionParams(verified),
          tiers,
          channel,
          notifyPayload(ref, version),
        ]);
        if (rows[0]?.written !== 1) throw await conflictOf(client, key, version);
        feeds.noteWrite(headOf(verified));
        return verified;
      }, ctx);
    },

    async beginAppend(doc, options = {}) {
      lifecycle.assertOpen();
      const verified = checkDocument(doc);
      const { ref, version } = verified;
      const key = refKey(ref);
      const ctx = { ref: key, version };
      return op(() => holdAppend(verified, key, ctx), ctx, options.signal);
    },

    async listLagging(options = {}) {
      lifecycle.assertOpen();
      const limit = options.limit ?? 1000;
      if (!Number.isSafeInteger(limit) || limit < 1) throw errors.constraint('listLagging limit must be >= 1');
      return op(
        async () => {
          const { rows } = await client.query<HeadRow & { mirror_version: number }>(
            `SELECT config_id, scope, ref_id, version, checksum, mirror_version FROM ${t.heads}
             WHERE mirror_version < version ORDER BY config_id LIMIT $1`,
            [limit],
          );
          return rows.map((row) =>
            Object.freeze({ ref: headOfRow(row).ref, version: row.version, mirrored: row.mirror_version }),
          );
        },
        {},
        options.signal,
      );
    },

    async markMirrored(refInput, version) {
      const key = refKey(open(refInput));
      await op(
        async () => {
          await client.query(
            `UPDATE ${t.heads} SET mirror_version = LEAST(version, $2) WHERE config_id = $1 AND mirror_version < $2`,
            [key, version],
          );
        },
        { ref: key, version },
      );
    },

    async readEpoch(options = {}) {
      lifecycle.assertOpen();
      return op(
        async () => {
          const { rows } = await client.query<{ value: string }>(`SELECT value FROM ${t.meta} WHERE key = 'epoch'`);
          return rows[0]?.value;
        },
        {},
        options.signal,
      );
    },

    async writeEpoch(value, expected) {
      lifecycle.assertOpen();
      if (typeof value !== 'string' || value.length === 0) throw errors.constraint('epoch must be a non-empty string');
      return op(async () => {
        if (expected === undefined) {
          await client.query(`INSERT INTO ${t.meta} (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING`, [
            value,
          ]);
        } else {
          await client.query(`UPDATE ${t.meta} SET value = $1, updated_at = now() WHERE key = 'epoch' AND value = $2`, [
            value,
            expected,
          ]);
        }
        const { rows } = await client.query<{ value: string }>(`SELECT value FROM ${t.meta} WHERE key = 'epoch'`);
        return rows[0]?.value as string;
      });
    },

    async replace(doc, options) {
      lifecycle.assertOpen();
      const verified = checkDocument(doc);
      const { ref, version } = verified;
      const key = refKey(ref);
      const ctx = { ref: key, version };
      const reason = typeof options?.reason === 'string' ? options.reason : '';
      await op(async () => {
        const movedHead = await client.transaction(async (tx) => {
          const head = await tx.query<{ version: number }>(
            `SELECT version FROM ${t.heads} WHERE config_id = $1 FOR UPDATE`,
            [key],
          );
          const updated = await tx.query(
            `UPDATE ${t.versions}
               SET config = $3::json, overrides = $4::json, rollout = $5::json, checksum = $6, metadata = $7::json,
                   created_at = $8, created_by = $9, message = $10
             WHERE config_id = $1 AND version = $2`,
            [
              key,
              version,
              JSON.stringify(verified.config),
              JSON.stringify(verified.overrides),
              verified.rollout === null ? null : JSON.stringify(verified.rollout),
              verified.checksum,
              JSON.stringify(verified.metadata),
              verified.createdAt,
              verified.createdBy,
              verified.message,
            ],
          );
          if (updated.rowCount !== 1) {
            throw errors.notFound(`${key} has no version ${version} to replace`, { ...ctx, backend: name });
          }
          await tx.query(
            `INSERT INTO ${t.audit} (config_id, version, actor, action, message) VALUES ($1, $2, $3, 'replace', $4)`,
            [key, version, verified.createdBy, reason],
          );
          if (head.rows[0]?.version === version) {
            await tx.query(`UPDATE ${t.heads} SET checksum = $2, updated_at = now() WHERE config_id = $1`, [
              key,
              verified.checksum,
            ]);
            await notify(tx, ref, version);
            return true;
          }
          return false;
        });
        if (movedHead) feeds.noteWrite(headOf(verified));
      }, ctx);
    },

    watch(listener: HeadListener, options: WatchOptions = {}): Unwatch {
      lifecycle.assertOpen();
      const scope = options.scope === undefined ? undefined : parseScope(options.scope);
      return feeds.subscribe({
        scope,
        listener,
        onError: options.onError,
        initial: options.initial === true,
        signal: options.signal,
      });
    },

    async ack(ack: AppliedAck) {
      const ref = open(ack.ref);
      const key = refKey(ref);
      const environment = parseEnvironmentName(ack.environment);
      const ctx = { ref: key, version: ack.version, backend: name };
      if (typeof ack.instance !== 'string' || ack.instance.length === 0 || ack.instance.length > 256) {
        throw errors.constraint('ack instance must be a string of 1-256 characters', ctx);
      }
      if (!Number.isSafeInteger(ack.version) || ack.version < 1 || ack.version > MAX_VERSION) {
        throw errors.constraint('ack version must be a positive integer', ctx);
      }
      if (typeof ack.checksum !== 'string' || ack.checksum.length > 64) {
        throw errors.constraint('ack checksum must be a string of at most 64 characters', ctx);
      }
      if (ack.status !== 'applied' && ack.status !== 'rejected') {
        throw errors.constraint('ack status must be "applied" or "rejected"', ctx);
      }
      if (ack.reason !== undefined && typeof ack.reason !== 'string') {
        throw errors.constraint('ack reason must be a string', ctx);
      }
      if (typeof ack.at !== 'string' || Number.isNaN(Date.parse(ack.at))) {
        throw errors.constraint('ack at must be an ISO-8601 timestamp', ctx);
      }
      await op(async () => {
        await client.query(
          `INSERT INTO ${t.acks}
             (config_id, scope, ref_id, environment, instance, version, checksum, status, reason, applied_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (config_id, environment, instance) DO UPDATE
             SET version = EXCLUDED.version, checksum = EXCLUDED.checksum, status = EXCLUDED.status,
                 reason = EXCLUDED.reason, applied_at = EXCLUDED.applied_at`,
          [
            key,
            ref.scope,
            ref.id,
            environment,
            ack.instance,
            ack.version,
            ack.checksum,
            ack.status,
            ack.reason ?? null,
            ack.at,
          ],
        );
      }, ctx);
    },

    async listAcks(refInput) {
      const key = refKey(open(refInput));
      return op(
        async () => {
          const { rows } = await client.query<AckRow>(
            `SELECT scope, ref_id, environment, instance, version, checksum, status, reason, applied_at
             FROM ${t.acks} WHERE config_id = $1 ORDER BY environment, instance`,
            [key],
          );
          return rows.map(
            (row): AppliedAck =>
              Object.freeze({
                ref: Object.freeze({ scope: row.scope as Scope, id: row.ref_id }),
                environment: row.environment,
                instance: row.instance,
                version: row.version,
                checksum: row.checksum,
                status: row.status,
                ...(row.reason === null ? {} : { reason: row.reason }),
                at: iso(row.applied_at),
              }),
          );
        },
        { ref: key },
      );
    },

    async markUnsynced(refInput, version, tiers) {
      const key = refKey(open(refInput));
      const list = [...new Set(tiers)];
      if (list.some((tier) => typeof tier !== 'string' || tier.length === 0)) {
        throw errors.constraint('tiers must be non-empty strings', { ref: key, version });
      }
      await op(
        async () => {
          await client.transaction((tx) => recordUnsynced(tx, key, version, list));
        },
        { ref: key, version },
      );
    },

    async markSynced(refInput, version, tier) {
      const key = refKey(open(refInput));
      await op(
        async () => {
          await client.query(
            `UPDATE ${t.sync} SET synced = true, synced_at = now()
           WHERE config_id = $1 AND version = $2 AND tier = $3 AND NOT synced`,
            [key, version, tier],
          );
        },
        { ref: key, version },
      );
    },

    async listUnsynced(query = {}) {
      lifecycle.assertOpen();
      const limit = query.limit ?? 1000;
      if (!Number.isSafeInteger(limit) || limit < 1) throw errors.constraint('listUnsynced limit must be >= 1');
      return op(async () => {
        const { rows } = await client.query<{
          config_id: string;
          version: number;
          tier: string;
          recorded_at: Date | string;
        }>(
          `SELECT config_id, version, tier, recorded_at FROM ${t.sync}
           WHERE NOT synced AND ($1::text IS NULL OR tier = $1)
           ORDER BY recorded_at, config_id, version LIMIT $2`,
          [query.tier ?? null, limit],
        );
        return rows.map(
          (row): UnsyncedVersion =>
            Object.freeze({
              ref: parseRef(row.config_id),
              version: row.version,
              tier: row.tier,
              recordedAt: iso(row.recorded_at),
            }),
        );
      });
    },

    migrate() {
      return op(() => ensureReady());
    },

    async ping(options = {}) {
      lifecycle.assertOpen();
      throwIfAborted(options.signal);
      try {
        await abortable(client.query('SELECT 1'), options.signal);
      } catch (error) {
        throw fail(error);
      }
    },

    close() {
      return lifecycle.close(async () => {
        await feeds.closeAll();
        await client.close();
      });
    },

    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}

// ---------------------------------------------------------------- watch

interface Subscriber {
  readonly scope: Scope | undefined;
  readonly listener: HeadListener;
  readonly onError: ((error: ConfigError) => void) | undefined;
  /** Receives live changes (false until its initial heads were delivered). */
  live: boolean;
  removed: boolean;
}

interface SubscribeOptions {
  scope: Scope | undefined;
  listener: HeadListener;
  onError: ((error: ConfigError) => void) | undefined;
  initial: boolean;
  signal: AbortSignal | undefined;
}

interface FeedDeps {
  name: string;
  client: SqlClient;
  channel: string;
  headsTable: string;
  ensureReady: () => Promise<void>;
  resyncIntervalMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  logger?: StoreLogger;
}

/** Owns the store's one feed: started by the first subscriber, stopped after the last. */
class FeedRegistry {
  readonly #deps: FeedDeps;
  #feed: HeadFeed | undefined;
  readonly #stopping = new Set<Promise<void>>();

  constructor(deps: FeedDeps) {
    this.#deps = deps;
  }

  subscribe(options: SubscribeOptions): Unwatch {
    if (options.signal?.aborted) return () => {};
    this.#feed ??= new HeadFeed(this.#deps);
    const feed = this.#feed;
    const sub: Subscriber = {
      scope: options.scope,
      listener: options.listener,
      onError: options.onError,
      live: !options.initial,
      removed: false,
    };
    feed.add(sub, options.initial);
    let offAbort = () => {};
    const unwatch = () => {
      if (sub.removed) return;
      offAbort();
      if (feed.remove(sub) === 0 && this.#feed === feed) {
        this.#feed = undefined;
        const stopped = feed.stop().finally(() => this.#stopping.delete(stopped));
        this.#stopping.add(stopped);
      }
    };
    offAbort = onAbort(options.signal, unwatch);
    return unwatch;
  }

  /** A write through this store committed: see {@link HeadFeed.noteWrite}. */
  noteWrite(head: Head): void {
    this.#feed?.noteWrite(head);
  }

  async closeAll(): Promise<void> {
    const feed = this.#feed;
    this.#feed = undefined;
    if (feed) {
      feed.clear();
      this.#stopping.add(feed.stop());
    }
    await Promise.all([...this.#stopping]);
  }
}

/**
 * One LISTEN connection and the heads it has emitted. All work (resyncs, notification drains,
 * initial deliveries) runs through one queue, so each ref's changes are emitted once and in order.
 */
class HeadFeed {
  readonly #deps: FeedDeps;
  readonly #subs = new Set<Subscriber>();
  /** Heads as last emitted; complete once `#baseline` is true. */
  readonly #known = new Map<string, Head>();
  #baseline = false;
  /** Refs written through this store after the feed started and before its first load. */
  readonly #earlyWrites = new Set<string>();
  /** Subscribers that asked for `initial` and wait for the first complete load. */
  #awaitingInitial: Subscriber[] = [];
  #queue: Promise<void> = Promise.resolve();
  readonly #pending = new Set<string>();
  #drainQueued = false;
  #resyncQueued = false;
  readonly #stop = new AbortController();
  #listener: SqlListener | undefined;
  #lost: ((error: Error) => void) | undefined;
  #checking = false;
  readonly #timer: NodeJS.Timeout;
  readonly #loop: Promise<void>;

  constructor(deps: FeedDeps) {
    this.#deps = deps;
    this.#timer = setInterval(() => this.#periodic(), deps.resyncIntervalMs);
    this.#timer.unref();
    this.#loop = this.#run();
  }

  add(sub: Subscriber, initial: boolean): void {
    this.#subs.add(sub);
    if (!initial) return;
    if (this.#baseline) this.#enqueue(async () => this.#deliverInitial(sub));
    else this.#awaitingInitial.push(sub);
  }

  /**
   * Records a write made through this store. The first load after LISTEN is a silent baseline, so a
   * write that committed between `watch()` and that load would never be emitted; those refs are
   * emitted right after the baseline instead (with their head as loaded).
   */
  noteWrite(head: Head): void {
    if (!this.#baseline && !this.#stopped) this.#earlyWrites.add(refKey(head.ref));
  }

  /** Removes a subscriber; returns how many remain. */
  remove(sub: Subscriber): number {
    sub.removed = true;
    this.#subs.delete(sub);
    return this.#subs.size;
  }

  clear(): void {
    for (const sub of this.#subs) sub.removed = true;
    this.#subs.clear();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#timer);
    this.#lost?.(new Error('stopped'));
    await this.#loop;
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  // -- connection loop

  async #run(): Promise<void> {
    const deps = this.#deps;
    let attempt = 0;
    while (!this.#stopped) {
      let listener: SqlListener | undefined;
      try {
        await deps.ensureReady();
        const lost = new Promise<Error>((resolve) => {
          this.#lost = resolve;
        });
        listener = await deps.client.listen(deps.channel, {
          onNotify: (payload) => this.#onNotify(payload),
          onLost: (error) => this.#lost?.(error),
        });
        if (this.#stopped) break;
        this.#listener = listener;
        // Listening first, then reading: a change is either in this read or notified after it.
        await this.#enqueue(() => this.#resync(), true);
        attempt = 0;
        const error = await lost;
        if (this.#stopped) break;
        this.#report(errors.unavailable(deps.name, error));
      } catch (error) {
        if (this.#stopped) break;
        this.#report(mapSqlError(error, deps.name));
      } finally {
        this.#listener = undefined;
        this.#lost = undefined;
        if (listener) await listener.close();
      }
      if (this.#stopped) break;
      await delay(backoffDelay(attempt++, deps.reconnectBaseMs, deps.reconnectMaxMs), this.#stop.signal).catch(
        () => {},
      );
    }
  }

  /** Drops the current connection (the loop reconnects and resyncs). */
  #reconnect(error: unknown): void {
    this.#lost?.(error instanceof Error ? error : new Error(String(error)));
  }

  #periodic(): void {
    const listener = this.#listener;
    if (!listener || !this.#baseline || this.#checking || this.#stopped) return;
    this.#checking = true;
    listener
      .check()
      .then(
        () => this.#requestResync(),
        (error: unknown) => this.#reconnect(error),
      )
      .finally(() => {
        this.#checking = false;
      });
  }

  // -- work queue

  /**
   * Appends `task` to the queue. Failures drop the connection (reconnect and resync), unless
   * `propagate` is set, in which case the returned promise rejects instead.
   */
  #enqueue(task: () => Promise<void>, propagate = false): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#stopped) return;
      await task();
    });
    this.#queue = run.catch((error: unknown) => {
      if (!propagate) this.#reconnect(error);
    });
    return propagate ? run : this.#queue;
  }

  #requestResync(): void {
    if (this.#resyncQueued) return;
    this.#resyncQueued = true;
    void this.#enqueue(async () => {
      this.#resyncQueued = false;
      await this.#resync();
    });
  }

  #onNotify(payload: string): void {
    let parsed: { scope?: unknown; id?: unknown; version?: unknown };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      this.#requestResync();
      return;
    }
    if (typeof parsed?.scope !== 'string' || typeof parsed.id !== 'string') {
      this.#requestResync();
      return;
    }
    const key = `${parsed.scope}/${parsed.id}`;
    const known = this.#known.get(key);
    // Already emitted (the drain of an earlier notification read a newer head).
    if (this.#baseline && known && typeof parsed.version === 'number' && known.version > parsed.version) return;
    this.#pending.add(key);
    if (this.#drainQueued) return;
    this.#drainQueued = true;
    void this.#enqueue(async () => {
      this.#drainQueued = false;
      const keys = [...this.#pending];
      this.#pending.clear();
      if (keys.length === 0) return;
      try {
        const { rows } = await this.#deps.client.query<HeadRow>(
          `SELECT config_id, scope, ref_id, version, checksum FROM ${this.#deps.headsTable}
           WHERE config_id = ANY($1::text[]) ORDER BY config_id`,
          [keys],
        );
        for (const row of rows) this.#observe(headOfRow(row));
      } catch (error) {
        for (const key of keys) this.#pending.add(key);
        throw error;
      }
    });
  }

  async #resync(): Promise<void> {
    const { rows } = await this.#deps.client.query<HeadRow>(
      `SELECT config_id, scope, ref_id, version, checksum FROM ${this.#deps.headsTable} ORDER BY config_id`,
    );
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.config_id);
      this.#observe(headOfRow(row));
    }
    for (const key of [...this.#known.keys()]) if (!seen.has(key)) this.#known.delete(key);
    if (!this.#baseline) {
      this.#baseline = true;
      const early = [...this.#earlyWrites].sort();
      this.#earlyWrites.clear();
      for (const key of early) {
        const head = this.#known.get(key);
        if (head) this.#emit(head);
      }
      const waiting = this.#awaitingInitial;
      this.#awaitingInitial = [];
      for (const sub of waiting) this.#deliverInitial(sub);
    }
  }

  /** Emits `head` when it differs (version or checksum) from the last one seen for its ref. */
  #observe(head: Head): void {
    const key = refKey(head.ref);
    const previous = this.#known.get(key);
    if (previous && previous.version === head.version && previous.checksum === head.checksum) return;
    this.#known.set(key, head);
    if (this.#baseline) this.#emit(head);
  }

  /** Delivers `head` as a change to every live subscriber of its scope. */
  #emit(head: Head): void {
    const change = headChange(head, false);
    for (const sub of [...this.#subs]) {
      if (sub.live && (sub.scope === undefined || sub.scope === head.ref.scope)) this.#call(sub, change);
    }
  }

  #deliverInitial(sub: Subscriber): void {
    if (sub.removed) return;
    const heads = [...this.#known.values()]
      .filter((h) => sub.scope === undefined || h.ref.scope === sub.scope)
      .sort(compareHeads);
    for (const head of heads) this.#call(sub, headChange(head, true));
    sub.live = true;
  }

  #call(sub: Subscriber, change: HeadChange): void {
    if (sub.removed) return;
    try {
      sub.listener(change);
    } catch (error) {
      this.#tell(sub, errors.constraint(`watch listener threw: ${String(error)}`, { cause: error }));
    }
  }

  #report(error: ConfigError): void {
    this.#deps.logger?.warn?.({ err: error, backend: this.#deps.name }, 'watch: LISTEN connection problem, retrying');
    for (const sub of [...this.#subs]) this.#tell(sub, error);
  }

  #tell(sub: Subscriber, error: ConfigError): void {
    if (sub.removed) return;
    try {
      sub.onError?.(error);
    } catch {
      // A failing error reporter must not break the feed.
    }
  }
}
