/**
 * The migration history contract: what ran, with which checksum, and per-ref progress, so a run
 * that failed part-way resumes where it stopped. Implementations live in `@summit-config/backends`:
 * memory (`createMemoryMigrationHistory`, `/memory`) and SQL (PostgreSQL and PGlite, `/postgres` and
 * `/pglite`). Every one runs the suite `@summit-config/test-support/contract/migration-history-contract`.
 *
 * Rules every implementation keeps:
 * - `acquire()` gives one runner at a time the right to run migrations against this history (every
 *   runner on the same storage, in any process where the storage is shared): SQL holds a session
 *   advisory lock on a dedicated connection (released by the server if the process dies); memory
 *   and PGlite (one process) hold an in-process lock.
 * - `save()` is a compare-and-set on the record's `(status, run)`: a second guard behind the lock,
 *   so two runners can never both claim one migration run.
 * - An unreachable storage rejects with `BACKEND_UNAVAILABLE`; after `close()` calls reject `CLOSED`.
 */
import { errors } from '../errors/config-error.js';
import type { MigrationKind } from '../migrations/types.js';
import { isPlainObject } from '../model/json.js';

export type MigrationRunStatus = 'running' | 'failed' | 'applied' | 'rolling_back' | 'rolled_back';
export const MIGRATION_RUN_STATUSES: readonly MigrationRunStatus[] = [
  'running',
  'failed',
  'applied',
  'rolling_back',
  'rolled_back',
];

/** What the history keeps of one migration (its latest run). */
export interface MigrationRecord {
  name: string;
  version: string;
  /** The checksum of the migration when it (last) ran. */
  checksum: string;
  kind: MigrationKind;
  description: string;
  dependencies: string[];
  status: MigrationRunStatus;
  /** 1 for the first apply; each apply after a rollback starts the next run. */
  run: number;
  appliedBy: string;
  /** ISO-8601 UTC: when this run started. */
  startedAt: string;
  /** ISO-8601 UTC: when the apply finished (status `applied`). */
  finishedAt?: string;
  rolledBackBy?: string;
  rolledBackAt?: string;
  /** The last failure (status `failed`, or a rollback that failed). */
  error?: { code: string; message: string };
}

/** What happened to one ref in one run. */
export type RefState =
  /** A new version was written. */
  | 'applied'
  /** A change request was opened (guarded environment); it becomes `applied` or `declined`. */
  | 'proposed'
  /** The operations changed nothing; no version was written. */
  | 'unchanged'
  /** The change request was rejected, cancelled or expired. */
  | 'declined';
export const REF_STATES: readonly RefState[] = ['applied', 'proposed', 'unchanged', 'declined'];

export type RefRollbackState = 'rolled_back' | 'proposed' | 'cancelled' | 'skipped' | 'declined';

export interface MigrationRefRecord {
  migration: string;
  run: number;
  /** `<scope>/<id>` */
  ref: string;
  state: RefState;
  /** The head the migration read (the content a rollback restores). */
  beforeVersion: number;
  beforeChecksum: string;
  /** `contentChecksum` of the content before: a rollback restores exactly this. */
  beforeContent: string;
  /** The version the migration wrote (or its change request applied). */
  afterVersion?: number;
  afterChecksum?: string;
  afterContent?: string;
  /** The change request opened for a guarded environment. */
  requestId?: string;
  /** ISO-8601 UTC. */
  recordedAt: string;
  rollback?: {
    state: RefRollbackState;
    version?: number;
    checksum?: string;
    requestId?: string;
    /** The ref had changed since the migration and the rollback was forced over it. */
    forced?: boolean;
    at: string;
  };
}

/** The right to run migrations, held until released. */
export interface MigrationLock {
  /** Rejects (`BACKEND_UNAVAILABLE`) when the lock may have been lost, e.g. its connection died. */
  check(): Promise<void>;
  /** Releases the lock. Idempotent; never rejects. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Give up after this many milliseconds with `TIMEOUT`. Default 30 000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The expected stored state for a compare-and-set; `undefined`: no record yet. */
export type RecordExpectation = { status: MigrationRunStatus; run: number } | undefined;

export interface MigrationHistory extends AsyncDisposable {
  /** `memory`, `postgres`, `pglite` (used in errors). */
  readonly name: string;
  /** Waits for the exclusive right to run migrations (see the rules above). */
  acquire(options?: AcquireOptions): Promise<MigrationLock>;
  /** Every record, sorted by name. */
  list(): Promise<MigrationRecord[]>;
  get(name: string): Promise<MigrationRecord | undefined>;
  /**
   * Writes `record` if the stored record of `record.name` matches `expected` (`undefined`: none is
   * stored). Otherwise rejects `CONFLICTING_CHANGE` and writes nothing.
   */
  save(record: MigrationRecord, expected: RecordExpectation): Promise<void>;
  /** The ref records of one run of `name`, sorted by ref. */
  listRefs(name: string, run: number): Promise<MigrationRefRecord[]>;
  /** Inserts or replaces the ref record `(migration, run, ref)`. The migration's record must exist. */
  saveRef(record: MigrationRefRecord): Promise<void>;
  /** Releases what the history owns. Idempotent. */
  close(): Promise<void>;
}

// -- record validation (shared by every implementation, for what they read back)

function str(value: unknown, what: string, max = 4096): string {
  if (typeof value !== 'string' || value.length > max) throw errors.constraint(`${what} must be a string`);
  return value;
}

function optionalStr(value: unknown, what: string): string | undefined {
  return value === undefined || value === null ? undefined : str(value, what);
}

function int(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw errors.constraint(`${what} must be an integer >= ${min}`);
  }
  return value;
}

