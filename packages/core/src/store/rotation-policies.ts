/**
 * The rotation policy storage contract: where rotation policies, and the record of the run in
 * progress, are kept. Implementations, both in `@summit-config/secrets`: memory
 * (`createMemoryRotationPolicies`) and SQL on PostgreSQL or PGlite (`createSqlRotationPolicies`,
 * table `secret_rotation_policies`). Every one runs the suite
 * `@summit-config/test-support/contract/rotation-policies-contract`.
 *
 * Every write is a compare-and-set on the policy's `revision`, so two runners (two agents, a CLI
 * and an agent) never overwrite each other's record: the loser gets `VERSION_CONFLICT`
 * ({@link RotationPolicyConflictError}). None of the stored types ever holds a secret value: a run
 * records version ids, refs and sanitised errors only.
 */
import { ConfigError } from '../errors/config-error.js';

/** Which secret: the provider instance name (as registered) and the secret's name there. */
export interface SecretId {
  readonly provider: string;
  readonly name: string;
}

/**
 * The password generator: `length` characters drawn with `crypto.randomInt` from the enabled
 * classes, each enabled class guaranteed at least once.
 */
export interface PasswordGeneratorSpec {
  readonly type: 'password';
  /** 8-4096. Default 32. */
  readonly length?: number;
  /** a-z. Default true. */
  readonly lower?: boolean;
  /** A-Z. Default true. */
  readonly upper?: boolean;
  /** 0-9. Default true. */
  readonly digits?: boolean;
  /** `true` for the default set `!#$%&()*+,-./:;<=>?@[]^_{|}~`, a string for your own set, `false` for none. Default true. */
  readonly symbols?: boolean | string;
}

/** A custom handler registered by name on the manager (e.g. `databaseUserHandler(...)`). */
export interface HandlerGeneratorSpec {
  readonly type: 'handler';
  /** The name the handler was registered under. */
  readonly name: string;
  /** Passed to the handler's hooks as `ctx.options` (stored in clear: never put a secret here). */
  readonly options?: Readonly<Record<string, unknown>>;
}

export type GeneratorSpec = PasswordGeneratorSpec | HandlerGeneratorSpec;

/** The life of a policy: `idle` between rotations, `rotating` while a run is under way, `failed` when one gave up. */
export type RotationState = 'idle' | 'rotating' | 'failed';

/**
 * The steps of a run, in order. Each step is recorded before it runs; a run that stops (crash,
 * close, abort) resumes at its recorded step.
 *
 * - `generate`: make the new value (memory only) and list the versions that exist before the write;
 * - `write`:    store it as `pending` (`provider.write`), or adopt the pending version this run already wrote;
 * - `activate`: a handler's `activate` hook makes it usable (e.g. `ALTER ROLE ... PASSWORD`); skipped without one;
 * - `verify`:   read it back by version, then the handler's and the manager's `verify` hooks (e.g. a DB login);
 * - `promote`:  make it `current` (the previous version stays readable as `previous`);
 * - `bump`:     append a new version of every config referencing the secret, so watchers reload;
 * - `grace`:    wait for the grace period and for every live instance to acknowledge the bumped versions;
 * - `retire`:   a handler's `retire` hook (e.g. disable the old login), while the previous value is
 *               still readable; skipped without one;
 * - `revoke`:   revoke the previous version at the provider.
 */
export type RotationStep =
  | 'generate'
  | 'write'
  | 'activate'
  | 'verify'
  | 'promote'
  | 'bump'
  | 'grace'
  | 'retire'
  | 'revoke';

/** A failure as recorded: code and message only (sanitised; never a secret value). */
export interface RotationErrorInfo {
  readonly code: string;
  readonly message: string;
  /** `SecretError.reason`, when the failure came from a provider. */
  readonly reason?: string;
  readonly step: RotationStep;
  /** Attempts made at that step. */
  readonly attempts: number;
  /** ISO-8601 UTC. */
  readonly at: string;
}

/** One config the `bump` step appends a version of. */
export interface BumpedConfig {
  /** `<scope>/<id>` */
  readonly ref: string;
  /** The head when the step planned its writes. */
  readonly baseVersion: number;
  /** The version written by this run, once written. */
  readonly version?: number;
  /** Why it was not bumped: the document no longer references the secret, or was deleted. */
  readonly skipped?: string;
}

/** An instance the `grace` step is waiting for. */
export interface LaggingInstance {
  readonly ref: string;
  readonly environment: string;
  readonly instance: string;
  /** The version it acknowledged, and how. */
  readonly version: number;
  readonly status: 'applied' | 'rejected';
  /** The bumped version it must reach. */
  readonly needed: number;
}

