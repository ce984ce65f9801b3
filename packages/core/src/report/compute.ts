/**
 * `computeAuditReport(events, options)`: the audit report of one window, computed from audit events
 * alone (pure: no I/O, no clock). docs/reports.md defines every figure.
 */
import type { AuditEvent } from '../audit/types.js';
import { errors } from '../errors/config-error.js';
import type {
  ActorCount,
  ApprovalStats,
  AuditReport,
  ComputeReportOptions,
  DayCount,
  DriftStats,
  RefCount,
  RotationStats,
} from './types.js';
import { REPORT_ACTIONS } from './types.js';

const DAY_MS = 86_400_000;
/** The most refs and actors a report lists. */
export const MAX_TOP = 1000;
/** The longest report window, in days (one row per day). */
export const MAX_WINDOW_DAYS = 3660;
const CHANGES = new Set<string>(REPORT_ACTIONS.changes);
const DECISIONS = new Set<string>(REPORT_ACTIONS.decisions);

/** `top` checked: an integer from 1 to 1000 (`CONSTRAINT_VIOLATION` naming `top` otherwise). */
export function checkTop(top: unknown): number {
  if (top === undefined) return 10;
  if (typeof top !== 'number' || !Number.isInteger(top) || top < 1 || top > MAX_TOP) {
    throw errors.constraint(`report top must be an integer from 1 to ${MAX_TOP}, not ${JSON.stringify(top)}`);
  }
  return top;
}

/**
 * The window checked: two valid dates, `since` before `until`, at most 3660 days apart
 * (`CONSTRAINT_VIOLATION` otherwise).
 */
export function checkWindow(since: unknown, until: unknown): void {
  for (const [name, value] of [
    ['since', since],
    ['until', until],
  ] as const) {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw errors.constraint(`report ${name} must be a valid Date`);
    }
  }
  const span = (until as Date).getTime() - (since as Date).getTime();
  if (span <= 0) {
    throw errors.constraint(
      `report since (${(since as Date).toISOString()}) must be before until (${(until as Date).toISOString()})`,
    );
  }
  if (span > MAX_WINDOW_DAYS * DAY_MS) {
    throw errors.constraint(`a report window is at most ${MAX_WINDOW_DAYS} days`);
  }
}

/**
 * The value at rank ceil(p/100 * n) (1-based) of `sorted` ascending: the nearest-rank percentile,
 * always one of the values. `null` for no values.
 */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** The UTC day (`YYYY-MM-DD`) of epoch milliseconds. */
function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Counts sorted most first, ties by name; at most `top`. */
function ranked(counts: Map<string, number>, top: number): Array<[string, number]> {
  return [...counts].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).slice(0, top);
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Every UTC day the window [since, until) touches, zero-filled. */
function days(since: number, until: number, counts: Map<string, number>): DayCount[] {
  const out: DayCount[] = [];
  const last = dayOf(until - 1);
  for (let t = Date.parse(`${dayOf(since)}T00:00:00.000Z`); ; t += DAY_MS) {
    const day = dayOf(t);
    out.push({ day, changes: counts.get(day) ?? 0 });
    if (day === last) break;
  }
  return out;
}

function approvalStats(events: readonly AuditEvent[]): ApprovalStats {
  const opened = new Map<string, number>();
  const decided = new Map<string, { ms: number; approved: boolean }>();
  for (const e of events) {
    if (e.requestId === undefined) continue;
    const at = Date.parse(e.at);
    if (e.action === REPORT_ACTIONS.requestCreate) {
      if (!opened.has(e.requestId)) opened.set(e.requestId, at);
    } else if (DECISIONS.has(e.action)) {
      const start = opened.get(e.requestId);
      if (start === undefined || decided.has(e.requestId)) continue;
      decided.set(e.requestId, { ms: Math.max(0, at - start), approved: e.action === 'request.approve' });
    }
  }
  const latencies = [...decided.values()].map((d) => d.ms).sort((a, b) => a - b);
  const approvedFirst = [...decided.values()].filter((d) => d.approved).length;
  return {
    requests: opened.size,
    decided: decided.size,
    approvedFirst,
    rejectedFirst: decided.size - approvedFirst,
    undecided: opened.size - decided.size,
    p50Ms: nearestRank(latencies, 50),
    p95Ms: nearestRank(latencies, 95),
    method: 'nearest-rank',
  };
}

