/**
 * Anti-entropy between two durable stores outside a failover chain (the leader's pass, tests,
 * tools): see heal.ts for the rule. The record keeps every version under its number; the mirror is
 * brought in line with it, and content only the mirror held is copied or re-appended, never dropped.
 */
import type { ConfigStore } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import { type HealOptions, healChain, type ReconcileReport } from './heal.js';

export type { CopiedVersion, ReconcileConflict, ReconcileReport, RejectedVersion } from './heal.js';

export type ReconcileOptions = HealOptions;

/**
 * Reconciles `[mirror, record]` (either order): the record is the store with `capabilities.record`,
 * else the one that keeps every version (no `historyLimit`), else the second. Idempotent: a second
 * run with no writes in between changes nothing.
 */
export async function reconcile(
  stores: readonly ConfigStore[],
  options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  if (stores.length !== 2) throw errors.constraint('reconcile needs exactly two stores: a mirror and a record');
  const [a, b] = stores as [ConfigStore, ConfigStore];
  const record =
    [a, b].find((s) => s.capabilities.record) ??
    (a.capabilities.historyLimit === undefined && b.capabilities.historyLimit !== undefined ? a : b);
  const mirror = record === a ? b : a;
  return healChain({ record, mirror }, { ...options, full: true });
}