/** Copies the optional string fields `keys` of `raw` onto `out` (absent or null: left out); errors name `prefix` + key. */
function copyOptionalStrings<T extends object>(
  out: T,
  raw: Record<string, unknown>,
  keys: readonly (keyof T & string)[],
  prefix = '',
): void {
  for (const key of keys) {
    const value = optionalStr(raw[key], `${prefix}${key}`);
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
}

/** Validates (and copies) a migration record; throws `CONSTRAINT_VIOLATION` naming the bad field. */
export function checkMigrationRecord(raw: unknown): MigrationRecord {
  if (!isPlainObject(raw)) throw errors.constraint('a migration record must be an object');
  const status = raw.status as MigrationRunStatus;
  if (!MIGRATION_RUN_STATUSES.includes(status)) throw errors.constraint(`unknown migration status ${String(status)}`);
  if (raw.kind !== 'data' && raw.kind !== 'module')
    throw errors.constraint('migration record kind must be data or module');
  if (!Array.isArray(raw.dependencies) || raw.dependencies.some((d) => typeof d !== 'string')) {
    throw errors.constraint('migration record dependencies must be a list of names');
  }
  const out: MigrationRecord = {
    name: str(raw.name, 'migration record name', 128),
    version: str(raw.version, 'migration record version', 64),
    checksum: str(raw.checksum, 'migration record checksum', 64),
    kind: raw.kind,
    description: str(raw.description ?? '', 'migration record description'),
    dependencies: [...(raw.dependencies as string[])],
    status,
    run: int(raw.run, 'migration record run', 1),
    appliedBy: str(raw.appliedBy, 'migration record appliedBy', 256),
    startedAt: str(raw.startedAt, 'migration record startedAt', 64),
  };
  copyOptionalStrings(out, raw, ['finishedAt', 'rolledBackBy', 'rolledBackAt']);
  if (raw.error !== undefined && raw.error !== null) {
    if (!isPlainObject(raw.error)) throw errors.constraint('migration record error must be { code, message }');
    out.error = { code: str(raw.error.code, 'error.code', 64), message: str(raw.error.message, 'error.message', 8192) };
  }
  return out;
}

/** Validates (and copies) a ref record; throws `CONSTRAINT_VIOLATION` naming the bad field. */
export function checkRefRecord(raw: unknown): MigrationRefRecord {
  if (!isPlainObject(raw)) throw errors.constraint('a migration ref record must be an object');
  const state = raw.state as RefState;
  if (!REF_STATES.includes(state)) throw errors.constraint(`unknown ref state ${String(state)}`);
  const out: MigrationRefRecord = {
    migration: str(raw.migration, 'ref record migration', 128),
    run: int(raw.run, 'ref record run', 1),
    ref: str(raw.ref, 'ref record ref', 400),
    state,
    beforeVersion: int(raw.beforeVersion, 'beforeVersion', 1),
    beforeChecksum: str(raw.beforeChecksum, 'beforeChecksum', 64),
    beforeContent: str(raw.beforeContent, 'beforeContent', 64),
    recordedAt: str(raw.recordedAt, 'recordedAt', 64),
  };
  if (raw.afterVersion !== undefined && raw.afterVersion !== null)
    out.afterVersion = int(raw.afterVersion, 'afterVersion', 1);
  copyOptionalStrings(out, raw, ['afterChecksum', 'afterContent', 'requestId']);
  if (raw.rollback !== undefined && raw.rollback !== null) {
    const r = raw.rollback;
    if (!isPlainObject(r)) throw errors.constraint('ref record rollback must be an object');
    const rstate = r.state as RefRollbackState;
    if (!['rolled_back', 'proposed', 'cancelled', 'skipped', 'declined'].includes(rstate)) {
      throw errors.constraint(`unknown rollback state ${String(rstate)}`);
    }
    out.rollback = { state: rstate, at: str(r.at, 'rollback.at', 64) };
    if (r.version !== undefined && r.version !== null) out.rollback.version = int(r.version, 'rollback.version', 1);
    copyOptionalStrings(out.rollback, r, ['checksum', 'requestId'], 'rollback.');
    if (r.forced === true) out.rollback.forced = true;
  }
  return out;
}