function rotationStats(events: readonly AuditEvent[]): RotationStats {
  let succeeded = 0;
  let failed = 0;
  for (const e of events) {
    if (e.action === REPORT_ACTIONS.rotationSucceeded) succeeded++;
    else if (e.action === REPORT_ACTIONS.rotationFailed) failed++;
  }
  return { succeeded, failed, successRate: succeeded + failed === 0 ? null : succeeded / (succeeded + failed) };
}

/** What a drift event is about: its kind, and the key that pairs a repair with its finding. */
export interface DriftSubject {
  readonly kind: string;
  readonly key: string;
}

/**
 * The kind and the instance of a drift event, read from its message as the agent writes it
 * (docs/audit-trail.md): `<kind>: ...` for `drift.found`, `<kind> repaired: ...` for
 * `drift.repaired`, and `instance <id>` for an instance's finding; kind `unknown` when the message
 * starts otherwise. The key pairs a repair with its finding: ref, environment, instance and kind.
 */
export function driftSubject(event: AuditEvent): DriftSubject {
  const kind = /^([a-z][a-z0-9-]*)(?: repaired)?:/.exec(event.message)?.[1] ?? 'unknown';
  const instance = /\binstance ([^\s()]+)/.exec(event.message)?.[1] ?? '';
  const key = JSON.stringify([event.ref ?? '', event.environment ?? '', instance, kind]);
  return { kind, key };
}

function driftStats(events: readonly AuditEvent[], top: number): DriftStats {
  const open = new Map<string, number>();
  const byKind = new Map<string, number>();
  const repairs: number[] = [];
  let incidents = 0;
  let unmatchedRepairs = 0;
  for (const e of events) {
    if (e.action !== REPORT_ACTIONS.driftFound && e.action !== REPORT_ACTIONS.driftRepaired) continue;
    const { kind, key } = driftSubject(e);
    const at = Date.parse(e.at);
    if (e.action === REPORT_ACTIONS.driftFound) {
      if (open.has(key)) continue;
      open.set(key, at);
      incidents++;
      bump(byKind, kind);
    } else {
      const found = open.get(key);
      if (found === undefined) {
        unmatchedRepairs++;
        continue;
      }
      open.delete(key);
      repairs.push(Math.max(0, at - found));
    }
  }
  return {
    incidents,
    byKind: ranked(byKind, Math.max(top, byKind.size)).map(([kind, n]) => ({ kind, incidents: n })),
    repaired: repairs.length,
    unrepaired: open.size,
    meanTimeToRepairMs: repairs.length === 0 ? null : repairs.reduce((a, b) => a + b, 0) / repairs.length,
    unmatchedRepairs,
  };
}

/**
 * The audit report of the window `[since, until)` over `events` (any order; events outside the
 * window are ignored; times are the events' `at`). Throws `CONSTRAINT_VIOLATION` for a window that
 * is not two valid dates with `since` before `until`, or a `top` that is not an integer from 1 to 1000.
 */
export function computeAuditReport(events: readonly AuditEvent[], options: ComputeReportOptions): AuditReport {
  if (typeof options !== 'object' || options === null) throw errors.constraint('report options must be an object');
  const { since, until } = options;
  checkWindow(since, until);
  const top = checkTop(options.top);
  const from = since.getTime();
  const to = until.getTime();
  const inWindow = events
    .filter((e) => {
      const at = Date.parse(e.at);
      return at >= from && at < to;
    })
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.seq - b.seq);
  const perDay = new Map<string, number>();
  const perRef = new Map<string, number>();
  const perActor = new Map<string, number>();
  let changes = 0;
  for (const e of inWindow) {
    if (!CHANGES.has(e.action)) continue;
    changes++;
    bump(perDay, dayOf(Date.parse(e.at)));
    if (e.ref !== undefined) bump(perRef, e.ref);
    bump(perActor, e.actor);
  }
  return {
    since: since.toISOString(),
    until: until.toISOString(),
    events: inWindow.length,
    changes,
    changesPerDay: days(from, to, perDay),
    topRefs: ranked(perRef, top).map(([ref, n]): RefCount => ({ ref, changes: n })),
    topActors: ranked(perActor, top).map(([actor, n]): ActorCount => ({ actor, changes: n })),
    approvals: approvalStats(inWindow),
    rotations: rotationStats(inWindow),
    drift: driftStats(inWindow, top),
  };
}
