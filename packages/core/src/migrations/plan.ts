/**
 * Planning: a dry run that reads only. For each pending migration and each ref it selects, the
 * RFC 6902 patch, whether every resolved view still validates, and whether approval is needed;
 * earlier migrations' results are simulated for later ones.
 */
import { affectedEnvironments, requirementsFor } from '../approvals/policy.js';
import { type ErrorCode, errors, isConfigError, type ValidationIssue } from '../errors/config-error.js';
import { validateEnvironments } from '../model/environment.js';
import { type ConfigRef, refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import type { Actor } from '../rbac/rbac.js';
import { contentView, diffViews, isTombstone } from '../service/diff.js';
import type { MigrationRefRecord } from '../store/migration-history.js';
import { throwIfAborted } from '../util/abort.js';
import { MigrationError } from './errors.js';
import { migrateContent, sameContent } from './operations.js';
import { withDependencies } from './order.js';
import { findPrior, latestRefs, selectRefs } from './ref-records.js';
import { cannotApply, changedError, contentOf, errorInfo, nextRun } from './run-records.js';
import type { RunnerContext } from './runner-context.js';
import type { MigrationPlan, MigrationPlanEntry, RefPlan } from './runner-types.js';
import { candidateOf, currentDoc, type Simulation, validateCandidate } from './simulation.js';
import type { MigratedContent, Migration } from './types.js';

async function planRef(
  ctx: RunnerContext,
  actor: Actor,
  sim: Simulation,
  m: Migration,
  run: number,
  ref: ConfigRef,
  done: ReadonlyMap<string, MigrationRefRecord>,
  resuming: boolean,
): Promise<RefPlan | undefined> {
  const key = refKey(ref);
  const doc = await currentDoc(ctx, actor, sim, key);
  if (!doc || isTombstone(doc)) return undefined;
  const base: RefPlan = {
    ref: key,
    baseVersion: doc.version,
    action: 'done',
    patch: [],
    valid: true,
    issues: [],
    environments: [],
  };
  if (done.has(key) || (resuming && (await findPrior(ctx, actor, m, run, key)))) return base;
  let after: MigratedContent;
  try {
    after = await migrateContent(m, doc.ref, contentOf(doc));
  } catch (error) {
    return { ...base, action: 'error', valid: false, error: errorInfo(error) };
  }
  if (sameContent(contentOf(doc), after)) return { ...base, action: 'unchanged' };
  let candidate: ConfigVersion;
  try {
    candidate = candidateOf(actor, m, run, doc, after);
  } catch (error) {
    return { ...base, action: 'error', valid: false, error: errorInfo(error) };
  }
  const patch = diffViews(contentView(doc), contentView(candidate));
  let issues: ValidationIssue[];
  try {
    issues = await validateCandidate(ctx, actor, sim, candidate);
  } catch (error) {
    if (!isConfigError(error) || error.code === 'BACKEND_UNAVAILABLE' || error.code === 'ACCESS_DENIED') throw error;
    return { ...base, action: 'error', patch, valid: false, error: errorInfo(error) };
  }
  const touched = affectedEnvironments(
    { ...contentOf(doc), deleted: false },
    { ...contentOf(candidate), deleted: false },
    sim.envs,
  );
  const guarded = requirementsFor(touched, sim.envs).map((r) => r.environment);
  sim.overlay.set(key, candidate);
  if (issues.length > 0) {
    return {
      ...base,
      action: 'error',
      patch,
      valid: false,
      issues,
      environments: guarded,
      error: {
        code: 'SCHEMA_VALIDATION',
        message: `${key} would not validate: ${issues
          .slice(0, 3)
          .map((i) => `${i.pointer || '/'} ${i.message}`)
          .join('; ')}${issues.length > 3 ? `; and ${issues.length - 3} more` : ''}`,
      },
    };
  }
  return { ...base, action: guarded.length > 0 ? 'propose' : 'update', patch, environments: guarded };
}

function entryOf(m: Migration, status: MigrationPlanEntry['status'], run: number): MigrationPlanEntry {
  return {
    name: m.name,
    version: m.version,
    description: m.description,
    kind: m.kind,
    checksum: m.checksum,
    dependencies: [...m.dependencies],
    status,
    run,
    refs: [],
    refused: false,
    blockedBy: [],
  };
}

/**
 * The plan of every pending migration (or of `only` and their pending dependencies). With
 * `persist`, ref records found decided meanwhile are saved.
 */
export async function buildPlan(
  ctx: RunnerContext,
  actor: Actor,
  only: readonly string[] | undefined,
  persist: boolean,
  signal: AbortSignal | undefined,
): Promise<MigrationPlan> {
  if (only !== undefined && (!Array.isArray(only) || only.some((n) => typeof n !== 'string'))) {
    throw errors.constraint('only must be a list of migration names');
  }
  const targets = only === undefined ? ctx.ordered : withDependencies(ctx.ordered, only);
  const records = new Map((await ctx.history.list()).map((r) => [r.name, r]));
  const sim: Simulation = {
    envs: validateEnvironments(await ctx.service.listEnvironments(actor)),
    overlay: new Map(),
  };
  const plan: MigrationPlan = { migrations: [], refused: false, at: ctx.now() };
  const entries = new Map<string, MigrationPlanEntry>();
  const pendingRequests = new Map<string, boolean>();
  for (const m of targets) {
    throwIfAborted(signal);
    const record = records.get(m.name);
    if (record?.status === 'applied') {
      if (record.checksum !== m.checksum) {
        const entry = entryOf(m, 'pending', record.run);
        entry.refused = true;
        entry.error = errorInfo(changedError(m, record));
        plan.migrations.push(entry);
        entries.set(m.name, entry);
        continue;
      }
      const refs = await latestRefs(ctx, actor, record, persist);
      pendingRequests.set(
        m.name,
        refs.some((r) => r.state === 'proposed'),
      );
      continue;
    }
    const { resuming, run } = nextRun(record);
    const entry = entryOf(m, resuming ? 'resume' : 'pending', run);
    plan.migrations.push(entry);
    entries.set(m.name, entry);
    for (const dep of m.dependencies) {
      const depEntry = entries.get(dep);
      if (depEntry?.refused) {
        entry.refused = true;
        entry.error ??= { code: 'CONSTRAINT_VIOLATION', message: `depends on ${dep}, which is refused` };
      }
      const waits = depEntry
        ? depEntry.refs.some((r) => r.action === 'propose') || depEntry.blockedBy.length > 0
        : pendingRequests.get(dep);
      if (waits) entry.blockedBy.push(dep);
    }
    const cannot = cannotApply(m, record);
    if (cannot) {
      entry.refused = true;
      entry.error = errorInfo(cannot);
      continue;
    }
    if (entry.refused) continue;
    const env = m.selector.environment;
    if (env !== undefined && !/[*?]/.test(env) && !sim.envs.has(env)) {
      entry.refused = true;
      entry.error = {
        code: 'ENVIRONMENT_NOT_FOUND',
        message: `migration ${m.name} selects environment "${env}", which is not defined`,
      };
      continue;
    }
    const done = new Map<string, MigrationRefRecord>();
    if (resuming) for (const r of await ctx.history.listRefs(m.name, run)) done.set(r.ref, r);
    for (const ref of await selectRefs(ctx, actor, m)) {
      throwIfAborted(signal);
      const refPlan = await planRef(ctx, actor, sim, m, run, ref, done, resuming);
      if (!refPlan) continue;
      entry.refs.push(refPlan);
      if (refPlan.action === 'error') entry.refused = true;
    }
  }
  plan.refused = plan.migrations.some((e) => e.refused);
  return plan;
}

/** The error `apply` throws for a refused plan (before writing anything). */
export function refusal(plan: MigrationPlan): MigrationError {
  const refused = plan.migrations.filter((e) => e.refused);
  const issues: ValidationIssue[] = [];
  const reasons: string[] = [];
  let code: ErrorCode | undefined;
  for (const e of refused) {
    if (e.error) {
      code ??= e.error.code;
      reasons.push(`${e.name}: ${e.error.message}`);
    }
    for (const r of e.refs) {
      if (r.action !== 'error') continue;
      if (r.issues.length > 0) code = 'SCHEMA_VALIDATION';
      else code ??= r.error?.code;
      issues.push(...r.issues.map((i) => ({ ...i, message: `${r.ref} ${i.message}` })));
      reasons.push(`${e.name}: ${r.error?.message ?? r.ref}`);
    }
  }
  const shown = reasons.slice(0, 5).join('; ') + (reasons.length > 5 ? `; and ${reasons.length - 5} more` : '');
  return new MigrationError(code ?? 'CONSTRAINT_VIOLATION', `migration plan refused, nothing was applied: ${shown}`, {
    migration: refused[0]?.name,
    issues,
  });
}
