/**
 * The shapes of an audit report (docs/reports.md): what `computeAuditReport` and `auditReport`
 * return, and the options they take. Every figure is computed from the audit trail alone.
 */

/** The audit actions a report reads, by what they mean. */
export const REPORT_ACTIONS = {
  /** Each writes one new config version: the report's "changes". */
  changes: ['config.set', 'config.delete', 'config.rollback', 'request.apply'],
  /** A change request opened (starts its approval latency). */
  requestCreate: 'request.create',
  /** The decisions that end an approval latency (the first one for the request counts). */
  decisions: ['request.approve', 'request.reject'],
  rotationSucceeded: 'secret.rotation.succeeded',
  rotationFailed: 'secret.rotation.failed',
  driftFound: 'drift.found',
  driftRepaired: 'drift.repaired',
} as const;

/** Changes made on one UTC day. */
export interface DayCount {
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  readonly changes: number;
}

/** A ref (or an actor) with its number of changes. */
export interface RefCount {
  /** `<scope>/<id>` */
  readonly ref: string;
  readonly changes: number;
}

export interface ActorCount {
  readonly actor: string;
  readonly changes: number;
}

/**
 * Change requests opened in the window and how long each waited for its first decision
 * (`request.approve` or `request.reject`, whichever came first).
 */
export interface ApprovalStats {
  /** `request.create` events in the window. */
  readonly requests: number;
  /** Requests whose first decision is in the window. */
  readonly decided: number;
  /** Of those, first decided by an approval. */
  readonly approvedFirst: number;
  /** Of those, first decided by a rejection. */
  readonly rejectedFirst: number;
  /** Requests opened in the window without a decision in it (pending, cancelled or expired undecided). */
  readonly undecided: number;
  /** Median latency in milliseconds (nearest rank), `null` when nothing was decided. */
  readonly p50Ms: number | null;
  /** 95th percentile latency in milliseconds (nearest rank), `null` when nothing was decided. */
  readonly p95Ms: number | null;
  /** The percentile method: `nearest-rank` (the value at rank ceil(p/100 * n) of the sorted latencies). */
  readonly method: 'nearest-rank';
}

export interface RotationStats {
  /** `secret.rotation.succeeded` events in the window. */
  readonly succeeded: number;
  /** `secret.rotation.failed` events in the window. */
  readonly failed: number;
  /** succeeded / (succeeded + failed), between 0 and 1; `null` when there was no rotation result. */
  readonly successRate: number | null;
}

/** A drift kind with its number of incidents. */
export interface DriftKindCount {
  readonly kind: string;
  readonly incidents: number;
}

/**
 * Drift incidents: a `drift.found` opens an incident for its key (ref, instance, kind); further
 * `drift.found` events of an open key belong to the same incident; the first `drift.repaired` of
 * that key closes it.
 */
export interface DriftStats {
  /** Incidents opened in the window. */
  readonly incidents: number;
  /** Incidents by kind (`unknown` when the event names none), most first, then by kind. */
  readonly byKind: readonly DriftKindCount[];
  /** Incidents repaired in the window. */
  readonly repaired: number;
  /** Incidents still open at the window's end. */
  readonly unrepaired: number;
  /** Mean of found -> repaired over the repaired incidents, in milliseconds; `null` when none was repaired. */
  readonly meanTimeToRepairMs: number | null;
  /** `drift.repaired` events with no open incident of their key in the window (found before it). */
  readonly unmatchedRepairs: number;
}

/** The audit report of one window. */
export interface AuditReport {
  /** Start of the window, inclusive (ISO-8601 UTC). */
  readonly since: string;
  /** End of the window, exclusive (ISO-8601 UTC). */
  readonly until: string;
  /** Audit events read in the window. */
  readonly events: number;
  /** Changes (new config versions written through the service) in the window. */
  readonly changes: number;
  /** Changes per UTC day, every day the window touches, zero-filled, oldest first. */
  readonly changesPerDay: readonly DayCount[];
  /** The most-changed refs, at most `top`, most first, ties by ref. */
  readonly topRefs: readonly RefCount[];
  /** Changes by actor, at most `top`, most first, ties by actor. */
  readonly topActors: readonly ActorCount[];
  readonly approvals: ApprovalStats;
  readonly rotations: RotationStats;
  readonly drift: DriftStats;
}

/** The window and size of a computed report. */
export interface ComputeReportOptions {
  /** Start, inclusive. */
  since: Date;
  /** End, exclusive; after `since`. */
  until: Date;
  /** How many refs and actors to list. Default 10; an integer from 1 to 1000. */
  top?: number;
}

/** What `auditReport` reads and how. */
export interface AuditReportOptions {
  /**
   * Start of the window: a time (`Date`, ISO-8601) or a duration before `until`
   * (`<n>m`, `<n>h`, `<n>d`, `<n>w`: minutes, hours, days, weeks). Default `30d`.
   */
  since?: Date | string;
  /** End of the window (exclusive): a time or a duration before now. Default now. */
  until?: Date | string;
  /** How many refs and actors to list. Default 10; an integer from 1 to 1000. */
  top?: number;
  /** The time "now" is (tests). Default `new Date()`. */
  now?: Date;
  signal?: AbortSignal;
}
