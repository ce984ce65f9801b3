/**
 * Helpers of the SQL seam (core's `SqlClient`, re-exported here) that the PostgreSQL store runs on,
 * on `pg` (`pg-client.ts`) and on embedded PGlite (`pglite-client.ts`): identifier quoting, LIKE
 * escaping, SQLSTATE mapping. This file loads no driver.
 */
import { type ConfigError, isConfigError } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';

// The seam's types live in core (store/sql-client.ts), shared with the secrets' SQL storage.
export type {
  ListenCallbacks,
  SqlClient,
  SqlDatabase,
  SqlListener,
  SqlPoolStats,
  SqlQueryable,
  SqlResult,
  SqlStatementOptions,
} from '@summit-config/core/internal';

/** The longest identifier PostgreSQL keeps (NAMEDATALEN - 1), in bytes. */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * Quotes an identifier for SQL text: `my "schema"` -> `"my ""schema"""`. Throws
 * `CONSTRAINT_VIOLATION` for an empty name, a NUL character, or a name PostgreSQL would truncate.
 */
export function quoteIdent(name: string, what = 'identifier'): string {
  checkIdentifier(name, what);
  return `"${name.replace(/"/g, '""')}"`;
}

export function checkIdentifier(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0) throw errors.constraint(`${what} must be a non-empty string`);
  if (name.includes('\u0000')) throw errors.constraint(`${what} must not contain a NUL character`);
  if (Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES) {
    throw errors.constraint(`${what} must be at most ${MAX_IDENTIFIER_BYTES} bytes, got ${JSON.stringify(name)}`);
  }
  return name;
}

/** Escapes `%`, `_` and `\` so that `value` matches itself literally in `LIKE ... ESCAPE '\'`. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The SQLSTATE of a driver error (`23505`, `57P01`, ...), if it carries one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Network errors of Node sockets that mean "the server cannot be reached". */
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
]);

/**
 * Whether the connection that raised `error` can no longer be trusted (lost, timed out, terminated
 * by the server), so it must be discarded rather than returned to a pool. Errors the server
 * reported with a SQLSTATE leave the connection usable, except the connection-class ones.
 */
export function isConnectionError(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) {
    return state.startsWith('08') || state.startsWith('57P') || state === '57014' || state.startsWith('53');
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  // pg reports its own timeouts and closed sockets without a code.
  return !isConfigError(error);
}

/**
 * Maps a driver error to the store's error codes:
 * - a `ConfigError` passes through;
 * - `23505` (unique violation) is `VERSION_CONFLICT`: another writer took the version first;
 * - other data (`22xxx`) and integrity (`23xxx`) errors are `CONSTRAINT_VIOLATION`;
 * - everything else (refused or lost connections, `57P01` shutdowns, `08xxx`, timeouts, and any
 *   failure the store cannot recover from) is `BACKEND_UNAVAILABLE` with the error as its cause.
 */
export function mapSqlError(
  error: unknown,
  backend: string,
  ctx: { ref?: string; version?: number } = {},
): ConfigError {
  if (isConfigError(error)) return error;
  const state = sqlState(error);
  if (state === '23505') {
    return errors.versionConflict(`${ctx.ref ?? 'ref'}: version ${ctx.version ?? '?'} already exists`, {
      ...ctx,
      backend,
      cause: error,
    });
  }
  if (state !== undefined && (state.startsWith('22') || state.startsWith('23'))) {
    return errors.constraint(`${backend} refused the data: ${messageText(error)}`, { ...ctx, backend, cause: error });
  }
  return errors.unavailable(backend, error, ctx);
}

function messageText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A pino-compatible logger; every method is optional. Library code logs nothing else. */
export interface StoreLogger {
  debug?(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}
