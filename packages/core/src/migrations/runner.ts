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
 */

import { affectedEnvironments, requirementsFor } from '../approvals/policy.js';
import type { ChangeRequest } from '../approvals/types.js';
import type { JsonPatchOperation } from '../audit/types.js';
import {
  ConfigError,
  type ErrorCode,
  errors,
  isConfigError,
  messageOf,
  type ValidationIssue,
} from '../errors/config-error.js';
import { type Environment, validateEnvironments } from '../model/environment.js';
import { isPlainObject, type JsonObject } from '../model/json.js';
import { type ConfigRef, refKey } from '../model/ref.js';
import { type ConfigVersion, createVersion } from '../model/version.js';
import type { Actor } from '../rbac/rbac.js';
import { contentView, diffViews, isTombstone } from '../service/diff.js';
import type { ConfigService } from '../service/service.js';
import { type DocumentsOfId, resolvedViews } from '../service/views.js';
import { throwIfAborted } from '../util/abort.js';
import { MigrationError } from './errors.js';
import { compileIdPattern, compileScopePattern } from './glob.js';
import type {
  MigrationHistory,
  MigrationLock,
  MigrationRecord,
  MigrationRefRecord,
  MigrationRunStatus,
  RefState,
} from './history.js';
import { contentChecksum, migrateContent, sameContent } from './operations.js';
import { orderMigrations, withDependencies } from './order.js';
import type { MigratedContent, Migration } from './types.js';

export interface MigrationRunnerOptions {
  /** Every write goes through it (RBAC, approvals, audit). Borrowed. */
  service: ConfigService;
  /** Where runs and per-ref progress are recorded. Borrowed. */
  history: MigrationHistory;
  /** Every known migration (e.g. `await loadMigrations(dir)`); ordered here. */
  migrations: readonly Migration[];
  /** How long `apply` / `rollback` wait for another runner, in milliseconds. Default 30 000. */
  lockTimeoutMs?: number;
  /** Versions of a ref searched for an earlier write of the same run when resuming. Default 20. */
  lookback?: number;
  /** Time source for history timestamps. Default `() => new Date()`. */
  clock?: () => Date;
  /** Called after each ref is processed (a throwing callback is ignored). */
  onProgress?: (event: MigrationProgress) => void;
}

export interface MigrationProgress {
  phase: 'apply' | 'rollback';
  migration: string;
  ref: string;
  /** `applied`, `proposed`, `unchanged`, `skipped` (done earlier), or the rollback state. */
  outcome: string;
  /** 1-based position among the migration's refs. */
  index: number;
  total: number;
}

/** What applying would do to one ref. */
export type RefAction =
  /** A new version will be written. */
  | 'update'
  /** A change request will be opened (the change touches a guarded environment). */
  | 'propose'
  /** The operations change nothing. */
  | 'unchanged'
  /** Already migrated by this run (resume). */
  | 'done'
  /** The operations fail, or the result does not validate: the migration is refused. */
  | 'error';

export interface RefPlan {
  /** `<scope>/<id>` */
  ref: string;
  /** The head the plan read. */
  baseVersion: number;
  action: RefAction;
  /** RFC 6902 operations over `{ config, overrides, rollout, deleted }` (empty unless update / propose / error with a result). */
  patch: JsonPatchOperation[];
  /** Whether every resolved view of the result validates against the id's schema (true when none is registered). */
  valid: boolean;
  /** Schema issues, each message prefixed with the resolved view (`[app:x/db@production]`). */
  issues: ValidationIssue[];
  /** Guarded environments whose approval the change needs. */
  environments: string[];
  error?: { code: ErrorCode; message: string };
}

export interface MigrationPlanEntry {
  name: string;
  version: string;
  description: string;
  kind: Migration['kind'];
  checksum: string;
  dependencies: string[];
  /** `pending` (first run, or again after a rollback) or `resume` (a run that stopped part-way). */
  status: 'pending' | 'resume';
  /** The run this apply would be. */
  run: number;
  refs: RefPlan[];
  /** True when this migration cannot be applied (see `error` and the refs). */
  refused: boolean;
  error?: { code: ErrorCode; message: string };
  /** Dependencies with change requests still pending: apply skips this migration until they are approved. */
  blockedBy: string[];
}

