/**
 * The one PostgreSQL store implementation, written against the SQL seam (`sql-client.ts`), behind
 * both `createPostgresStore` (`pg`) and `createPgliteStore` (embedded PGlite).
 *
 * - Append is one transaction: lock the head row, check the expected version, insert the version,
 *   move the head, write the audit row, record sync bookkeeping, `pg_notify({scope,id,version})`
 *   (the statements: postgres-sql.ts).
 * - Reads verify every document against its checksum (postgres-rows.ts).
 * - Watch runs on one LISTEN connection shared by every listener of the store (postgres-watch.ts).
 * - The failover record's members (`beginAppend`, lagging refs, epoch) are in postgres-record.ts,
 *   acknowledgements in postgres-acks.ts, the sync ledger in postgres-sync-ledger.ts.
 */
import {
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  type HeadListener,
  type ListQuery,
  type ReadOptions,
  refKey,
  type StoreCapabilities,
  type Unwatch,
  type WatchOptions,
} from '@summit-config/core';
import { compareHeads, errors, headOf, parseScope, throwIfAborted } from '@summit-config/core/internal';
import { isIntegerIn } from './integers.js';
import { ackMembers } from './postgres-acks.js';
import { abortable, createSqlContext } from './postgres-context.js';
import type { MigrationResult } from './postgres-migrations.js';
import { conflictOf, recordMembers } from './postgres-record.js';
import {
  checkDocument,
  contentParams,
  type HeadRow,
  headOfRow,
  MAX_VERSION,
  VERSION_COLUMNS,
  type VersionRow,
  verifyStored,
  versionParams,
} from './postgres-rows.js';
import { appendSql, replaceVersionSql } from './postgres-sql.js';
import { syncLedgerMembers, type UnsyncedVersion, unsyncedTiers } from './postgres-sync-ledger.js';
import { channelFor, FeedRegistry, notifyPayload } from './postgres-watch.js';
import { escapeLike, type SqlClient, type SqlPoolStats, type StoreLogger } from './sql-client.js';

export type { UnsyncedVersion } from './postgres-sync-ledger.js';

/** The statements of reads and appends: prepared once per connection where the driver can. */
const PREPARED = { prepare: true } as const;

export { channelFor } from './postgres-watch.js';

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
  /**
   * The connection pool's counts now (`total`, `idle`, `waiting`, `max`), for metrics; undefined on
   * PGlite (no pool). Never throws, also after close (all zero then).
   */
  poolStats(): SqlPoolStats | undefined;
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

export function createSqlStore(config: SqlStoreConfig): PostgresStore {
  const { client, name, logger } = config;
  const ctx = createSqlContext(config);
  const { lifecycle, limits, op, open, fail, ensureReady } = ctx;
  const t = ctx.tables;
  const channel = channelFor(config.schema);
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

  async function readVersion(key: string, version: number | undefined): Promise<ConfigVersion | undefined> {
    const { rows } =
      version === undefined
        ? await client.query<VersionRow>(
            `SELECT ${VERSION_COLUMNS} FROM ${t.heads} h
             JOIN ${t.versions} v ON v.config_id = h.config_id AND v.version = h.version
             WHERE h.config_id = $1`,
            [key],
            PREPARED,
          )
        : await client.query<VersionRow>(
            `SELECT ${VERSION_COLUMNS} FROM ${t.versions} v WHERE v.config_id = $1 AND v.version = $2`,
            [key, version],
            PREPARED,
          );
    const row = rows[0];
    return row ? verifyStored(key, row, limits, name) : undefined;
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

    poolStats() {
      return client.poolStats?.();
    },

    async getHead(refInput, options: ReadOptions = {}) {
      const ref = open(refInput);
      const key = refKey(ref);
      return op(
        async () => {
          const { rows } = await client.query<HeadRow>(
            `SELECT config_id, scope, ref_id, version, checksum FROM ${t.heads} WHERE config_id = $1`,
            [key],
            PREPARED,
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
      if (version !== undefined && !isIntegerIn(version, 1, MAX_VERSION)) {
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
          return {
            docs: rows.map((row) => verifyStored(row.config_id, row, limits, name)),
            source: name,
            stale: false,
          };
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
      const verified = checkDocument(doc, limits, name);
      const { ref, version } = verified;
      const key = refKey(ref);
      const tiers = unsyncedTiers(verified.metadata, name);
      throwIfAborted(options.signal);
      return op(
        async () => {
          const { rows } = await client.query<{ written: number }>(
            appendSql(t, version === 1),
            [...versionParams(verified), tiers, channel, notifyPayload(ref, version)],
            PREPARED,
          );
          if (rows[0]?.written !== 1) throw await conflictOf(ctx, client, key, version);
          feeds.noteWrite(headOf(verified));
          return verified;
        },
        { ref: key, version },
      );
    },

    ...recordMembers(ctx, channel, (head) => feeds.noteWrite(head)),

    async replace(doc, options) {
      lifecycle.assertOpen();
      const verified = checkDocument(doc, limits, name);
      const { ref, version } = verified;
      const key = refKey(ref);
      const opCtx = { ref: key, version };
      const reason = typeof options?.reason === 'string' ? options.reason : '';
      await op(async () => {
        const movedHead = await client.transaction(async (tx) => {
          const head = await tx.query<{ version: number }>(
            `SELECT version FROM ${t.heads} WHERE config_id = $1 FOR UPDATE`,
            [key],
          );
          const updated = await tx.query(replaceVersionSql(t), [key, version, ...contentParams(verified)]);
          if (updated.rowCount !== 1) {
            throw errors.notFound(`${key} has no version ${version} to replace`, { ...opCtx, backend: name });
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
            await tx.query('SELECT pg_notify($1, $2)', [channel, notifyPayload(ref, version)]);
            return true;
          }
          return false;
        });
        if (movedHead) feeds.noteWrite(headOf(verified));
      }, opCtx);
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

    ...ackMembers(ctx),
    ...syncLedgerMembers(ctx),

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
