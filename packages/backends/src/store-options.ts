/**
 * Option checks shared by the PostgreSQL and PGlite entry points: each bad option is named.
 */
import { DEFAULT_MAX_DOCUMENT_BYTES, errors } from '@summit-config/core/internal';
import { checkIdentifier, type StoreLogger } from './sql-client.js';

/** Options both SQL stores accept. */
export interface SqlStoreCommonOptions {
  /**
   * Schema holding the tables, created on first use when missing. Any name PostgreSQL accepts
   * (quoted, so case and punctuation are kept), at most 63 bytes. Default `public`.
   */
  schema?: string;
  /** Largest canonical JSON of a document, in bytes. Default 256 KiB. */
  maxDocumentBytes?: number;
  /**
   * Milliseconds between safety resyncs of a running watch (the heads are re-read and diffed even
   * when no notification arrived). Default 30 000.
   */
  resyncIntervalMs?: number;
  /** First reconnect delay of the LISTEN connection in milliseconds (full jitter). Default 100. */
  reconnectBaseMs?: number;
  /** Longest reconnect delay of the LISTEN connection in milliseconds. Default 5 000. */
  reconnectMaxMs?: number;
  /** Tier name reported in errors and `source`. */
  name?: string;
  /** A pino-compatible logger for connection problems. Default: silent. */
  logger?: StoreLogger;
}

export interface CheckedCommonOptions {
  schema: string;
  maxDocumentBytes: number;
  resyncIntervalMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  logger: StoreLogger | undefined;
}

export function positiveInteger(value: unknown, option: string, fallback: number): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw errors.constraint(`option ${option} must be a positive integer, got ${String(value)}`);
  }
  return n;
}

export function checkCommonOptions(options: SqlStoreCommonOptions, store: string): CheckedCommonOptions {
  const schema = options.schema ?? 'public';
  try {
    checkIdentifier(schema, 'schema');
  } catch (error) {
    throw errors.constraint(`${store} store option schema: ${(error as Error).message}`);
  }
  const reconnectBaseMs = positiveInteger(options.reconnectBaseMs, `${store} reconnectBaseMs`, 100);
  const reconnectMaxMs = positiveInteger(options.reconnectMaxMs, `${store} reconnectMaxMs`, 5_000);
  if (reconnectMaxMs < reconnectBaseMs) {
    throw errors.constraint(`${store} store option reconnectMaxMs must be >= reconnectBaseMs`);
  }
  return {
    schema,
    maxDocumentBytes: positiveInteger(
      options.maxDocumentBytes,
      `${store} maxDocumentBytes`,
      DEFAULT_MAX_DOCUMENT_BYTES,
    ),
    resyncIntervalMs: positiveInteger(options.resyncIntervalMs, `${store} resyncIntervalMs`, 30_000),
    reconnectBaseMs,
    reconnectMaxMs,
    logger: options.logger,
  };
}