export interface MigrationPlan {
  /** The migrations that would run, in order. */
  migrations: MigrationPlanEntry[];
  /** True when any migration is refused; `apply` then writes nothing. */
  refused: boolean;
  /** ISO-8601 UTC. */
  at: string;
}

export interface MigrationApplyResult {
  name: string;
  run: number;
  /** `applied`, `blocked` (waiting for a dependency's approvals), or `skipped` (another runner applied it). */
  outcome: 'applied' | 'blocked' | 'skipped';
  /** Every ref record of the run, including refs done by an earlier attempt. */
  refs: MigrationRefRecord[];
  /** Refs this call wrote or proposed. */
  written: number;
  /** Refs found done by an earlier attempt of this run. */
  resumed: number;
  blockedBy?: string[];
}

export interface ApplyReport {
  plan: MigrationPlan;
  migrations: MigrationApplyResult[];
}

export interface MigrationRollbackOptions {
  /** Roll back refs that changed since the migration, over those changes. Default false. */
  force?: boolean;
  signal?: AbortSignal;
}

export interface MigrationRollbackReport {
  name: string;
  run: number;
  /** True when it was already rolled back (nothing done). */
  already: boolean;
  refs: MigrationRefRecord[];
}

export type MigrationState = 'pending' | MigrationRunStatus;

export interface MigrationStatusEntry {
  name: string;
  version: string;
  description: string;
  kind: Migration['kind'] | undefined;
  dependencies: string[];
  state: MigrationState;
  /** The migration's current checksum differs from the one it ran with. */
  changed: boolean;
  /** False when the history knows a migration that is no longer defined. */
  defined: boolean;
  record?: MigrationRecord;
  counts: Record<RefState | 'rolledBack', number>;
  /** Change requests of the latest run still awaiting a decision. */
  pendingRequests: string[];
}

export interface MigrationRunner {
  /** The known migrations in dependency order. */
  readonly migrations: readonly Migration[];
  /** Dry run: reads only. `only` limits it to these migrations and their pending dependencies. */
  plan(actor: Actor, options?: { only?: readonly string[]; signal?: AbortSignal }): Promise<MigrationPlan>;
  /** Plans, refuses a refused plan, then applies each pending migration in order. */
  apply(actor: Actor, options?: { only?: readonly string[]; signal?: AbortSignal }): Promise<ApplyReport>;
  /** Rolls back the latest run of `name` (see the file comment). */
  rollback(actor: Actor, name: string, options?: MigrationRollbackOptions): Promise<MigrationRollbackReport>;
  /** Every known migration (and any the history knows that is no longer defined). Reads only. */
  status(actor: Actor): Promise<MigrationStatusEntry[]>;
}

const MAX_CONFLICT_RETRIES = 3;

function errorInfo(error: unknown): { code: ErrorCode; message: string } {
  if (isConfigError(error)) return { code: error.code, message: error.message };
  return { code: 'CONSTRAINT_VIOLATION', message: messageOf(error) };
}

function contentOf(doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout'>): MigratedContent {
  return { config: doc.config, overrides: { ...doc.overrides }, rollout: doc.rollout };
}

/** The message of the versions (and change requests) a migration writes. */
export function migrationMessage(m: Pick<Migration, 'name' | 'version' | 'description'>, run: number): string {
  const text = `migration ${m.name}@${m.version} (run ${run})${m.description ? `: ${m.description}` : ''}`;
  return text.length > 1000 ? `${text.slice(0, 999)}…` : text;
}

/** The message of the versions a migration's rollback writes. */
export function rollbackMessage(name: string, run: number): string {
  return `rollback of migration ${name} (run ${run})`;
}

/** Whether a ref's content differs from what the migration left (a later version with equal content is no change). */
function changedSince(head: ConfigVersion | undefined, r: MigrationRefRecord): boolean {
  if (!head || isTombstone(head)) return true;
  if (head.version === r.afterVersion) return false;
  return r.afterContent === undefined || contentChecksum(head) !== r.afterContent;
}

