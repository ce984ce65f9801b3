/**
 * What Consul's answers become: an HTTP status mapped to a `ConfigError` (403 `ACCESS_DENIED`, 413
 * `DOCUMENT_TOO_LARGE`, 400 `CONSTRAINT_VIOLATION`, 5xx, 429 and anything else
 * `BACKEND_UNAVAILABLE`), a rolled-back transaction, a refused write fence, and the store's
 * `CHECKSUM_MISMATCH` and ACL-filtered listings.
 */
import { ConfigError, type ConfigRef, isConfigError, refKey, type WriteFence } from '@summit-config/core';
import { errors, fenceCheck } from '@summit-config/core/internal';
import type { TxnError, TxnOp } from './consul-wire.js';

/** Consul answered with a status code; kept as the `cause` of the mapped `ConfigError`. */
export class ConsulResponseError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string, operation: string) {
    super(`${operation}: HTTP ${status}${body ? ` ${body.slice(0, 300)}` : ''}`);
    this.name = 'ConsulResponseError';
    this.status = status;
    this.body = body;
  }
}

/**
 * The TLS handshake with Consul failed (an unknown CA, a name mismatch, a client certificate the
 * server refused or none when it requires one); kept as the `cause` of a `BACKEND_UNAVAILABLE`
 * whose message names it. `code` is Node's (e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE`).
 */
export class ConsulTlsError extends Error {
  readonly code: string;
  constructor(address: string, code: string, detail: string, cause: unknown) {
    super(`TLS with ${address} failed (${code}): ${detail}`, { cause });
    this.name = 'ConsulTlsError';
    this.code = code;
  }
}

const TLS_CODE =
  /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|HOSTNAME_MISMATCH|ERR_OSSL_|EPROTO$)/;

/** A transport error, as a `ConsulTlsError` when it comes from TLS (an `https:` connection only). */
export function transportError(error: unknown, address: string, secure: boolean): unknown {
  if (!secure || !(error instanceof Error)) return error;
  const code = (error as Error & { code?: unknown }).code;
  const tlsLike =
    (typeof code === 'string' && TLS_CODE.test(code)) || /\b(ssl|tls|certificate|handshake)\b/i.test(error.message);
  if (!tlsLike) return error;
  return new ConsulTlsError(address, typeof code === 'string' ? code : 'TLS', error.message, error);
}

