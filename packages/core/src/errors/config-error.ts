/**
 * Every failure Summit Config raises is a {@link ConfigError} with a literal `code`.
 * Callers branch on `code`, never on the message or the class name.
 */
export const ERROR_CODES = [
  'INVALID_CONFIG_REF',
  'NOT_FOUND',
  'ENVIRONMENT_NOT_FOUND',
  'SCHEMA_VALIDATION',
  'CONSTRAINT_VIOLATION',
  'MISSING_REQUIRED',
  'CIRCULAR_DEPENDENCY',
  'DOCUMENT_TOO_LARGE',
  'VERSION_CONFLICT',
  'CONFLICTING_CHANGE',
  'APPROVAL_REQUIRED',
  'INSUFFICIENT_APPROVERS',
  'ACCESS_DENIED',
  'BACKEND_UNAVAILABLE',
  'CHECKSUM_MISMATCH',
  'SIGNATURE_INVALID',
  'SECRET_PROVIDER',
  'CLOSED',
  'TIMEOUT',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Context fields an error may carry; all optional, all safe to log (never secret values). */
export interface ErrorContext {
  /** The ref concerned, as `<scope>/<id>`. */
  ref?: string;
  /** The version concerned. */
  version?: number;
  /** The backend (tier) that failed or answered, e.g. `consul`, `postgres`, `memory`. */
  backend?: string;
  /** The underlying error. */
  cause?: unknown;
}

export interface ConfigErrorOptions extends ErrorContext {
  [extra: string]: unknown;
}

/**
 * The brand every {@link ConfigError} carries (on its prototype). A registered symbol is the same in
 * every copy of this package, so {@link isConfigError} recognises an error thrown by another
 * installed copy, where `instanceof` would not.
 */
const CONFIG_ERROR_BRAND = Symbol.for('summit-config.ConfigError');

export class ConfigError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly ref: string | undefined;
  readonly version: number | undefined;
  readonly backend: string | undefined;

  constructor(code: C, message: string, options: ErrorContext = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConfigError';
    this.code = code;
    this.ref = options.ref;
    this.version = options.version;
    this.backend = options.backend;
  }

  /** A plain object for logs and `--json` output. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.ref !== undefined) out.ref = this.ref;
    if (this.version !== undefined) out.version = this.version;
    if (this.backend !== undefined) out.backend = this.backend;
    return out;
  }
}

Object.defineProperty(ConfigError.prototype, CONFIG_ERROR_BRAND, { value: true });

/** One problem found by schema or document validation, located by a JSON pointer (RFC 6901). */
export interface ValidationIssue {
  /** JSON pointer into the validated document; `""` is the document itself. */
  pointer: string;
  message: string;
  /** The schema keyword that failed, when the issue comes from a JSON Schema. */
  keyword?: string;
}

export class SchemaValidationError extends ConfigError<'SCHEMA_VALIDATION'> {
  readonly issues: readonly ValidationIssue[];
  constructor(message: string, issues: readonly ValidationIssue[], options: ErrorContext = {}) {
    super('SCHEMA_VALIDATION', message, options);
    this.name = 'SchemaValidationError';
    this.issues = issues;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/** One tier's reason for failing, inside an aggregate {@link BackendUnavailableError}. */
export interface TierFailure {
  backend: string;
  error: unknown;
}

export class BackendUnavailableError extends ConfigError<'BACKEND_UNAVAILABLE'> {
  /** Each tier that was tried, with its cause. A single-store failure has one entry. */
  readonly failures: readonly TierFailure[];
  constructor(message: string, failures: readonly TierFailure[], options: ErrorContext = {}) {
    super('BACKEND_UNAVAILABLE', message, {
      ...options,
      cause: options.cause ?? (failures.length === 1 ? failures[0]?.error : undefined),
    });
    this.name = 'BackendUnavailableError';
    this.failures = failures;
  }
  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      failures: this.failures.map((f) => ({ backend: f.backend, message: messageOf(f.error) })),
    };
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Type guard: `isConfigError(e, 'VERSION_CONFLICT')` narrows `e.code`. Checks the brand
 * (`Symbol.for('summit-config.ConfigError')`), not `instanceof`, so errors from two installed copies
 * of the package are both recognised.
 */
export function isConfigError<C extends ErrorCode>(error: unknown, code?: C): error is ConfigError<C> {
  if (typeof error !== 'object' || error === null) return false;
  const branded = error as { readonly [CONFIG_ERROR_BRAND]?: unknown; readonly code?: unknown };
  return branded[CONFIG_ERROR_BRAND] === true && (code === undefined || branded.code === code);
}

/** Shorthand constructors, so call sites read as the condition they report. */
export const errors = {
  invalidRef: (message: string, ref?: string) => new ConfigError('INVALID_CONFIG_REF', message, { ref }),
  notFound: (message: string, ctx: ErrorContext = {}) => new ConfigError('NOT_FOUND', message, ctx),
  constraint: (message: string, ctx: ErrorContext = {}) => new ConfigError('CONSTRAINT_VIOLATION', message, ctx),
  tooLarge: (bytes: number, limit: number, ctx: ErrorContext = {}) =>
    new ConfigError(
      'DOCUMENT_TOO_LARGE',
      `document is ${bytes} bytes of canonical JSON, over the limit of ${limit}`,
      ctx,
    ),
  versionConflict: (message: string, ctx: ErrorContext = {}) => new ConfigError('VERSION_CONFLICT', message, ctx),
  checksumMismatch: (message: string, ctx: ErrorContext = {}) => new ConfigError('CHECKSUM_MISMATCH', message, ctx),
  closed: (what: string) => new ConfigError('CLOSED', `${what} is closed`),
  unavailable: (backend: string, cause: unknown, ctx: ErrorContext = {}) =>
    new BackendUnavailableError(`${backend} is unavailable: ${messageOf(cause)}`, [{ backend, error: cause }], {
      ...ctx,
      backend,
    }),
  timeout: (message: string, ctx: ErrorContext = {}) => new ConfigError('TIMEOUT', message, ctx),
  circular: (message: string, ctx: ErrorContext = {}) => new ConfigError('CIRCULAR_DEPENDENCY', message, ctx),
  environmentNotFound: (name: string) =>
    new ConfigError('ENVIRONMENT_NOT_FOUND', `environment "${name}" is not defined`),
} as const;