/** The record of a run in progress: the recorded step and what the earlier steps produced. */
export interface RotationRun {
  readonly id: string;
  readonly reason: 'scheduled' | 'manual';
  /** ISO-8601 UTC. */
  readonly startedAt: string;
  readonly step: RotationStep;
  /** Failed attempts at the current step. */
  readonly attempts: number;
  /** When a failed step is tried again (ISO-8601). */
  readonly nextAttemptAt?: string;
  /** The last failure of the current step (cleared when the step succeeds). */
  readonly lastError?: RotationErrorInfo;
  /** Version ids that existed before `write` (a pending version not among them is this run's). */
  readonly knownVersions?: readonly string[];
  /** The version that was current when the run wrote (revoked at the end). */
  readonly previousVersion?: string;
  /** The new version (pending, then current). */
  readonly newVersion?: string;
  /** ISO-8601 UTC: when the new version became current. */
  readonly promotedAt?: string;
  /** The configs the `bump` step writes, planned before the first write. */
  readonly bumps?: readonly BumpedConfig[];
  /** References that pin a version id of this secret: not bumped (they keep what they pin). */
  readonly pinned?: readonly string[];
  /** ISO-8601 UTC: the end of the grace period. */
  readonly graceUntil?: string;
  /** Instances the `grace` step found behind, at its last look. */
  readonly waitingFor?: readonly LaggingInstance[];
  /** Which runner holds the run, until when (ISO-8601). Another runner takes over only after. */
  readonly owner?: string;
  readonly leaseUntil?: string;
}

/** What the last completed run did. */
export interface RotationSummary {
  readonly runId: string;
  readonly version: string;
  readonly previousVersion: string | undefined;
  readonly startedAt: string;
  readonly promotedAt: string;
  readonly completedAt: string;
  readonly bumped: ReadonlyArray<{ ref: string; version: number }>;
}

/** A stored policy. */
export interface RotationPolicy {
  readonly secret: SecretId;
  readonly intervalDays: number | undefined;
  readonly cron: string | undefined;
  /** Grace period in milliseconds (whatever unit it was given in). */
  readonly graceMs: number;
  readonly generator: GeneratorSpec;
  readonly notify: readonly string[];
  readonly enabled: boolean;
  /** ISO-8601 UTC of the last promote. */
  readonly lastRotatedAt: string | undefined;
  /** ISO-8601 UTC of the next scheduled rotation. */
  readonly nextRotationAt: string | undefined;
  readonly state: RotationState;
  /** The recorded step while `rotating`, the failed step while `failed`. */
  readonly step: RotationStep | undefined;
  /** The run under way (or the one that failed). */
  readonly run: RotationRun | undefined;
  /** Why the run failed (state `failed`). */
  readonly error: RotationErrorInfo | undefined;
  readonly lastRun: RotationSummary | undefined;
  /** Bumped by every write: writes compare-and-set on it. */
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * Failure rules: an unreachable storage rejects with `BACKEND_UNAVAILABLE`; a lost compare-and-set
 * with `VERSION_CONFLICT`; after `close()` calls reject `CLOSED`.
 */
export interface RotationPolicyStore extends AsyncDisposable {
  /** `memory`, `postgres` or `pglite` (used in errors). */
  readonly name: string;
  /** Policies survive a restart of this process. */
  readonly durable: boolean;
  /** The policy of `secret`, or `undefined`. */
  get(secret: SecretId): Promise<RotationPolicy | undefined>;
  /** Every policy, sorted by `<provider>/<name>`. */
  list(): Promise<RotationPolicy[]>;
  /**
   * Stores `policy` as revision `expectedRevision + 1` and returns what was stored.
   * `expectedRevision` 0 creates it (`VERSION_CONFLICT` when it exists); otherwise the stored
   * revision must be `expectedRevision` (`VERSION_CONFLICT` when it differs or the policy is gone).
   */
  save(policy: RotationPolicy, expectedRevision: number): Promise<RotationPolicy>;
  /** Deletes it if its revision is `expectedRevision` (`VERSION_CONFLICT` otherwise); false when there was none. */
  delete(secret: SecretId, expectedRevision: number): Promise<boolean>;
  /** Releases what the storage owns. Idempotent. */
  close(): Promise<void>;
}

/** `<provider>/<name>`: the key a policy is stored and sorted under (`secret_id` in SQL). The provider has no `/`, so it splits back. */
export function secretKey(secret: SecretId): string {
  return `${secret.provider}/${secret.name}`;
}

/** A lost compare-and-set on a policy: another runner (or an operator) wrote it first. */
export class RotationPolicyConflictError extends ConfigError<'VERSION_CONFLICT'> {
  readonly secret: SecretId;
  constructor(secret: SecretId, expected: number, found: number | undefined) {
    super(
      'VERSION_CONFLICT',
      `rotation policy ${secretKey(secret)}: expected revision ${expected}, found ${found === undefined ? 'none' : found}`,
      { version: expected },
    );
    this.name = 'RotationPolicyConflictError';
    this.secret = secret;
  }
}