/** The error is Consul saying the session does not exist (any more). */
export function isInvalidSession(error: unknown): boolean {
  const cause = isConfigError(error) ? (error.cause as unknown) : error;
  return (
    cause instanceof ConsulResponseError &&
    (cause.status === 404 || cause.status === 500) &&
    /session/i.test(cause.body) &&
    /(invalid|not found|doesn't exist|does not exist)/i.test(cause.body)
  );
}

function bodyText(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  try {
    return JSON.stringify(body);
  } catch {
    return String(body);
  }
}

/** The `ConfigError` of an HTTP status Consul answered `operation` with (see the module comment). */
export function mapStatus(
  backend: string,
  operation: string,
  res: { statusCode: number; body?: unknown },
): ConfigError {
  const status = res.statusCode;
  const cause = new ConsulResponseError(status, bodyText(res.body), `${backend} ${operation}`);
  if (status === 403) {
    return new ConfigError('ACCESS_DENIED', `${backend} refused ${operation}: ${cause.body || 'forbidden'}`, {
      backend,
      cause,
    });
  }
  if (status === 413) {
    return new ConfigError('DOCUMENT_TOO_LARGE', `${backend} refused ${operation}: ${cause.body}`, {
      backend,
      cause,
    });
  }
  if (status === 400) {
    return errors.constraint(`${backend} rejected ${operation}: ${cause.body}`, {
      backend,
      cause,
    });
  }
  // 5xx, 429 and anything unexpected: the store cannot answer.
  return errors.unavailable(backend, cause);
}

export function mismatch(
  backend: string,
  message: string,
  ref: ConfigRef,
  version?: number,
  cause?: unknown,
): ConfigError {
  return errors.checksumMismatch(message, { ref: refKey(ref), version, backend, cause });
}

/**
 * Consul left keys out of a recursive read (`X-Consul-Results-Filtered-By-ACLs`): an incomplete
 * list must not pass for the whole (it would drive deletes and drift verdicts), so it is refused.
 */
export function incomplete(backend: string, what: string): ConfigError {
  return new ConfigError(
    'ACCESS_DENIED',
    `${backend}: the ACL token cannot read every key of the ${what}; ask for a scope it may read`,
    { backend },
  );
}

/**
 * Consul denied a recursive read of `prefix` behind a 404: versions that do not send
 * `X-Consul-Results-Filtered-By-ACLs` (1.8.7 among them) answer a recursive read (or key listing)
 * that their ACLs filtered down to nothing with 404, as for an empty prefix, and a plain read of the
 * prefix itself with 403. `probe` is that 403, kept as the cause.
 */
export function aclDenied(backend: string, prefix: string, tokenSet: boolean, probe: unknown): ConfigError {
  const who = tokenSet ? 'the ACL token' : 'no ACL token (CONSUL_HTTP_TOKEN / stores.consul.token unset)';
  return new ConfigError(
    'ACCESS_DENIED',
    `${backend}: ${who} may not read ${prefix}: Consul answered the recursive read with 404 and a read of the prefix itself with 403 (ACLs deny it; the data is not known to be absent)`,
    { backend, cause: probe },
  );
}

/**
 * The check a write fence carries for the Consul store named `backend` (the lock's `check-session`
 * op, under the store's name in `fence.checks`), when it has one.
 */
export function fenceOf(fence: WriteFence | undefined, backend: string): TxnOp | undefined {
  const op = fenceCheck(fence, backend) as TxnOp | undefined;
  if (op === undefined) return undefined;
  if (typeof op !== 'object' || op === null || !('KV' in op)) {
    throw errors.constraint(`a write fence for ${backend} must carry a transaction operation (LeaderLock.guardOp())`);
  }
  return op;
}

/** The write fence (operation 0) refused a write of `ref`@`version`. */
export function fencedOut(backend: string, ref: ConfigRef, version: number): ConfigError {
  return new ConfigError(
    'CONFLICTING_CHANGE',
    `${refKey(ref)} v${version}: refused by the write fence: this process no longer holds the leader lock`,
    { ref: refKey(ref), version, backend },
  );
}

/** The write fence (operation 0) refused a write that is not of one ref. */
export function notLeader(backend: string): ConfigError {
  return new ConfigError('CONFLICTING_CHANGE', 'refused by the write fence: not the leader any more', { backend });
}

/** Whether a rolled-back transaction was refused by its write fence (operation 0). */
export function fenceRefused(fenceOp: TxnOp | undefined, failed: readonly TxnError[]): boolean {
  return fenceOp !== undefined && failed.some((e) => e.OpIndex === 0);
}

/**
 * The error of a rolled-back write of `ref`@`version`: ACL refusals, size limits, a lost race when
 * only the operations `conflictOps` failed, anything else a constraint.
 */
export function txnFailure(
  backend: string,
  ref: ConfigRef,
  version: number,
  failed: TxnError[],
  conflictOps: number[],
): ConfigError {
  const ctx = { ref: refKey(ref), version, backend };
  const what = failed.map((e) => `#${e.OpIndex}: ${e.What}`).join('; ');
  if (failed.some((e) => /permission denied|acl not found|forbidden/i.test(e.What))) {
    return new ConfigError(
      'ACCESS_DENIED',
      `${backend} refused the append of ${refKey(ref)} v${version}: ${what}`,
      ctx,
    );
  }
  if (failed.some((e) => /too large|exceeds/i.test(e.What))) {
    return new ConfigError('DOCUMENT_TOO_LARGE', `${backend} refused ${refKey(ref)} v${version}: ${what}`, ctx);
  }
  if (failed.every((e) => conflictOps.includes(e.OpIndex))) {
    return errors.versionConflict(
      `${refKey(ref)} v${version}: another writer moved the head first (${backend} rolled the transaction back: ${what})`,
      ctx,
    );
  }
  return errors.constraint(`${backend} rolled back the append of ${refKey(ref)} v${version}: ${what}`, ctx);
}
