/**
 * Reading what a migration touches: the refs its selector matches, its ref records brought up to
 * date with their change requests, and writes of a run that the history lost (found again by the
 * `migration` metadata the versions and requests carry).
 */
import type { ChangeRequest } from '../approvals/types.js';
import { isConfigError } from '../errors/config-error.js';
import { type ConfigRef, refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import type { Actor } from '../rbac/rbac.js';
import type { MigrationRecord, MigrationRefRecord } from '../store/migration-history.js';
import { compileIdPattern, compileScopePattern } from './glob.js';
import { afterOf, beforeOf, markedBy } from './run-records.js';
import type { RunnerContext } from './runner-context.js';
import type { Migration } from './types.js';

/** The refs `m` selects, sorted by key. */
export async function selectRefs(ctx: RunnerContext, actor: Actor, m: Migration): Promise<ConfigRef[]> {
  const scopes = m.selector.scopes.map((p) => compileScopePattern(p));
  const ids = m.selector.ids.map((p) => compileIdPattern(p));
  const literalScope =
    scopes.length === 1 && scopes[0]?.literal ? (scopes[0].pattern as ConfigRef['scope']) : undefined;
  const found = new Map<string, ConfigRef>();
  for (const prefix of new Set(ids.map((p) => p.prefix))) {
    const heads = await ctx.service.list(actor, literalScope ? { scope: literalScope, prefix } : { prefix });
    for (const head of heads) {
      if (!scopes.some((s) => s.matches(head.ref.scope))) continue;
      if (!ids.some((p) => p.matches(head.ref.id))) continue;
      found.set(refKey(head.ref), head.ref);
    }
  }
  return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, ref]) => ref);
}

async function requestOrUndefined(ctx: RunnerContext, actor: Actor, id: string): Promise<ChangeRequest | undefined> {
  try {
    return await ctx.service.getRequest(actor, id);
  } catch (error) {
    if (isConfigError(error, 'NOT_FOUND')) return undefined;
    throw error;
  }
}

/** How a change request ended: `declined` (gone, rejected, expired, cancelled), the version it applied, or undefined while undecided. */
async function decision(
  ctx: RunnerContext,
  actor: Actor,
  ref: string,
  requestId: string,
): Promise<'declined' | ConfigVersion | undefined> {
  const request = await requestOrUndefined(ctx, actor, requestId);
  if (!request || ['rejected', 'expired', 'cancelled'].includes(request.status)) return 'declined';
  if (request.status === 'applied' && request.appliedVersion !== undefined) {
    return ctx.service.getVersion(actor, ref, request.appliedVersion);
  }
  return undefined;
}

/** Brings `proposed` ref records (and proposed rollbacks) up to date with their change requests. */
export async function syncRefs(
  ctx: RunnerContext,
  actor: Actor,
  refs: MigrationRefRecord[],
  persist: boolean,
): Promise<MigrationRefRecord[]> {
  const out: MigrationRefRecord[] = [];
  for (const r of refs) {
    let next = r;
    if (r.state === 'proposed' && r.requestId) {
      const decided = await decision(ctx, actor, r.ref, r.requestId);
      if (decided === 'declined') next = { ...r, state: 'declined' };
      else if (decided) next = { ...r, state: 'applied', ...afterOf(decided) };
    }
    if (next.rollback?.state === 'proposed' && next.rollback.requestId) {
      const decided = await decision(ctx, actor, next.ref, next.rollback.requestId);
      if (decided === 'declined') next = { ...next, rollback: { ...next.rollback, state: 'declined' } };
      else if (decided) {
        next = {
          ...next,
          rollback: { ...next.rollback, state: 'rolled_back', version: decided.version, checksum: decided.checksum },
        };
      }
    }
    if (next !== r && persist) await ctx.history.saveRef(next);
    out.push(next);
  }
  return out;
}

/** The ref records of the record's run, up to date with their change requests. */
export async function latestRefs(
  ctx: RunnerContext,
  actor: Actor,
  record: MigrationRecord,
  persist: boolean,
): Promise<MigrationRefRecord[]> {
  return syncRefs(ctx, actor, await ctx.history.listRefs(record.name, record.run), persist);
}

/** A write (or change request) of this run for `key` that the history did not record (lost to a crash). */
export async function findPrior(
  ctx: RunnerContext,
  actor: Actor,
  m: Migration,
  run: number,
  key: string,
): Promise<MigrationRefRecord | undefined> {
  const { service } = ctx;
  const found = (
    state: 'applied' | 'proposed',
    before: ConfigVersion,
    rest: Partial<MigrationRefRecord>,
  ): MigrationRefRecord => ({
    migration: m.name,
    run,
    ref: key,
    state,
    ...beforeOf(before),
    ...rest,
    recordedAt: ctx.now(),
  });
  const summaries = await service.history(actor, key, { limit: ctx.lookback });
  const written = summaries.find((s) => markedBy(s.metadata, m.name, run));
  if (written) {
    const before = await service.getVersion(actor, key, written.version - 1);
    return found('applied', before, afterOf(await service.getVersion(actor, key, written.version)));
  }
  const requests = await service.listRequests(actor, { ref: key, status: ['pending', 'approved'] });
  const proposed = requests.find((r) => markedBy(r.proposed.metadata, m.name, run));
  if (proposed) {
    const before = await service.getVersion(actor, key, proposed.baseVersion);
    return found('proposed', before, { requestId: proposed.id });
  }
  return undefined;
}
