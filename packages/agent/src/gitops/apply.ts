/**
 * `applyTree`: writes a plan through the change service, so a git-driven change gets the same checks,
 * approvals, signatures and audit as any other. In order: environments (created parents first, then
 * updated), schemas (`publishSchema`: compatibility and current documents checked), then refs:
 *
 * - a change that touches no guarded environment: `set` (or, pruned, `delete`) with `expectedVersion`
 *   = the head the plan read, so a concurrent edit is a conflict, never overwritten;
 * - one that does: `propose` with `baseVersion` = that head, its message carrying the commit; an open
 *   request for the same content and commit is not proposed again, and an approved one is applied;
 * - unchanged and absent refs: nothing.
 *
 * Every version carries `metadata.gitops = { repo, path, commit }`; its message (and so its audit
 * row) reads `gitops <commit> <path> (<repo>)`.
 */
import { type Actor, type ConfigService, type Environment, isConfigError, type JsonObject } from '@summit-config/core';
import { errors, isPlainObject } from '@summit-config/core/internal';
import type { GitopsPlan, RefPlan } from './plan.js';
import { checkCallOptions } from './plan-environments.js';
import { GITOPS_METADATA_KEY } from './tree.js';

/** What happened to one item of the plan. */
export type ApplyOutcome =
  | 'created'
  | 'updated'
  | 'deleted'
  | 'proposed'
  | 'request-applied'
  | 'request-open'
  | 'unchanged'
  | 'conflict'
  | 'failed';

/** One line of the report. */
export interface ApplyResult {
  kind: 'environment' | 'schema' | 'ref';
  /** The environment name, schema id or ref key. */
  name: string;
  outcome: ApplyOutcome;
  /** The version written (refs) or registered (schemas). */
  version?: number;
  /** The change request proposed, found open, or applied. */
  requestId?: string;
  /** Why it failed or conflicted (`code: message`). */
  error?: { code: string; message: string };
}

/** The report of {@link applyTree}. */
export interface ApplyReport {
  repo: string;
  commit: string | undefined;
  results: ApplyResult[];
  /** How many writes were made (versions, requests, schemas, environments). */
  written: number;
  conflicts: number;
  failures: number;
}

/** Options of {@link applyTree}. */
export interface ApplyTreeOptions {
  service: ConfigService;
  actor: Actor;
  /** A plan from `planTree` (its heads are the `expectedVersion` of every write). */
  plan: GitopsPlan;
  /**
   * Publish schemas even when the registry calls the change breaking or current documents would stop
   * validating (the plan has checked every document after apply against the new schema). Default false.
   */
  forceSchemas?: boolean;
  signal?: AbortSignal;
}

/** The message of every write of the plan: `gitops <commit|working tree> <path> (<repo>)`. */
export function gitopsMessage(plan: Pick<GitopsPlan, 'repo' | 'commit'>, path: string): string {
  return `gitops ${plan.commit ?? 'working-tree'} ${path} (${plan.repo})`;
}

/** The path of a tree file inside its repository. */
function repoPath(plan: GitopsPlan, file: string): string {
  return `${plan.prefix}${file}`;
}

/** Environments in an order where every parent comes before its children. */
function parentsFirst(list: readonly Environment[]): Environment[] {
  const names = new Set(list.map((e) => e.name));
  const out: Environment[] = [];
  const placed = new Set<string>();
  const place = (env: Environment) => {
    if (placed.has(env.name)) return;
    placed.add(env.name);
    const parent =
      env.parent !== undefined && names.has(env.parent) ? list.find((e) => e.name === env.parent) : undefined;
    if (parent) place(parent);
    out.push(env);
  };
  for (const env of list) place(env);
  return out;
}

function failure(error: unknown): { code: string; message: string } {
  return isConfigError(error)
    ? { code: error.code, message: error.message }
    : { code: 'UNEXPECTED', message: (error as Error)?.message ?? String(error) };
}

/**
 * Applies `plan`. Refuses (`CONSTRAINT_VIOLATION` naming the options or the files, nothing written) bad
 * options and a plan whose documents fail their schema (the CLI reports those as `SCHEMA_VALIDATION`
 * before calling this). An environment or schema that cannot be written stops the run (`failed`, later refs not
 * attempted: they may depend on it); a ref that cannot be written is reported (`conflict` for
 * `VERSION_CONFLICT` / `CONFLICTING_CHANGE`, else `failed`) and the others are still applied.
 * Resolves with the report; never throws for a single item's failure.
 */
