/**
 * The Consul store's options (`createConsulStore`'s argument, re-exported by consul.ts) and their
 * validation: each bad option is named with its range.
 */
import { DEFAULT_MAX_DOCUMENT_BYTES, errors } from '@summit-config/core/internal';
import type { ConsulConnectionOptions } from './consul-connection.js';
import { checkPrefix } from './consul-layout.js';
import { intOption } from './integers.js';

/** Consul's default cap on one KV value (`kv_max_value_size`), in bytes. */
export const CONSUL_MAX_VALUE_BYTES = 512 * 1024;
/** Consul's default cap on a `/v1/txn` request body (`limits.txn_max_req_len`), in bytes. */
export const CONSUL_MAX_TXN_BYTES = 512 * 1024;

export interface ConsulStoreOptions extends ConsulConnectionOptions {
  /** Key prefix of every key the store writes; segments each ending in `/`. Default `summit/`. */
  prefix?: string;
  /** Tier name used in errors and `source` fields. Default `consul`. */
  name?: string;
  /**
   * Versions kept per ref in Consul; older documents are deleted after a successful append
   * (best effort). 1 to 100000. Default 20. Reported as `capabilities.historyLimit`.
   */
  historyLimit?: number;
  /** Largest canonical JSON of a document, in bytes. Default 256 KiB; at most `maxValueBytes`. */
  maxDocumentBytes?: number;
  /** The server's `kv_max_value_size`: a serialised document above this is refused before sending. Default 512 KiB. */
  maxValueBytes?: number;
  /**
   * The server's `limits.txn_max_req_len`: an append whose `/v1/txn` body (values base64-encoded) is
   * above this is refused before sending. Default 512 KiB.
   */
  maxTxnBytes?: number;
  /** How long one blocking query waits for a change, ms (1 s to 10 min). Default 30000. */
  watchWaitMs?: number;
  /**
   * A scope's watch follows its change feed and lists the heads tree only at a (re)sync or a gap;
   * it also lists it once this long after the last listing, ms, to catch a head moved without the
   * feed (a raw `consul kv put`, a writer of an older version). 0: never. Default 300000 (5 min).
   */
  watchResyncMs?: number;
  /**
   * Token bucket on each watch loop: at most `burst` requests at once, refilled at `perSecond`.
   * Default `{ perSecond: 200, burst: 200 }`.
   */
  watchRateLimit?: { perSecond?: number; burst?: number };
  /** Backoff after a failed watch request: full jitter, base (ms). Default 100. */
  retryBaseMs?: number;
  /** Backoff cap (ms). Default 10000. */
  retryMaxMs?: number;
  /**
   * Remember the head's ModifyIndex after this store's own appends, so the next append of that ref
   * sends its transaction at once (CAS on the remembered index) instead of reading the head with
   * `?consistent` first. The CAS guards the write either way; when the memory is stale (another
   * writer moved the head) the append falls back to the consistent read. Default true.
   */
  cacheHeadIndex?: boolean;
  /**
   * TTL of the session that holds this store's acknowledgements (ms, 10 s to 24 h); when the process
   * dies its acks vanish within about this long (Consul may take up to twice the TTL). Default 30000.
   */
  ackSessionTtlMs?: number;
}

/** The store options, validated, with their defaults. */
export interface ResolvedConsulOptions {
  name: string;
  prefix: string;
  historyLimit: number;
  maxDocumentBytes: number;
  maxValueBytes: number;
  maxTxnBytes: number;
  watchWaitMs: number;
  watchResyncMs: number;
  perSecond: number;
  burst: number;
  retryBaseMs: number;
  retryMaxMs: number;
  ackSessionTtlMs: number;
  cacheHeadIndex: boolean;
}

export function resolveConsulOptions(options: ConsulStoreOptions): ResolvedConsulOptions {
  const what = 'consul store';
  if (options === null || typeof options !== 'object') throw errors.constraint(`${what} options must be an object`);
  const name = options.name ?? 'consul';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
    throw errors.constraint(
      `${what} option name must be 1-64 characters of [A-Za-z0-9_.:-], got ${JSON.stringify(name)}`,
    );
  }
  const prefix = checkPrefix(options.prefix ?? 'summit/', what);
  const maxValueBytes = intOption(what, 'maxValueBytes', options.maxValueBytes, CONSUL_MAX_VALUE_BYTES, 1024, 64 << 20);
  const maxTxnBytes = intOption(what, 'maxTxnBytes', options.maxTxnBytes, CONSUL_MAX_TXN_BYTES, 1024, 64 << 20);
  const maxDocumentBytes = intOption(
    what,
    'maxDocumentBytes',
    options.maxDocumentBytes,
    Math.min(DEFAULT_MAX_DOCUMENT_BYTES, maxValueBytes),
    1,
    maxValueBytes,
  );
  const rate = options.watchRateLimit ?? {};
  if (rate === null || typeof rate !== 'object')
    throw errors.constraint(`${what} option watchRateLimit must be an object`);
  const perSecond = rate.perSecond ?? 200;
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0 || perSecond > 100_000) {
    throw errors.constraint(
      `${what} option watchRateLimit.perSecond must be a number in (0, 100000], got ${perSecond}`,
    );
  }
  const burst = intOption(what, 'watchRateLimit.burst', rate.burst, 200, 1, 100_000);
  const retryBaseMs = intOption(what, 'retryBaseMs', options.retryBaseMs, 100, 1, 60_000);
  const retryMaxMs = intOption(what, 'retryMaxMs', options.retryMaxMs, 10_000, retryBaseMs, 600_000);
  const cacheHeadIndex = options.cacheHeadIndex ?? true;
  if (typeof cacheHeadIndex !== 'boolean') throw errors.constraint(`${what} option cacheHeadIndex must be a boolean`);
  return {
    name,
    prefix,
    historyLimit: intOption(what, 'historyLimit', options.historyLimit, 20, 1, 100_000),
    maxDocumentBytes,
    maxValueBytes,
    maxTxnBytes,
    watchWaitMs: intOption(what, 'watchWaitMs', options.watchWaitMs, 30_000, 1000, 600_000),
    watchResyncMs: intOption(what, 'watchResyncMs', options.watchResyncMs, 300_000, 0, 86_400_000),
    perSecond,
    burst,
    retryBaseMs,
    retryMaxMs,
    ackSessionTtlMs: intOption(what, 'ackSessionTtlMs', options.ackSessionTtlMs, 30_000, 10_000, 86_400_000),
    cacheHeadIndex,
  };
}
