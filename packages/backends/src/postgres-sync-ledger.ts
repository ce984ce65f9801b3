/**
 * The sync ledger of the PostgreSQL store: per (ref, version, tier), whether that tier holds the
 * version yet. An append records the tiers its document's `metadata.unsynced` names, atomically.
 */
import { type ConfigRef, parseRef, refKey } from '@summit-config/core';
import { errors, isPlainObject } from '@summit-config/core/internal';
import { listLimit } from './integers.js';
import type { SqlStoreContext } from './postgres-context.js';
import { iso } from './postgres-rows.js';
import type { SqlQueryable } from './sql-client.js';

/** A version some tier does not hold yet (see `PostgresStore.listUnsynced`). */
export interface UnsyncedVersion {
  readonly ref: ConfigRef;
  readonly version: number;
  readonly tier: string;
  /** ISO-8601 UTC time the gap was recorded. */
  readonly recordedAt: string;
}

export interface SyncLedgerMembers {
  markUnsynced(ref: ConfigRef, version: number, tiers: readonly string[]): Promise<void>;
  markSynced(ref: ConfigRef, version: number, tier: string): Promise<void>;
  listUnsynced(query?: { tier?: string; limit?: number }): Promise<UnsyncedVersion[]>;
}

/** The tiers a document's `metadata.unsynced` names (a string or an array of strings), other than `own`. */
export function unsyncedTiers(metadata: unknown, own: string): string[] {
  if (!isPlainObject(metadata)) return [];
  const raw = metadata.unsynced;
  const list = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
  return [...new Set(list.filter((t): t is string => typeof t === 'string' && t.length > 0 && t !== own))];
}

export function syncLedgerMembers(ctx: SqlStoreContext): SyncLedgerMembers {
  const { client, lifecycle, op } = ctx;
  const sync = ctx.tables.sync;

  async function recordUnsynced(tx: SqlQueryable, key: string, version: number, tiers: readonly string[]) {
    for (const tier of tiers) {
      await tx.query(
        `INSERT INTO ${sync} (config_id, version, tier, synced) VALUES ($1, $2, $3, false)
         ON CONFLICT (config_id, version, tier) DO UPDATE SET synced = false, synced_at = NULL`,
        [key, version, tier],
      );
    }
  }

  return {
    async markUnsynced(refInput, version, tiers) {
      const key = refKey(ctx.open(refInput));
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
      const key = refKey(ctx.open(refInput));
      await op(
        async () => {
          await client.query(
            `UPDATE ${sync} SET synced = true, synced_at = now()
           WHERE config_id = $1 AND version = $2 AND tier = $3 AND NOT synced`,
            [key, version, tier],
          );
        },
        { ref: key, version },
      );
    },

    async listUnsynced(query = {}) {
      lifecycle.assertOpen();
      const limit = listLimit(query.limit, 'listUnsynced');
      return op(async () => {
        const { rows } = await client.query<{
          config_id: string;
          version: number;
          tier: string;
          recorded_at: Date | string;
        }>(
          `SELECT config_id, version, tier, recorded_at FROM ${sync}
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
  };
}
