/**
 * Applying: each ref through the change service (`set`, or `propose` where a guarded environment
 * needs approval), progress recorded per ref so a run that stopped part-way resumes where it
 * stopped and never applies a ref twice.
 */
import { type ConfigRef, refKey } from '../model/ref.js';
import type { Actor } from '../rbac/rbac.js';
import { isTombstone } from '../service/diff.js';
import type {
  MigrationLock,
  MigrationRecord,
  MigrationRefRecord,
  MigrationRunStatus,
} from '../store/migration-history.js';
import { throwIfAborted } from '../util/abort.js';
import { migrateContent, sameContent } from './operations.js';
import { findPrior, selectRefs } from './ref-records.js';
import {
  afterOf,
  afterWriteError,
  beforeOf,
  cannotApply,
  contentOf,
  errorInfo,
  metadataOf,
  migrationMessage,
  nextRun,
} from './run-records.js';
import type { RunnerContext } from './runner-context.js';
import type { ApplyReport, MigrationApplyResult, MigrationPlan } from './runner-types.js';
import type { Migration } from './types.js';

function recordOf(
  m: Migration,
  status: MigrationRunStatus,
  run: number,
  actor: Actor,
  startedAt: string,
): MigrationRecord {
  return {
    name: m.name,
    version: m.version,
    checksum: m.checksum,
    kind: m.kind,
    description: m.description,
    dependencies: [...m.dependencies],
    status,
    run,
    appliedBy: actor.id,
    startedAt,
  };
}

/** Migrates one ref and records it; undefined when the ref is gone (deleted meanwhile). */
async function migrateRef(
  ctx: RunnerContext,
  actor: Actor,
  m: Migration,
  run: number,
  ref: ConfigRef,
  resuming: boolean,
  signal: AbortSignal | undefined,
): Promise<MigrationRefRecord | undefined> {
  const { service, history } = ctx;
  const key = refKey(ref);
  if (resuming) {
    const prior = await findPrior(ctx, actor, m, run, key);
    if (prior) {
      await history.saveRef(prior);
      return prior;
    }
  }
  for (let attempt = 0; ; attempt++) {
    const doc = await service.get(actor, key);
    if (!doc || isTombstone(doc)) return undefined;
    const before = contentOf(doc);
    const after = await migrateContent(m, doc.ref, before);
    const base = { migration: m.name, run, ref: key, ...beforeOf(doc), recordedAt: ctx.now() };
    let record: MigrationRefRecord;
    if (sameContent(before, after)) record = { ...base, state: 'unchanged' };
    else {
      const input = { ref: key, ...after, metadata: metadataOf(m, run), message: migrationMessage(m, run) };
      try {
        const written = await service.set(actor, input, { expectedVersion: doc.version, signal });
        record = { ...base, state: 'applied', ...afterOf(written) };
      } catch (error) {
        if (afterWriteError(error, attempt) === 'retry') continue;
        const request = await service.propose(actor, { ...input, kind: 'set', baseVersion: doc.version });
        record = { ...base, state: 'proposed', requestId: request.id };
      }
    }
    await history.saveRef(record);
    return record;
  }
}

/** Applies one migration (or skips it when another runner applied it), holding `lock`. */
async function runMigration(
  ctx: RunnerContext,
  actor: Actor,
  m: Migration,
  lock: MigrationLock,
  signal: AbortSignal | undefined,
): Promise<MigrationApplyResult> {
  const { history } = ctx;
  const existing = await history.get(m.name);
  if (existing?.status === 'applied' && existing.checksum === m.checksum) {
    return {
      name: m.name,
      run: existing.run,
      outcome: 'skipped',
      refs: await history.listRefs(m.name, existing.run),
      written: 0,
      resumed: 0,
    };
  }
  const cannot = cannotApply(m, existing);
  if (cannot) throw cannot;
  const { resuming, run } = nextRun(existing);
  const record = recordOf(m, 'running', run, actor, resuming ? (existing as MigrationRecord).startedAt : ctx.now());
  await history.save(record, existing ? { status: existing.status, run: existing.run } : undefined);
  const done = new Map((await history.listRefs(m.name, run)).map((r) => [r.ref, r]));
  const result: MigrationApplyResult = { name: m.name, run, outcome: 'applied', refs: [], written: 0, resumed: 0 };
  try {
    const refs = await selectRefs(ctx, actor, m);
    for (const [i, ref] of refs.entries()) {
      throwIfAborted(signal);
      const key = refKey(ref);
      const progress = (outcome: string) =>
        ctx.progress({ phase: 'apply', migration: m.name, ref: key, outcome, index: i + 1, total: refs.length });
      if (done.has(key)) {
        result.resumed++;
        progress('skipped');
        continue;
      }
      await lock.check();
      const rec = await migrateRef(ctx, actor, m, run, ref, resuming, signal);
      if (!rec) continue;
      done.set(key, rec);
      if (rec.state === 'applied' || rec.state === 'proposed') result.written++;
      progress(rec.state);
    }
    await history.save({ ...record, status: 'applied', finishedAt: ctx.now() }, { status: 'running', run });
  } catch (error) {
    await history
      .save({ ...record, status: 'failed', error: errorInfo(error) }, { status: 'running', run })
      .catch(() => undefined);
    throw error;
  }
  result.refs = await history.listRefs(m.name, run);
  return result;
}

/** Dependencies of `m` not applied yet, or whose change requests are still pending. */
async function blockersOf(ctx: RunnerContext, m: Migration): Promise<string[]> {
  const blockedBy: string[] = [];
  for (const dep of m.dependencies) {
    const rec = await ctx.history.get(dep);
    if (rec?.status !== 'applied') blockedBy.push(dep);
    else if ((await ctx.history.listRefs(dep, rec.run)).some((r) => r.state === 'proposed')) blockedBy.push(dep);
  }
  return blockedBy;
}

/** Applies each migration of an accepted plan in order; one waiting for a dependency's approvals is `blocked`. */
export async function applyPlan(
  ctx: RunnerContext,
  actor: Actor,
  plan: MigrationPlan,
  lock: MigrationLock,
  signal: AbortSignal | undefined,
): Promise<ApplyReport> {
  const report: ApplyReport = { plan, migrations: [] };
  for (const entry of plan.migrations) {
    const m = ctx.byName.get(entry.name) as Migration;
    const blockedBy = await blockersOf(ctx, m);
    if (blockedBy.length > 0) {
      report.migrations.push({
        name: m.name,
        run: entry.run,
        outcome: 'blocked',
        refs: [],
        written: 0,
        resumed: 0,
        blockedBy,
      });
      continue;
    }
    report.migrations.push(await runMigration(ctx, actor, m, lock, signal));
  }
  return report;
}
