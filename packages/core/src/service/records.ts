/**
 * Checks shared by the governance implementations (memory here, SQL in backends): audit inputs,
 * audit queries, and the shape of stored change requests and environments read back or imported.
 */
import { REQUEST_STATUSES } from '../approvals/types.js';
import { checkAuditOrigin } from '../audit/origin.js';
import { AUDIT_SOURCES, type AuditInput, type AuditQuery, type AuditRecord } from '../audit/types.js';
import { errors } from '../errors/config-error.js';
import { assertJson, isPlainObject } from '../model/json.js';

export const MAX_AUDIT_LIMIT = 10_000;
const ACTION = /^[a-z][a-z0-9_.-]{0,63}$/;

/** Text a PostgreSQL `text` column keeps exactly: well-formed, no NUL. */
export function storableText(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

/** An ISO-8601 UTC timestamp with millisecond precision, as the chain hashes it. */
export function normaliseAt(at: string | Date): string {
  const d = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(d.getTime())) throw errors.constraint(`audit time ${JSON.stringify(String(at))} is not a date`);
  return d.toISOString();
}

function optionalText(value: unknown, field: string, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || value.length > max || !storableText(value)) {
    throw errors.constraint(`audit ${field} must be well-formed text of at most ${max} characters without NUL`);
  }
}

/** Validates an audit input; throws `CONSTRAINT_VIOLATION` naming the field. */
export function checkAuditInput(input: AuditInput): AuditInput {
  if (!isPlainObject(input as unknown)) throw errors.constraint('an audit event must be an object');
  normaliseAt(input.at);
  if (typeof input.actor !== 'string' || input.actor.length === 0) throw errors.constraint('audit actor is required');
  optionalText(input.actor, 'actor', 256);
  if (typeof input.action !== 'string' || !ACTION.test(input.action)) {
    throw errors.constraint(`audit action ${JSON.stringify(input.action)} must match ${ACTION}`);
  }
  if (typeof input.message !== 'string') throw errors.constraint('audit message must be a string');
  optionalText(input.message, 'message', 8192);
  optionalText(input.ref, 'ref', 400);
  optionalText(input.environment, 'environment', 128);
  optionalText(input.requestId, 'requestId', 128);
  if (input.version !== undefined && (!Number.isSafeInteger(input.version) || input.version < 1)) {
    throw errors.constraint('audit version must be a positive integer');
  }
  if (input.source !== undefined && !AUDIT_SOURCES.includes(input.source)) {
    throw errors.constraint(`audit source must be one of ${AUDIT_SOURCES.join(', ')}`);
  }
  if (input.changes !== undefined) {
    if (!Array.isArray(input.changes)) throw errors.constraint('audit changes must be a JSON Patch array');
    assertJson(input.changes, '/changes');
  }
  checkAuditOrigin(input.origin);
  return input;
}

/** The effective limit of an audit query. */
export function auditLimit(limit: unknown): number {
  const n = limit ?? 1000;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_AUDIT_LIMIT) {
    throw errors.constraint(`audit query limit must be an integer in 1..${MAX_AUDIT_LIMIT}`);
  }
  return n;
}

/** Validates an audit query (so that SQL and memory agree on what is refused). */
export function checkAuditQuery(query: AuditQuery): {
  since: string | undefined;
  until: string | undefined;
  afterSeq: number;
  limit: number;
} {
  if (!isPlainObject(query as unknown)) throw errors.constraint('audit query must be an object');
  for (const f of ['ref', 'actor', 'action', 'requestId'] as const) optionalText(query[f], `query ${f}`, 400);
  const afterSeq = query.afterSeq ?? 0;
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw errors.constraint('audit query afterSeq must be >= 0');
  return {
    since: query.since === undefined ? undefined : normaliseAt(query.since),
    until: query.until === undefined ? undefined : normaliseAt(query.until),
    afterSeq,
    limit: auditLimit(query.limit),
  };
}

/** Whether a stored record matches a query (memory implementation; SQL does the same in SQL). */
export function matchesAudit(
  r: AuditRecord,
  query: AuditQuery,
  q: ReturnType<typeof checkAuditQuery> = checkAuditQuery(query),
): boolean {
  if (r.seq <= q.afterSeq) return false;
  if (query.ref !== undefined && r.ref !== query.ref) return false;
  if (query.actor !== undefined && r.actor !== query.actor) return false;
  if (query.requestId !== undefined && r.requestId !== query.requestId) return false;
  if (query.action !== undefined) {
    if (query.action.endsWith('.') ? !r.action.startsWith(query.action) : r.action !== query.action) return false;
  }
  if (q.since !== undefined && r.at < q.since) return false;
  if (q.until !== undefined && r.at >= q.until) return false;
  return true;
}

/** Cheap structural check of a change request read from storage or an import file. */
export function checkRequestShape(raw: unknown, where: string): void {
  if (!isPlainObject(raw)) throw errors.constraint(`${where}: a change request must be an object`);
  const r = raw;
  if (typeof r.id !== 'string' || r.id.length === 0 || r.id.length > 128 || !storableText(r.id)) {
    throw errors.constraint(`${where}: request id must be a string of 1-128 characters`);
  }
  if (!REQUEST_STATUSES.includes(r.status as never)) throw errors.constraint(`${where}: unknown status`);
  if (!['set', 'delete', 'rollback'].includes(r.kind as string)) throw errors.constraint(`${where}: unknown kind`);
  if (!Number.isSafeInteger(r.baseVersion) || (r.baseVersion as number) < 0) {
    throw errors.constraint(`${where}: baseVersion must be an integer >= 0`);
  }
  if (!isPlainObject(r.proposed) || !isPlainObject(r.proposed.config)) {
    throw errors.constraint(`${where}: proposed content must be an object with config`);
  }
  for (const f of ['requestedBy', 'requestedAt', 'expiresAt', 'updatedAt', 'message'] as const) {
    if (typeof r[f] !== 'string') throw errors.constraint(`${where}: ${f} must be a string`);
  }
  if (!Array.isArray(r.approvals) || !Array.isArray(r.requirements) || !Array.isArray(r.environments)) {
    throw errors.constraint(`${where}: approvals, requirements and environments must be lists`);
  }
  if (typeof r.emergency !== 'boolean') throw errors.constraint(`${where}: emergency must be a boolean`);
  assertJson(r, '');
}
