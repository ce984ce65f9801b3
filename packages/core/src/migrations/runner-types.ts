/** The runner's public shapes: its options, plans, reports and status entries. */
import type { JsonPatchOperation } from '../audit/types.js';
import type { ErrorCode, ValidationIssue } from '../errors/config-error.js';
import type { Actor } from '../rbac/rbac.js';
import type { ConfigService } from '../service/service.js';
import type {
  MigrationHistory,
  MigrationRecord,
  MigrationRefRecord,
  MigrationRunStatus,
  RefState,
} from '../store/migration-history.js';
import type { Migration } from './types.js';

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
