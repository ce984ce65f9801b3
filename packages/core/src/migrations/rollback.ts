/**
 * Rolling back the latest run of a migration: each touched ref's pre-migration content is appended
 * as a new version (or proposed), the run's pending change requests are cancelled; refs changed
 * since are `CONFLICTING_CHANGE` (nothing written) unless forced.
 */
import { errors } from '../errors/config-error.js';
import type { Actor } from '../rbac/rbac.js';
import type { MigrationLock, MigrationRecord, MigrationRefRecord } from '../store/migration-history.js';
import { throwIfAborted } from '../util/abort.js';
import { MigrationError } from './errors.js';
import { latestRefs, syncRefs } from './ref-records.js';
import { afterWriteError, changedSince, errorInfo, rollbackMessage } from './run-records.js';
import type { RunnerContext } from './runner-context.js';
import type { MigrationRollbackReport } from './runner-types.js';

type RefRollback = NonNullable<MigrationRefRecord['rollback']>;

async function rollbackRef(
  ctx: RunnerContext,
  actor: Actor,
  name: string,
  run: number,
  r: MigrationRefRecord,
  force: boolean,
): Promise<MigrationRefRecord> {
  const { service } = ctx;
  const at = ctx.now();
  if (r.state === 'unchanged' || r.state === 'declined') return { ...r, rollback: { state: 'skipped', at } };
  const message = rollbackMessage(name, run);
  if (r.state === 'proposed' && r.requestId) {
    try {
      await service.cancel(actor, r.requestId, { reason: message });
      return { ...r, state: 'declined', rollback: { state: 'cancelled', requestId: r.requestId, at } };
    } catch (error) {
      // Decided meanwhile: bring the record up to date and treat it by its new state.
      const [synced] = await syncRefs(ctx, actor, [r], true);
      if (!synced || synced.state === 'proposed') throw error;
      return rollbackRef(ctx, actor, name, run, synced, force);
    }
  }
  for (let attempt = 0; ; attempt++) {
    const head = await service.get(actor, r.ref);
    const headVersion = head?.version ?? 0;
    const forced = changedSince(head, r);
    if (forced && !force) {
      throw new MigrationError(
        'CONFLICTING_CHANGE',
        `${r.ref} changed since migration ${name} wrote v${r.afterVersion}`,
        {
          migration: name,
          ref: r.ref,
        },
      );
    }
    const done = (rollback: RefRollback): MigrationRefRecord => ({
      ...r,
      rollback: forced ? { ...rollback, forced: true } : rollback,
    });
    try {
      const written = await service.rollback(actor, r.ref, {
        to: r.beforeVersion,
        expectedVersion: headVersion,
        message,
      });
      return done({ state: 'rolled_back', version: written.version, checksum: written.checksum, at });
    } catch (error) {
      if (afterWriteError(error, attempt) === 'retry') continue;
      const request = await service.propose(actor, {
        ref: r.ref,
        kind: 'rollback',
        to: r.beforeVersion,
        baseVersion: headVersion,
        message,
      });
      return done({ state: 'proposed', requestId: request.id, at });
    }
  }
}

/** A rollback write (or request) for `r` whose record was lost to a crash. */
async function findPriorRollback(
  ctx: RunnerContext,
  actor: Actor,
  name: string,
  run: number,
  r: MigrationRefRecord,
): Promise<RefRollback | undefined> {
  const message = rollbackMessage(name, run);
  const summaries = await ctx.service.history(actor, r.ref, { limit: ctx.lookback });
  const written = summaries.find((s) => s.message === message && s.metadata.rollbackOf === r.beforeVersion);
  if (written) {
    return { state: 'rolled_back', version: written.version, checksum: written.checksum, at: ctx.now() };
  }
  const requests = await ctx.service.listRequests(actor, { ref: r.ref, status: ['pending', 'approved'] });
  const proposed = requests.find((q) => q.kind === 'rollback' && q.message === message);
  if (proposed) return { state: 'proposed', requestId: proposed.id, at: ctx.now() };
  return undefined;
}

