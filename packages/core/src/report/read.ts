/**
 * `auditReport(service, actor, options)`: reads the audit events of a window through the change
 * service (so RBAC applies: `config:audit:read`) and computes their report. The CLI (direct mode) and
 * the config server's `GET /api/v1/report` both call it.
 */
import type { AuditEvent } from '../audit/types.js';
import { errors } from '../errors/config-error.js';
import type { Actor } from '../rbac/rbac.js';
import type { ConfigService } from '../service/types.js';
import { throwIfAborted } from '../util/abort.js';
import { checkTop, checkWindow, computeAuditReport } from './compute.js';
import type { AuditReport, AuditReportOptions } from './types.js';

const PAGE = 10_000;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^(\d{1,6})([mhdw])$/;
const ISO_TIME = /^\d{4}-\d\d-\d\d([T ][0-9:.]+)?(Z|[+-]\d\d:?\d\d)?$/;

/**
 * A window bound: a `Date`, an ISO-8601 time, or a duration (`30d`, `12h`, `90m`, `2w`) before
 * `from`. Throws `CONSTRAINT_VIOLATION` naming `name` for anything else (a negative duration, text).
 */
export function reportTime(value: Date | string, name: string, from: Date): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw errors.constraint(`report ${name} is not a valid date`);
    return value;
  }
  if (typeof value !== 'string') throw errors.constraint(`report ${name} must be a time or a duration`);
  const text = value.trim();
  const duration = DURATION.exec(text);
  if (duration) {
    return new Date(from.getTime() - Number(duration[1]) * (UNIT_MS[duration[2] as string] as number));
  }
  const t = ISO_TIME.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t)) {
    throw errors.constraint(
      `report ${name} must be a duration (30d, 12h, 90m, 2w) or an ISO-8601 time, not ${JSON.stringify(value)}`,
    );
  }
  return new Date(t);
}

/**
 * The window of `options`: `until` (default now), then `since` (default `30d` before `until`), and
 * `top` (default 10). Throws `CONSTRAINT_VIOLATION` naming the bad option; reads nothing.
 */
export function reportWindow(options: AuditReportOptions): { since: Date; until: Date; top: number } {
  const now = options.now ?? new Date();
  const until = reportTime(options.until ?? now, 'until', now);
  const since = reportTime(options.since ?? '30d', 'since', until);
  checkWindow(since, until);
  return { since, until, top: checkTop(options.top) };
}

/**
 * Reads every audit event of the window through `service` (pages of 10 000, oldest first) and
 * computes the report. Bad options are `CONSTRAINT_VIOLATION` naming the option, before anything is
 * read; an actor without `config:audit:read` is `ACCESS_DENIED`; a store failure rejects as the
 * service's `audit` does; an aborted `signal` rejects with its reason between pages.
 */
export async function auditReport(
  service: Pick<ConfigService, 'audit'>,
  actor: Actor,
  options: AuditReportOptions = {},
): Promise<AuditReport> {
  if (typeof options !== 'object' || options === null) throw errors.constraint('report options must be an object');
  const { since, until, top } = reportWindow(options);
  const events: AuditEvent[] = [];
  let afterSeq = 0;
  for (;;) {
    throwIfAborted(options.signal);
    const page = await service.audit(actor, { since, until, afterSeq, limit: PAGE });
    events.push(...page);
    if (page.length < PAGE) break;
    afterSeq = (page.at(-1) as AuditEvent).seq;
  }
  return computeAuditReport(events, { since, until, top });
}