function markerOf(metadata: unknown): { name: string; run: number } | undefined {
  if (!isPlainObject(metadata) || !isPlainObject(metadata.migration)) return undefined;
  const { name, run } = metadata.migration;
  return typeof name === 'string' && typeof run === 'number' ? { name, run } : undefined;
}

/** Creates a runner. Orders the migrations now: `CIRCULAR_DEPENDENCY` / `NOT_FOUND` / `CONSTRAINT_VIOLATION` throw here. */
export function createMigrationRunner(options: MigrationRunnerOptions): MigrationRunner {
  if (!isPlainObject(options)) throw errors.constraint('migration runner options are required');
  const { service, history } = options;
  if (!service || typeof service.set !== 'function' || typeof service.propose !== 'function') {
    throw errors.constraint('migration runner option service must be a ConfigService');
  }
  if (!history || typeof history.acquire !== 'function' || typeof history.saveRef !== 'function') {
    throw errors.constraint('migration runner option history must be a MigrationHistory');
  }
  if (!Array.isArray(options.migrations)) throw errors.constraint('migration runner option migrations must be a list');
  for (const [i, m] of options.migrations.entries()) {
    if (!isPlainObject(m) || typeof m.checksum !== 'string' || !Array.isArray(m.operations)) {
      throw errors.constraint(
        `migration runner option migrations[${i}] is not a parsed migration (use parseMigration, defineMigration or loadMigrations)`,
      );
    }
  }
  const lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0) {
    throw errors.constraint('migration runner option lockTimeoutMs must be an integer >= 0');
  }
  const lookback = options.lookback ?? 20;
  if (!Number.isSafeInteger(lookback) || lookback < 1) {
    throw errors.constraint('migration runner option lookback must be a positive integer');
  }
  const clock = options.clock ?? (() => new Date());
  const ordered = orderMigrations(options.migrations);
  const byName = new Map(ordered.map((m) => [m.name, m]));
  const now = () => clock().toISOString();

  function progress(event: MigrationProgress): void {
    try {
      options.onProgress?.(event);
    } catch {
      // A progress callback never stops a run.
    }
  }

  // -- reading

  async function environments(actor: Actor): Promise<Map<string, Environment>> {
    return validateEnvironments(await service.listEnvironments(actor));
  }

  async function selectRefs(actor: Actor, m: Migration): Promise<ConfigRef[]> {
    const scopes = m.selector.scopes.map((p) => compileScopePattern(p));
    const ids = m.selector.ids.map((p) => compileIdPattern(p));
    const literalScope =
      scopes.length === 1 && scopes[0]?.literal ? (scopes[0].pattern as ConfigRef['scope']) : undefined;
    const found = new Map<string, ConfigRef>();
    for (const prefix of new Set(ids.map((p) => p.prefix))) {
      const heads = await service.list(actor, literalScope ? { scope: literalScope, prefix } : { prefix });
      for (const head of heads) {
        if (!scopes.some((s) => s.matches(head.ref.scope))) continue;
        if (!ids.some((p) => p.matches(head.ref.id))) continue;
        found.set(refKey(head.ref), head.ref);
      }
    }
    return [...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, ref]) => ref);
  }

  /** Brings `proposed` ref records up to date with their change requests. */
  async function syncRefs(actor: Actor, refs: MigrationRefRecord[], persist: boolean): Promise<MigrationRefRecord[]> {
    const out: MigrationRefRecord[] = [];
    for (const r of refs) {
      let next = r;
      if (r.state === 'proposed' && r.requestId) {
        const request = await requestOrUndefined(actor, r.requestId);
        if (!request || ['rejected', 'expired', 'cancelled'].includes(request.status)) {
          next = { ...r, state: 'declined' };
        } else if (request.status === 'applied' && request.appliedVersion !== undefined) {
          const doc = await service.getVersion(actor, r.ref, request.appliedVersion);
          next = {
            ...r,
            state: 'applied',
            afterVersion: doc.version,
            afterChecksum: doc.checksum,
            afterContent: contentChecksum(doc),
          };
        }
      }
      if (next.rollback?.state === 'proposed' && next.rollback.requestId) {
        const request = await requestOrUndefined(actor, next.rollback.requestId);
        if (!request || ['rejected', 'expired', 'cancelled'].includes(request.status)) {
          next = { ...next, rollback: { ...next.rollback, state: 'declined' } };
        } else if (request.status === 'applied' && request.appliedVersion !== undefined) {
          const doc = await service.getVersion(actor, next.ref, request.appliedVersion);
          next = {
            ...next,
            rollback: { ...next.rollback, state: 'rolled_back', version: doc.version, checksum: doc.checksum },
          };
        }
      }
      if (next !== r && persist) await history.saveRef(next);
      out.push(next);
    }
    return out;
  }

  async function requestOrUndefined(actor: Actor, id: string): Promise<ChangeRequest | undefined> {
    try {
      return await service.getRequest(actor, id);
    } catch (error) {
      if (isConfigError(error, 'NOT_FOUND')) return undefined;
      throw error;
    }
  }

  async function latestRefs(actor: Actor, record: MigrationRecord, persist: boolean): Promise<MigrationRefRecord[]> {
    return syncRefs(actor, await history.listRefs(record.name, record.run), persist);
  }

  /** A write (or change request) of this run for `key` that the history did not record (lost to a crash). */
  async function findPrior(
    actor: Actor,
    m: Migration,
    run: number,
    key: string,
  ): Promise<MigrationRefRecord | undefined> {
    const mine = (metadata: unknown) => {
      const marker = markerOf(metadata);
      return marker !== undefined && marker.name === m.name && marker.run === run;
    };
    const summaries = await service.history(actor, key, { limit: lookback });
    const written = summaries.find((s) => mine(s.metadata));
    if (written) {
      const before = await service.getVersion(actor, key, written.version - 1);
      const after = await service.getVersion(actor, key, written.version);
      return {
        migration: m.name,
        run,
        ref: key,
        state: 'applied',
        beforeVersion: before.version,
        beforeChecksum: before.checksum,
        beforeContent: contentChecksum(before),
        afterVersion: after.version,
        afterChecksum: after.checksum,
        afterContent: contentChecksum(after),
        recordedAt: now(),
      };
    }
    const requests = await service.listRequests(actor, { ref: key, status: ['pending', 'approved'] });
    const proposed = requests.find((r) => mine(r.proposed.metadata));
    if (proposed) {
      const before = await service.getVersion(actor, key, proposed.baseVersion);
      return {
        migration: m.name,
        run,
        ref: key,
        state: 'proposed',
        beforeVersion: before.version,
        beforeChecksum: before.checksum,
        beforeContent: contentChecksum(before),
        requestId: proposed.id,
        recordedAt: now(),
      };
    }
    return undefined;
  }

  // -- planning

  interface Simulation {
    envs: Map<string, Environment>;
    /** Simulated documents by key (the result of earlier migrations in this plan). */
    overlay: Map<string, ConfigVersion>;
  }

  async function currentDoc(actor: Actor, sim: Simulation, key: string): Promise<ConfigVersion | undefined> {
    return sim.overlay.get(key) ?? (await service.get(actor, key));
  }

  async function documentsWith(actor: Actor, sim: Simulation, doc: ConfigVersion): Promise<DocumentsOfId> {
    const id = doc.ref.id;
    const out: DocumentsOfId = { global: undefined, apps: [] };
    if (doc.ref.scope === 'global') {
      for (const head of await service.list(actor, { prefix: id })) {
        if (head.ref.id !== id || head.ref.scope === 'global') continue;
        const app = await currentDoc(actor, sim, refKey(head.ref));
        if (app && !isTombstone(app)) out.apps.push(app);
      }
      out.global = doc;
    } else {
      const global = await currentDoc(actor, sim, refKey({ scope: 'global', id }));
      if (global && !isTombstone(global)) out.global = global;
      out.apps.push(doc);
    }
    return out;
  }

  async function validate(actor: Actor, sim: Simulation, candidate: ConfigVersion): Promise<ValidationIssue[]> {
    const key = refKey(candidate.ref);
    for (const name of Object.keys(candidate.overrides)) {
      if (!sim.envs.has(name)) {
        throw new ConfigError(
          'ENVIRONMENT_NOT_FOUND',
          `${key}: overrides would name environment "${name}", which is not defined`,
          { ref: key },
        );
      }
    }
    const schemas = service.schemas;
    const id = candidate.ref.id;
    await schemas.load(id);
    if (schemas.latestVersion(id) === undefined) return [];
    const views = resolvedViews(await documentsWith(actor, sim, candidate), sim.envs, schemas.defaults(id), candidate);
    const issues: ValidationIssue[] = [];
    for (const view of views) {
      for (const issue of schemas.check(id, view.value))
        issues.push({ ...issue, message: `[${view.name}] ${issue.message}` });
    }
    return issues;
  }

  function candidateOf(actor: Actor, m: Migration, run: number, doc: ConfigVersion, content: MigratedContent) {
    return createVersion(
      {
        ref: doc.ref,
        config: content.config,
        overrides: content.overrides,
        rollout: content.rollout,
        metadata: metadataOf(m, run),
        createdBy: actor.id,
        message: migrationMessage(m, run),
      },
      doc.version + 1,
    );
  }

  async function planRef(
    actor: Actor,
    sim: Simulation,
    m: Migration,
    run: number,
    ref: ConfigRef,
    done: ReadonlyMap<string, MigrationRefRecord>,
    resuming: boolean,
  ): Promise<RefPlan | undefined> {
    const key = refKey(ref);
    const doc = await currentDoc(actor, sim, key);
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
    if (done.has(key) || (resuming && (await findPrior(actor, m, run, key)))) return base;
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
      issues = await validate(actor, sim, candidate);
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

  function changedError(m: Migration, record: MigrationRecord): MigrationError {
    return new MigrationError(
      'CHECKSUM_MISMATCH',
      `migration ${m.name} changed since it ran (checksum ${record.checksum.slice(0, 12)}… recorded for run ${record.run}, ${m.checksum.slice(0, 12)}… now): restore it, or roll it back first, or write a new migration`,
      { migration: m.name },
    );
  }

  async function buildPlan(
    actor: Actor,
    only: readonly string[] | undefined,
    persist: boolean,
    signal: AbortSignal | undefined,
  ): Promise<MigrationPlan> {
    if (only !== undefined && (!Array.isArray(only) || only.some((n) => typeof n !== 'string'))) {
      throw errors.constraint('only must be a list of migration names');
    }
    const targets = only === undefined ? ordered : withDependencies(ordered, only);
    const records = new Map((await history.list()).map((r) => [r.name, r]));
    const sim: Simulation = { envs: await environments(actor), overlay: new Map() };
    const plan: MigrationPlan = { migrations: [], refused: false, at: now() };
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
        const refs = await latestRefs(actor, record, persist);
        pendingRequests.set(
          m.name,
          refs.some((r) => r.state === 'proposed'),
        );
        continue;
      }
      const resuming = record?.status === 'running' || record?.status === 'failed';
      const run = resuming ? (record as MigrationRecord).run : (record?.run ?? 0) + 1;
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
      if (record && record.checksum !== m.checksum && record.status !== 'rolled_back') {
        entry.refused = true;
        entry.error = errorInfo(changedError(m, record));
        continue;
      }
      if (record?.status === 'rolling_back') {
        entry.refused = true;
        entry.error = {
          code: 'CONSTRAINT_VIOLATION',
          message: `the rollback of ${m.name} is unfinished: run it again`,
        };
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
      if (resuming) for (const r of await history.listRefs(m.name, run)) done.set(r.ref, r);
      for (const ref of await selectRefs(actor, m)) {
        throwIfAborted(signal);
        const refPlan = await planRef(actor, sim, m, run, ref, done, resuming);
        if (!refPlan) continue;
        entry.refs.push(refPlan);
        if (refPlan.action === 'error') entry.refused = true;
      }
    }
    plan.refused = plan.migrations.some((e) => e.refused);
    return plan;
  }

  function refusal(plan: MigrationPlan): MigrationError {
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

  // -- applying

  function metadataOf(m: Migration, run: number): JsonObject {
    return { migration: { name: m.name, version: m.version, checksum: m.checksum, run } };
  }

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

  async function migrateRef(
    actor: Actor,
    m: Migration,
    run: number,
    ref: ConfigRef,
    resuming: boolean,
    signal: AbortSignal | undefined,
  ): Promise<MigrationRefRecord | undefined> {
    const key = refKey(ref);
    if (resuming) {
      const prior = await findPrior(actor, m, run, key);
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
      const base = {
        migration: m.name,
        run,
        ref: key,
        beforeVersion: doc.version,
        beforeChecksum: doc.checksum,
        beforeContent: contentChecksum(before),
        recordedAt: now(),
      };
      let record: MigrationRefRecord;
      if (sameContent(before, after)) record = { ...base, state: 'unchanged' };
      else {
        const input = { ref: key, ...after, metadata: metadataOf(m, run), message: migrationMessage(m, run) };
        try {
          const written = await service.set(actor, input, { expectedVersion: doc.version, signal });
          record = {
            ...base,
            state: 'applied',
            afterVersion: written.version,
            afterChecksum: written.checksum,
            afterContent: contentChecksum(written),
          };
        } catch (error) {
          if (isConfigError(error, 'VERSION_CONFLICT') && attempt < MAX_CONFLICT_RETRIES) continue;
          if (!isConfigError(error, 'APPROVAL_REQUIRED')) throw error;
          const request = await service.propose(actor, { ...input, kind: 'set', baseVersion: doc.version });
          record = { ...base, state: 'proposed', requestId: request.id };
        }
      }
      await history.saveRef(record);
      return record;
    }
  }

  async function runMigration(
    actor: Actor,
    m: Migration,
    lock: MigrationLock,
    signal: AbortSignal | undefined,
  ): Promise<MigrationApplyResult> {
    const existing = await history.get(m.name);
    if (existing?.status === 'applied') {
      if (existing.checksum !== m.checksum) throw changedError(m, existing);
      return {
        name: m.name,
        run: existing.run,
        outcome: 'skipped',
        refs: await history.listRefs(m.name, existing.run),
        written: 0,
        resumed: 0,
      };
    }
    if (existing && existing.checksum !== m.checksum && existing.status !== 'rolled_back')
      throw changedError(m, existing);
    if (existing?.status === 'rolling_back') {
      throw new MigrationError('CONSTRAINT_VIOLATION', `the rollback of ${m.name} is unfinished: run it again`, {
        migration: m.name,
      });
    }
    const resuming = existing?.status === 'running' || existing?.status === 'failed';
    const run = resuming ? (existing as MigrationRecord).run : (existing?.run ?? 0) + 1;
    const record = recordOf(m, 'running', run, actor, resuming ? (existing as MigrationRecord).startedAt : now());
    await history.save(record, existing ? { status: existing.status, run: existing.run } : undefined);
    const done = new Map((await history.listRefs(m.name, run)).map((r) => [r.ref, r]));
    const result: MigrationApplyResult = { name: m.name, run, outcome: 'applied', refs: [], written: 0, resumed: 0 };
    try {
      const refs = await selectRefs(actor, m);
      for (const [i, ref] of refs.entries()) {
        throwIfAborted(signal);
        const key = refKey(ref);
        if (done.has(key)) {
          result.resumed++;
          progress({
            phase: 'apply',
            migration: m.name,
            ref: key,
            outcome: 'skipped',
            index: i + 1,
            total: refs.length,
          });
          continue;
        }
        await lock.check();
        const rec = await migrateRef(actor, m, run, ref, resuming, signal);
        if (!rec) continue;
        done.set(key, rec);
        if (rec.state === 'applied' || rec.state === 'proposed') result.written++;
        progress({ phase: 'apply', migration: m.name, ref: key, outcome: rec.state, index: i + 1, total: refs.length });
      }
      await history.save({ ...record, status: 'applied', finishedAt: now() }, { status: 'running', run });
    } catch (error) {
      await history
        .save({ ...record, status: 'failed', error: errorInfo(error) }, { status: 'running', run })
        .catch(() => undefined);
      throw error;
    }
    result.refs = await history.listRefs(m.name, run);
    return result;
  }

  async function withLock<T>(signal: AbortSignal | undefined, work: (lock: MigrationLock) => Promise<T>): Promise<T> {
    const lock = await history.acquire({ timeoutMs: lockTimeoutMs, signal });
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  }

  // -- rolling back

  async function rollbackRef(
    actor: Actor,
    name: string,
    run: number,
    r: MigrationRefRecord,
    force: boolean,
  ): Promise<MigrationRefRecord> {
    const at = now();
    if (r.state === 'unchanged' || r.state === 'declined') return { ...r, rollback: { state: 'skipped', at } };
    const message = rollbackMessage(name, run);
    if (r.state === 'proposed' && r.requestId) {
      try {
        await service.cancel(actor, r.requestId, { reason: message });
        return { ...r, state: 'declined', rollback: { state: 'cancelled', requestId: r.requestId, at } };
      } catch (error) {
        // Decided meanwhile: bring the record up to date and treat it by its new state.
        const [synced] = await syncRefs(actor, [r], true);
        if (!synced || synced.state === 'proposed') throw error;
        return rollbackRef(actor, name, run, synced, force);
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
      try {
        const written = await service.rollback(actor, r.ref, {
          to: r.beforeVersion,
          expectedVersion: headVersion,
          message,
        });
        const rollback: NonNullable<MigrationRefRecord['rollback']> = {
          state: 'rolled_back',
          version: written.version,
          checksum: written.checksum,
          at,
        };
        if (forced) rollback.forced = true;
        return { ...r, rollback };
      } catch (error) {
        if (isConfigError(error, 'VERSION_CONFLICT') && attempt < MAX_CONFLICT_RETRIES) continue;
        if (!isConfigError(error, 'APPROVAL_REQUIRED')) throw error;
        const request = await service.propose(actor, {
          ref: r.ref,
          kind: 'rollback',
          to: r.beforeVersion,
          baseVersion: headVersion,
          message,
        });
        const rollback: NonNullable<MigrationRefRecord['rollback']> = { state: 'proposed', requestId: request.id, at };
        if (forced) rollback.forced = true;
        return { ...r, rollback };
      }
    }
  }

  /** A rollback write (or request) for `r` whose record was lost to a crash. */
  async function findPriorRollback(actor: Actor, name: string, run: number, r: MigrationRefRecord) {
    const message = rollbackMessage(name, run);
    const summaries = await service.history(actor, r.ref, { limit: lookback });
    const written = summaries.find((s) => s.message === message && s.metadata.rollbackOf === r.beforeVersion);
    if (written) {
      return { state: 'rolled_back' as const, version: written.version, checksum: written.checksum, at: now() };
    }
    const requests = await service.listRequests(actor, { ref: r.ref, status: ['pending', 'approved'] });
    const proposed = requests.find((q) => q.kind === 'rollback' && q.message === message);
    if (proposed) return { state: 'proposed' as const, requestId: proposed.id, at: now() };
    return undefined;
  }

  // -- the runner

  return {
    migrations: ordered,

    plan(actor, opts = {}) {
      return buildPlan(actor, opts.only, false, opts.signal);
    },

    apply(actor, opts = {}) {
      return withLock(opts.signal, async (lock) => {
        const plan = await buildPlan(actor, opts.only, true, opts.signal);
        if (plan.refused) throw refusal(plan);
        const report: ApplyReport = { plan, migrations: [] };
        for (const entry of plan.migrations) {
          const m = byName.get(entry.name) as Migration;
          const blockedBy: string[] = [];
          for (const dep of m.dependencies) {
            const rec = await history.get(dep);
            if (rec?.status !== 'applied') blockedBy.push(dep);
            else if ((await history.listRefs(dep, rec.run)).some((r) => r.state === 'proposed')) blockedBy.push(dep);
          }
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
          report.migrations.push(await runMigration(actor, m, lock, opts.signal));
        }
        return report;
      });
    },

    rollback(actor, name, opts = {}) {
      if (typeof name !== 'string') return Promise.reject(errors.constraint('rollback needs a migration name'));
      const force = opts.force === true;
      return withLock(opts.signal, async (lock) => {
        const record = await history.get(name);
        if (!record) throw errors.notFound(`migration ${name} has never run`);
        if (record.status === 'rolled_back') {
          return { name, run: record.run, already: true, refs: await history.listRefs(name, record.run) };
        }
        const dependents = (await history.list()).filter(
          (r) => r.dependencies.includes(name) && r.status !== 'rolled_back',
        );
        if (dependents.length > 0) {
          throw new MigrationError(
            'CONSTRAINT_VIOLATION',
            `migration ${name} cannot be rolled back while ${dependents.map((d) => d.name).join(', ')} (which depend on it) are not rolled back`,
            { migration: name },
          );
        }
        let refs = await latestRefs(actor, record, true);
        // Refs whose rollback was written but not recorded (an earlier attempt crashed).
        refs = await Promise.all(
          refs.map(async (r) => {
            if (r.rollback || r.state !== 'applied') return r;
            const prior = await findPriorRollback(actor, name, record.run, r);
            if (!prior) return r;
            const next = { ...r, rollback: prior };
            await history.saveRef(next);
            return next;
          }),
        );
        const conflicts: string[] = [];
        for (const r of refs) {
          if (r.rollback || r.state !== 'applied') continue;
          const head = await service.get(actor, r.ref);
          if (changedSince(head, r)) conflicts.push(`${r.ref} (v${r.afterVersion} -> v${head?.version ?? 0})`);
        }
        if (conflicts.length > 0 && !force) {
          throw new MigrationError(
            'CONFLICTING_CHANGE',
            `migration ${name}: ${conflicts.length} ref(s) changed since it ran, nothing was rolled back (force to roll back over the changes): ${conflicts.join(', ')}`,
            { migration: name },
          );
        }
        const rolling = { ...record, status: 'rolling_back' as const };
        delete rolling.error;
        await history.save(rolling, { status: record.status, run: record.run });
        try {
          for (const [i, r] of refs.entries()) {
            throwIfAborted(opts.signal);
            if (r.rollback) continue;
            await lock.check();
            const next = await rollbackRef(actor, name, record.run, r, force);
            await history.saveRef(next);
            progress({
              phase: 'rollback',
              migration: name,
              ref: r.ref,
              outcome: next.rollback?.state ?? 'skipped',
              index: i + 1,
              total: refs.length,
            });
          }
          await history.save(
            { ...rolling, status: 'rolled_back', rolledBackBy: actor.id, rolledBackAt: now() },
            { status: 'rolling_back', run: record.run },
          );
        } catch (error) {
          await history
            .save({ ...rolling, error: errorInfo(error) }, { status: 'rolling_back', run: record.run })
            .catch(() => undefined);
          throw error;
        }
        return { name, run: record.run, already: false, refs: await history.listRefs(name, record.run) };
      });
    },

    async status(actor) {
      const records = new Map((await history.list()).map((r) => [r.name, r]));
      const out: MigrationStatusEntry[] = [];
      const describe = async (
        name: string,
        m: Migration | undefined,
        record: MigrationRecord | undefined,
      ): Promise<MigrationStatusEntry> => {
        const refs = record ? await latestRefs(actor, record, false) : [];
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
      };
      for (const m of ordered) out.push(await describe(m.name, m, records.get(m.name)));
      for (const [name, record] of records) if (!byName.has(name)) out.push(await describe(name, undefined, record));
      return out;
    },
  };
}