export async function applyTree(options: ApplyTreeOptions): Promise<ApplyReport> {
  checkCallOptions('applyTree', options);
  const { service, actor, plan, signal } = options;
  if (!isPlainObject(plan) || !Array.isArray(plan.refs) || !Array.isArray(plan.schemas)) {
    throw errors.constraint('applyTree option plan must be a GitopsPlan (planTree)');
  }
  if (options.forceSchemas !== undefined && typeof options.forceSchemas !== 'boolean') {
    throw errors.constraint('applyTree option forceSchemas must be a boolean');
  }
  if (!plan.valid) {
    const bad = plan.refs.filter((r) => r.schema && !r.schema.valid).map((r) => r.file ?? r.ref);
    throw errors.constraint(`the tree has documents that fail their schema (${bad.join(', ')}): nothing was applied`);
  }
  const report: ApplyReport = {
    repo: plan.repo,
    commit: plan.commit,
    results: [],
    written: 0,
    conflicts: 0,
    failures: 0,
  };
  const push = (r: ApplyResult) => {
    report.results.push(r);
    if (['created', 'updated', 'deleted', 'proposed', 'request-applied'].includes(r.outcome)) report.written++;
    if (r.outcome === 'conflict') report.conflicts++;
    if (r.outcome === 'failed') report.failures++;
  };

  // Environments, then schemas: the documents below may name or need them.
  const changed = plan.environments.filter((e) => e.action === 'create' || e.action === 'update');
  for (const env of parentsFirst(changed.map((e) => e.environment))) {
    signal?.throwIfAborted();
    const create = changed.find((e) => e.name === env.name)?.action === 'create';
    try {
      if (create) await service.createEnvironment(actor, env);
      else await service.updateEnvironment(actor, env);
      push({ kind: 'environment', name: env.name, outcome: create ? 'created' : 'updated' });
    } catch (error) {
      push({ kind: 'environment', name: env.name, outcome: 'failed', error: failure(error) });
      return report;
    }
  }
  for (const schema of plan.schemas) {
    if (schema.action !== 'register') continue;
    signal?.throwIfAborted();
    try {
      const published = await service.publishSchema(actor, schema.id, schema.schema, {
        force: options.forceSchemas === true,
      });
      push({
        kind: 'schema',
        name: schema.id,
        outcome: !published.changed ? 'unchanged' : schema.currentVersion === undefined ? 'created' : 'updated',
        version: published.version,
      });
    } catch (error) {
      push({ kind: 'schema', name: schema.id, outcome: 'failed', error: failure(error) });
      return report;
    }
  }

  for (const ref of plan.refs) {
    if (ref.action === 'unchanged' || ref.action === 'absent') continue;
    signal?.throwIfAborted();
    try {
      push(await applyRef(service, actor, plan, ref));
    } catch (error) {
      const e = failure(error);
      const conflict = e.code === 'VERSION_CONFLICT' || e.code === 'CONFLICTING_CHANGE';
      push({ kind: 'ref', name: ref.ref, outcome: conflict ? 'conflict' : 'failed', error: e });
    }
  }
  return report;
}

async function applyRef(service: ConfigService, actor: Actor, plan: GitopsPlan, ref: RefPlan): Promise<ApplyResult> {
  const path = ref.file ? repoPath(plan, ref.file) : `${plan.prefix}configs/${ref.ref}`;
  const message = gitopsMessage(plan, path);
  const base = { kind: 'ref' as const, name: ref.ref };
  if (ref.openRequest) {
    if (ref.openRequest.status === 'approved') {
      const applied = await service.apply(actor, ref.openRequest.id);
      return { ...base, outcome: 'request-applied', requestId: applied.id, version: applied.appliedVersion };
    }
    return { ...base, outcome: 'request-open', requestId: ref.openRequest.id };
  }
  if (ref.action === 'delete') {
    if (ref.approvals.length > 0) {
      const request = await service.propose(actor, {
        ref: ref.ref,
        kind: 'delete',
        baseVersion: ref.baseVersion,
        message,
      });
      return { ...base, outcome: 'proposed', requestId: request.id };
    }
    const written = await service.delete(actor, ref.ref, { expectedVersion: ref.baseVersion, message });
    return { ...base, outcome: 'deleted', version: written.version };
  }
  const doc = ref.document as NonNullable<RefPlan['document']>;
  const metadata: JsonObject = {
    ...doc.metadata,
    [GITOPS_METADATA_KEY]: { repo: plan.repo, path, commit: plan.commit ?? null },
  };
  const content = {
    ref: ref.ref,
    config: doc.config,
    overrides: doc.overrides,
    rollout: doc.rollout,
    metadata,
    message,
  };
  if (ref.approvals.length > 0) {
    const request = await service.propose(actor, { ...content, kind: 'set', baseVersion: ref.baseVersion });
    return { ...base, outcome: 'proposed', requestId: request.id };
  }
  const written = await service.set(actor, content, { expectedVersion: ref.baseVersion });
  return { ...base, outcome: ref.action === 'create' ? 'created' : 'updated', version: written.version };
}
