/**
 * The migration runner: plans, applies and rolls back configuration migrations through the change
 * service, so RBAC and approval policies hold for every write.
 *
 *   const runner = createMigrationRunner({ service, history, migrations: await loadMigrations('migrations') });
 *   const plan = await runner.plan(actor);          // dry run: patches and validation, nothing written
 *   const report = await runner.apply(actor);       // one new version per affected ref (or a change request)
 *   await runner.rollback(actor, '0002-rename-pool');
 *
 * - Order: dependencies first (topological), ties by version then name. A cycle is
 *   `CIRCULAR_DEPENDENCY`, an unknown dependency `NOT_FOUND` (both at construction).
 * - History: each run is recorded with the migration's checksum; a migration whose checksum changed
 *   since it ran is refused (`CHECKSUM_MISMATCH`). Progress is recorded per ref, so a run that failed
 *   part-way resumes where it stopped and never applies a ref twice (a write whose record was lost
 *   is found again by the `migration` metadata the version carries).
 * - Plan: for each affected ref the RFC 6902 patch over `{ config, overrides, rollout, deleted }`,
 *   whether every resolved view still validates against the id's schema, and whether the change
 *   needs approval. A plan with an invalid ref or a failing operation is refused, and `apply`
 *   refuses it before writing anything.
 * - Apply: `service.set` with the migration in the message and metadata; a guarded environment's
 *   `APPROVAL_REQUIRED` turns into `service.propose` (a change request). Migrations that depend on
 *   one whose change requests are still pending wait (`blocked`).
 * - Concurrency: one runner at a time per history (`history.acquire()`); a second runner waits for
 *   the first, then finds the work done.
 * - Rollback: appends each touched ref's pre-migration content as a new version (or proposes it),
 *   cancels the migration's pending change requests; refs changed since are `CONFLICTING_CHANGE`
 *   (nothing written) unless forced.
 *
 * The phases live beside this entry point: `runner-context.ts` (options, ordering, the lock),
 * `ref-records.ts` (selecting refs, reading their records back), `simulation.ts` and `plan.ts`
 * (planning), `apply.ts`, `rollback.ts` and `status.ts`; `run-records.ts` holds what they share.
 */

import { errors } from '../errors/config-error.js';
import { applyPlan } from './apply.js';
import { buildPlan, refusal } from './plan.js';
import { rollbackMigration } from './rollback.js';
import { createRunnerContext, withLock } from './runner-context.js';
import type { MigrationRunner, MigrationRunnerOptions } from './runner-types.js';
import { migrationStatus } from './status.js';

/** Creates a runner. Orders the migrations now: `CIRCULAR_DEPENDENCY` / `NOT_FOUND` / `CONSTRAINT_VIOLATION` throw here. */
export function createMigrationRunner(options: MigrationRunnerOptions): MigrationRunner {
  const ctx = createRunnerContext(options);
  return {
    migrations: ctx.ordered,

    plan(actor, opts = {}) {
      return buildPlan(ctx, actor, opts.only, false, opts.signal);
    },

    apply(actor, opts = {}) {
      return withLock(ctx, opts.signal, async (lock) => {
        const plan = await buildPlan(ctx, actor, opts.only, true, opts.signal);
        if (plan.refused) throw refusal(plan);
        return applyPlan(ctx, actor, plan, lock, opts.signal);
      });
    },

    rollback(actor, name, opts = {}) {
      if (typeof name !== 'string') return Promise.reject(errors.constraint('rollback needs a migration name'));
      const force = opts.force === true;
      return withLock(ctx, opts.signal, (lock) =>
        rollbackMigration(ctx, actor, name, lock, { force, signal: opts.signal }),
      );
    },

    status(actor) {
      return migrationStatus(ctx, actor);
    },
  };
}
