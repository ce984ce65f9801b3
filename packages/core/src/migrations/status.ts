/** Status: every known migration (and any the history knows that is no longer defined). Reads only. */
import type { Actor } from '../rbac/rbac.js';
import type { MigrationRecord } from '../store/migration-history.js';
import { latestRefs } from './ref-records.js';
import type { RunnerContext } from './runner-context.js';
import type { MigrationStatusEntry } from './runner-types.js';
import type { Migration } from './types.js';

async function describe(
  ctx: RunnerContext,
  actor: Actor,
  name: string,
  m: Migration | undefined,
  record: MigrationRecord | undefined,
): Promise<MigrationStatusEntry> {
  const refs = record ? await latestRefs(ctx, actor, record, false) : [];
  const counts = { applied: 0, proposed: 0, unchanged: 0, declined: 0, rolledBack: 0 };
  for (const r of refs) {
    counts[r.state]++;
    if (r.rollback?.state === 'rolled_back' || r.rollback?.state === 'cancelled') counts.rolledBack++;
  }
  const entry: MigrationStatusEntry = {
    name,
    version: m?.version ?? record?.version ?? '',
    description: m?.description ?? record?.description ?? '',
    kind: m?.kind ?? record?.kind,
    dependencies: [...(m?.dependencies ?? record?.dependencies ?? [])],
    state: record?.status ?? 'pending',
    changed: m !== undefined && record !== undefined && record.checksum !== m.checksum,
    defined: m !== undefined,
    counts,
    pendingRequests: refs.filter((r) => r.state === 'proposed' && r.requestId).map((r) => r.requestId as string),
  };
  if (record) entry.record = record;
  return entry;
}

export async function migrationStatus(ctx: RunnerContext, actor: Actor): Promise<MigrationStatusEntry[]> {
  const records = new Map((await ctx.history.list()).map((r) => [r.name, r]));
  const out: MigrationStatusEntry[] = [];
  for (const m of ctx.ordered) out.push(await describe(ctx, actor, m.name, m, records.get(m.name)));
  for (const [name, record] of records) {
    if (!ctx.byName.has(name)) out.push(await describe(ctx, actor, name, undefined, record));
  }
  return out;
}