/** The run's ref records, with rollbacks that were written but not recorded (an earlier attempt crashed) found again. */
async function recoveredRefs(ctx: RunnerContext, actor: Actor, record: MigrationRecord): Promise<MigrationRefRecord[]> {
  const refs = await latestRefs(ctx, actor, record, true);
  return Promise.all(
    refs.map(async (r) => {
      if (r.rollback || r.state !== 'applied') return r;
      const prior = await findPriorRollback(ctx, actor, record.name, record.run, r);
      if (!prior) return r;
      const next = { ...r, rollback: prior };
      await ctx.history.saveRef(next);
      return next;
    }),
  );
}

/** Refuses to roll back a migration that others (not rolled back) depend on. */
async function assertNoDependents(ctx: RunnerContext, name: string): Promise<void> {
  const dependents = (await ctx.history.list()).filter(
    (r) => r.dependencies.includes(name) && r.status !== 'rolled_back',
  );
  if (dependents.length > 0) {
    throw new MigrationError(
      'CONSTRAINT_VIOLATION',
      `migration ${name} cannot be rolled back while ${dependents.map((d) => d.name).join(', ')} (which depend on it) are not rolled back`,
      { migration: name },
    );
  }
}

/** Refuses, unless forced, a rollback over refs changed since the run (nothing written). */
async function assertUnchanged(
  ctx: RunnerContext,
  actor: Actor,
  name: string,
  refs: readonly MigrationRefRecord[],
  force: boolean,
): Promise<void> {
  const conflicts: string[] = [];
  for (const r of refs) {
    if (r.rollback || r.state !== 'applied') continue;
    const head = await ctx.service.get(actor, r.ref);
    if (changedSince(head, r)) conflicts.push(`${r.ref} (v${r.afterVersion} -> v${head?.version ?? 0})`);
  }
  if (conflicts.length > 0 && !force) {
    throw new MigrationError(
      'CONFLICTING_CHANGE',
      `migration ${name}: ${conflicts.length} ref(s) changed since it ran, nothing was rolled back (force to roll back over the changes): ${conflicts.join(', ')}`,
      { migration: name },
    );
  }
}

/** Rolls back the latest run of `name`, holding `lock`. */
export async function rollbackMigration(
  ctx: RunnerContext,
  actor: Actor,
  name: string,
  lock: MigrationLock,
  options: { force: boolean; signal: AbortSignal | undefined },
): Promise<MigrationRollbackReport> {
  const { history } = ctx;
  const record = await history.get(name);
  if (!record) throw errors.notFound(`migration ${name} has never run`);
  if (record.status === 'rolled_back') {
    return { name, run: record.run, already: true, refs: await history.listRefs(name, record.run) };
  }
  await assertNoDependents(ctx, name);
  const refs = await recoveredRefs(ctx, actor, record);
  await assertUnchanged(ctx, actor, name, refs, options.force);
  const rolling = { ...record, status: 'rolling_back' as const };
  delete rolling.error;
  await history.save(rolling, { status: record.status, run: record.run });
  try {
    for (const [i, r] of refs.entries()) {
      throwIfAborted(options.signal);
      if (r.rollback) continue;
      await lock.check();
      const next = await rollbackRef(ctx, actor, name, record.run, r, options.force);
      await history.saveRef(next);
      ctx.progress({
        phase: 'rollback',
        migration: name,
        ref: r.ref,
        outcome: next.rollback?.state ?? 'skipped',
        index: i + 1,
        total: refs.length,
      });
    }
    await history.save(
      { ...rolling, status: 'rolled_back', rolledBackBy: actor.id, rolledBackAt: ctx.now() },
      { status: 'rolling_back', run: record.run },
    );
  } catch (error) {
    await history
      .save({ ...rolling, error: errorInfo(error) }, { status: 'rolling_back', run: record.run })
      .catch(() => undefined);
    throw error;
  }
  return { name, run: record.run, already: false, refs: await history.listRefs(name, record.run) };
}
