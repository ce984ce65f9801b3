import type { JsonValue } from '../model/json.js';

/** Where a change came from. */
export type AuditSource = 'cli' | 'api' | 'agent';
export const AUDIT_SOURCES: readonly AuditSource[] = ['cli', 'api', 'agent'];

/** One RFC 6902 operation. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: JsonValue;
  from?: string;
}

/** What a writer supplies; `seq`, `prevHash` and `hash` are assigned by the audit storage. */
export interface AuditInput {
  /** ISO-8601 UTC; stored with millisecond precision. */
  at: string;
  /** The actor's id. */
  actor: string;
  /** e.g. `config.set`, `config.delete`, `request.approve`, `environment.create`. */
  action: string;
  /** `<scope>/<id>` */
  ref?: string;
  /** The config version concerned (one that exists in the store), if any. */
  version?: number;
  environment?: string;
  message: string;
  /** What changed, as an RFC 6902 patch (empty when nothing in a document changed). */
  changes?: JsonPatchOperation[];
  source?: AuditSource;
  /** The change request concerned, if any. */
  requestId?: string;
}

/**
 * One stored audit row exactly as hashed: every field as text or NULL (see `auditHashText`).
 * Rows the PostgreSQL store writes itself (`append`, `replace`) have no source and no changes.
 */
export interface AuditRecord {
  seq: number;
  at: string;
  actor: string;
  action: string;
  ref: string | null;
  version: number | null;
  environment: string | null;
  message: string | null;
  /** The stored JSON text of the patch, or null. */
  changes: string | null;
  source: string | null;
  requestId: string | null;
  prevHash: string | null;
  hash: string | null;
}

/** An audit event as the service returns it. */
export interface AuditEvent {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly ref?: string;
  readonly version?: number;
  readonly environment?: string;
  readonly message: string;
  readonly changes: readonly JsonPatchOperation[];
  readonly source?: string;
  readonly requestId?: string;
  readonly prevHash: string | null;
  readonly hash: string | null;
}

export interface AuditQuery {
  /** Only events of this ref (`<scope>/<id>`). */
  ref?: string;
  actor?: string;
  /** Exact action, or a prefix ending in `.` (e.g. `request.`). */
  action?: string;
  requestId?: string;
  /** Events at or after this time. */
  since?: Date | string;
  /** Events before this time. */
  until?: Date | string;
  /** Events with a larger `seq` (paging). */
  afterSeq?: number;
  /** At most this many, oldest first. Default 1000, at most 10 000. */
  limit?: number;
}

export interface AuditVerifyResult {
  /** True when every link holds. */
  ok: boolean;
  /** Events examined. */
  checked: number;
  /** The last event that verified: record it elsewhere to detect later truncation of the tail. */
  head: { seq: number; hash: string } | undefined;
  /** The `seq` of the first broken event. */
  brokenAt?: number;
  reason?: string;
}

/** Parses a stored record into the event shape (changes parsed; NULL fields left out). */
export function eventOf(record: AuditRecord): AuditEvent {
  let changes: JsonPatchOperation[] = [];
  if (record.changes !== null) {
    try {
      const parsed: unknown = JSON.parse(record.changes);
      if (Array.isArray(parsed)) changes = parsed as JsonPatchOperation[];
    } catch {
      // An unparsable stored patch is reported by verify(); the event shows none.
    }
  }
  const event: {
    -readonly [K in keyof AuditEvent]: AuditEvent[K];
  } = {
    seq: record.seq,
    at: record.at,
    actor: record.actor,
    action: record.action,
    message: record.message ?? '',
    changes,
    prevHash: record.prevHash,
    hash: record.hash,
  };
  if (record.ref !== null) event.ref = record.ref;
  if (record.version !== null) event.version = record.version;
  if (record.environment !== null) event.environment = record.environment;
  if (record.source !== null) event.source = record.source;
  if (record.requestId !== null) event.requestId = record.requestId;
  return Object.freeze(event);
}
