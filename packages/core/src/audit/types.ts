import type { JsonValue } from '../model/json.js';

/** Where a change came from. */
export type AuditSource = 'cli' | 'api' | 'agent';
export const AUDIT_SOURCES: readonly AuditSource[] = ['cli', 'api', 'agent'];

/**
 * Where a call came from, beyond its `source`: set by a server for the requests it serves (the
 * actor's `origin`), recorded in each audit event the call writes. Every field is optional text.
 */
export interface AuditOrigin {
  /** How the principal authenticated (`token`, `oidc`, `os-user`). */
  readonly method?: string;
  /** The credential's id, never a secret (e.g. an API token's id). */
  readonly tokenId?: string;
  /** The peer's address as the server saw it. */
  readonly remoteAddress?: string;
  readonly userAgent?: string;
  /** The server's id of the request (its `request-id` header). */
  readonly requestId?: string;
}

/** The fields of an {@link AuditOrigin}, in the order its stored JSON lists them. */
export const AUDIT_ORIGIN_FIELDS = ['method', 'tokenId', 'remoteAddress', 'userAgent', 'requestId'] as const;

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
  /** Where the call came from (a server's request); covered by the signature, not the hash chain. */
  origin?: AuditOrigin;
  /**
   * `<keyId>:<base64 Ed25519 signature>` of `auditSigningText` (signing.ts), set by the change
   * service's writer key. Not part of the hash chain.
   */
  signature?: string;
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
  /** `<keyId>:<sig>` of the writer key, or null (the store's own rows, events from before signing). */
  signature: string | null;
  /** The JSON text of the origin (`auditOriginText`), or null. Not part of the hash chain. */
  origin?: string | null;
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
  /** Where the call came from, when a server recorded it. */
  readonly origin?: AuditOrigin;
  readonly prevHash: string | null;
  readonly hash: string | null;
  readonly signature: string | null;
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

/** What `verifyAudit` found wrong, one code per kind of tampering. */
export type AuditProblemCode =
  /** A link of the hash chain does not hold (an event altered, removed or reordered without re-hashing). */
  | 'AUDIT_CHAIN_BROKEN'
  /** An event that must be signed carries no signature (e.g. a row inserted with SQL). */
  | 'AUDIT_UNSIGNED_EVENT'
  /** A signature that does not verify, a replayed signature, or a store row naming a version that does not verify. */
  | 'AUDIT_FORGED_EVENT'
  /** The event a checkpoint names is gone: the newest events were deleted. */
  | 'AUDIT_TAIL_DELETED'
  /** The event a checkpoint names has another hash: the chain was rewritten and re-hashed. */
  | 'AUDIT_REWRITTEN'
  /** A checkpoint read from an anchor is malformed or its signature does not verify. */
  | 'AUDIT_CHECKPOINT_INVALID';

export interface AuditProblem {
  readonly code: AuditProblemCode;
  readonly seq?: number;
  readonly message: string;
}

export interface AuditVerifyResult {
  /** True when every link holds (and, when signatures are checked, nothing else is wrong). */
  ok: boolean;
  /** Events examined. */
  checked: number;
  /** The last event that verified: record it elsewhere to detect later truncation of the tail. */
  head: { seq: number; hash: string } | undefined;
  /** The `seq` of the first broken event (the first problem's, when the chain holds). */
  brokenAt?: number;
  reason?: string;
  /** Everything found wrong (empty when `ok`); at most 1000, `omittedProblems` counts the rest. */
  problems: AuditProblem[];
  omittedProblems?: number;
  /**
   * `checked` when signatures and checkpoints were verified against the trust root; `not-checked`
   * when the service has no trust root (the hash chain alone was verified).
   */
  signatures?: 'checked' | 'not-checked';
  /** Events with `seq >= signedFrom` had to be signed. */
  signedFrom?: number;
  /** The latest valid checkpoint and the anchors that hold it. */
  checkpoint?: { seq: number; anchors: string[] };
  /** Anchors that could not be read (unreachable): not evidence of tampering, but not checked. */
  unreadableAnchors?: string[];
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
    signature: record.signature ?? null,
  };
  if (record.ref !== null) event.ref = record.ref;
  if (record.version !== null) event.version = record.version;
  if (record.environment !== null) event.environment = record.environment;
  if (record.source !== null) event.source = record.source;
  if (record.requestId !== null) event.requestId = record.requestId;
  if (record.origin !== undefined && record.origin !== null) {
    try {
      const parsed: unknown = JSON.parse(record.origin);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        event.origin = Object.freeze(parsed as AuditOrigin);
      }
    } catch {
      // An unparsable stored origin fails the event's signature check; the event shows none.
    }
  }
  return Object.freeze(event);
}
