/**
 * The one error class of the secrets package: a {@link ConfigError} that also names the provider,
 * the secret and (where there is one) the version concerned. It never carries a secret value: not
 * in its message, not in its fields, not in its `cause` (SDK errors are replaced by a sanitised
 * summary, see {@link sanitizeCause}).
 */
import { ConfigError } from '@summit-config/core';

/**
 * Why a secret operation failed, finer than `code`. Callers branch on `code` first:
 * - `NOT_FOUND`: `not-found` (the secret, or the version/stage asked for, does not exist);
 * - `VERSION_CONFLICT`: `conflict` (`promote` with `expectedCurrent` found another current version);
 * - `SECRET_PROVIDER`: every other reason below.
 */
export type SecretErrorReason =
  /** The secret or version does not exist. */
  | 'not-found'
  /** `create` of a secret that already exists. */
  | 'exists'
  /** The version exists but was revoked (disabled, destroyed, or AWS: has no staging label left). */
  | 'revoked'
  /** The current version moved since the caller looked (`promote` with `expectedCurrent`). */
  | 'conflict'
  /** Bad input: a secret name, value, version id, option or reference the provider refuses. */
  | 'invalid'
  /** The provider refused the credentials or the permission. */
  | 'denied'
  /** The provider could not be reached, timed out, or answered with a server error. */
  | 'unavailable'
  /** Local provider: the master key is missing, malformed, or does not decrypt the stored data. */
  | 'key'
  /** A reference names a provider no resolver has registered. */
  | 'unknown-provider'
  /** Any other provider failure. */
  | 'failed';

export type SecretErrorCode = 'SECRET_PROVIDER' | 'NOT_FOUND' | 'VERSION_CONFLICT';

export interface SecretErrorContext {
  /** The provider instance name (`local`, `aws`, ... or the name given at construction). */
  provider: string;
  /** The secret name, when the failure concerns one secret. */
  secret?: string;
  /** The provider-native version id or the stage (`current`, `previous`, `pending`) concerned. */
  secretVersion?: string;
  /** JSON pointer of the reference in the config document, when resolving references. */
  pointer?: string;
  /** A sanitised underlying error (never holding a secret value). */
  cause?: unknown;
}

export class SecretError<C extends SecretErrorCode = SecretErrorCode> extends ConfigError<C> {
  readonly reason: SecretErrorReason;
  readonly provider: string;
  readonly secret: string | undefined;
  readonly secretVersion: string | undefined;
  readonly pointer: string | undefined;

  constructor(code: C, reason: SecretErrorReason, message: string, ctx: SecretErrorContext) {
    super(code, message, { backend: ctx.provider, cause: ctx.cause });
    this.name = 'SecretError';
    this.reason = reason;
    this.provider = ctx.provider;
    this.secret = ctx.secret;
    this.secretVersion = ctx.secretVersion;
    this.pointer = ctx.pointer;
  }

  override toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...super.toJSON(), reason: this.reason, provider: this.provider };
    if (this.secret !== undefined) out.secret = this.secret;
    if (this.secretVersion !== undefined) out.secretVersion = this.secretVersion;
    if (this.pointer !== undefined) out.pointer = this.pointer;
    return out;
  }
}

/** Type guard: `isSecretError(e, 'revoked')` narrows to a {@link SecretError} with that reason. */
export function isSecretError(error: unknown, reason?: SecretErrorReason): error is SecretError {
  return error instanceof SecretError && (reason === undefined || error.reason === reason);
}

/** `provider "aws", secret "prod-db", version "3"` — the subject every message starts with. */
export function subject(ctx: { provider: string; secret?: string; secretVersion?: string }): string {
  let s = `provider "${ctx.provider}"`;
  if (ctx.secret !== undefined) s += `, secret "${ctx.secret}"`;
  if (ctx.secretVersion !== undefined) s += `, version "${ctx.secretVersion}"`;
  return s;
}

/** Builds the error for `reason`, with the code that reason implies and a message naming the subject. */
export function secretError(
  reason: SecretErrorReason,
  detail: string,
  ctx: SecretErrorContext,
): SecretError<SecretErrorCode> {
  const code: SecretErrorCode =
    reason === 'not-found' ? 'NOT_FOUND' : reason === 'conflict' ? 'VERSION_CONFLICT' : 'SECRET_PROVIDER';
  return new SecretError(code, reason, `${subject(ctx)}: ${detail}`, ctx);
}

/**
 * The safe summary of an SDK or driver error kept as `cause`: its name, code, HTTP status and
 * message, with every string in `redact` replaced by `[REDACTED]`. SDK errors themselves are never
 * kept: they can hold the request (whose body may be the secret being written) and the raw response
 * (whose body may be the secret being read).
 */
export class SanitizedCause extends Error {
  readonly code: string | undefined;
  readonly status: number | undefined;

  constructor(name: string, message: string, code: string | undefined, status: number | undefined) {
    super(message);
    this.name = name;
    this.code = code;
    this.status = status;
    // The stack would only repeat the message with our own frames.
    this.stack = `${name}: ${message}`;
  }
}

const MAX_CAUSE_MESSAGE = 500;

/** See {@link SanitizedCause}. Strings shorter than 4 characters are not redacted (too many false hits). */
export function sanitizeCause(error: unknown, redact: readonly (string | undefined)[] = []): SanitizedCause {
  const e = (error ?? {}) as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    status?: unknown;
    statusCode?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const name = typeof e.name === 'string' && e.name.length > 0 ? e.name : 'Error';
  let message = typeof e.message === 'string' ? e.message : typeof error === 'string' ? error : String(error);
  for (const secret of redact) {
    if (secret !== undefined && secret.length >= 4) message = message.split(secret).join('[REDACTED]');
  }
  if (message.length > MAX_CAUSE_MESSAGE) message = `${message.slice(0, MAX_CAUSE_MESSAGE)}...`;
  const code = typeof e.code === 'string' || typeof e.code === 'number' ? String(e.code) : undefined;
  const statusRaw = e.$metadata?.httpStatusCode ?? e.statusCode ?? e.status;
  const status = typeof statusRaw === 'number' ? statusRaw : undefined;
  return new SanitizedCause(name, message, code, status);
}

/** Network error codes of Node sockets and fetch: the provider cannot be reached. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Whether `error` (or its `cause` chain) is a transport failure rather than an answer. */
export function isNetworkError(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** What a provider knows about the call that failed, for {@link providerFailure}. */
export interface FailedCall {
  secret: string;
  secretVersion?: string;
  /** The value being written, redacted from the cause. */
  redact?: string;
}

/**
 * The error a cloud provider reports for a mapped SDK failure: a message by reason (never the value),
 * the provider and secret named, and the SDK error kept only as a sanitised cause.
 */
export function providerFailure(
  provider: string,
  reason: SecretErrorReason,
  error: unknown,
  call: FailedCall,
  messages: { refused: string; revoked?: string },
): SecretError<SecretErrorCode> {
  const detail =
    reason === 'not-found'
      ? call.secretVersion === undefined
        ? 'the secret does not exist'
        : 'the secret or this version does not exist'
      : reason === 'revoked' && messages.revoked
        ? messages.revoked
        : messages.refused;
  return secretError(reason, detail, {
    provider,
    secret: call.secret,
    secretVersion: call.secretVersion,
    cause: sanitizeCause(error, [call.redact]),
  });
}
