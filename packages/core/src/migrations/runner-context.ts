/**
 * What every phase of a runner shares: the checked options, the migrations in dependency order,
 * the clock, progress reporting and the history's lock.
 */
import { errors } from '../errors/config-error.js';
import { isPlainObject } from '../model/json.js';
import type { ConfigService } from '../service/service.js';
import type { MigrationHistory, MigrationLock } from '../store/migration-history.js';
import { orderMigrations } from './order.js';
import type { MigrationProgress, MigrationRunnerOptions } from './runner-types.js';
import type { Migration } from './types.js';

export interface RunnerContext {
  readonly service: ConfigService;
  readonly history: MigrationHistory;
  /** The known migrations in dependency order. */
  readonly ordered: readonly Migration[];
  readonly byName: ReadonlyMap<string, Migration>;
  /** How long `apply` / `rollback` wait for another runner, in milliseconds. */
  readonly lockTimeoutMs: number;
  /** Versions of a ref searched for an earlier write of the same run when resuming. */
  readonly lookback: number;
  /** The clock's time as ISO-8601 UTC. */
  now(): string;
  /** Tells `onProgress`; a throwing callback is ignored. */
  progress(event: MigrationProgress): void;
}

/** Checks the options and orders the migrations: `CIRCULAR_DEPENDENCY` / `NOT_FOUND` / `CONSTRAINT_VIOLATION` throw here. */
export function createRunnerContext(options: MigrationRunnerOptions): RunnerContext {
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
  return {
    service,
    history,
    ordered,
    byName: new Map(ordered.map((m) => [m.name, m])),
    lockTimeoutMs,
    lookback,
    now: () => clock().toISOString(),
    progress(event) {
      try {
        options.onProgress?.(event);
      } catch {
        // A progress callback never stops a run.
      }
    },
  };
}

/** Runs `work` holding the history's lock (one runner at a time), released however it ends. */
export async function withLock<T>(
  ctx: RunnerContext,
  signal: AbortSignal | undefined,
  work: (lock: MigrationLock) => Promise<T>,
): Promise<T> {
  const lock = await ctx.history.acquire({ timeoutMs: ctx.lockTimeoutMs, signal });
  try {
    return await work(lock);
  } finally {
    await lock.release();
  }
}
