/**
 * What every member of the PostgreSQL store runs through: CLOSED first, then the migrations
 * (applied once, on first use), the caller's AbortSignal, and one mapping of driver errors.
 */
import { type ConfigError, type ConfigRef, parseRef } from '@summit-config/core';
import { errors, Lifecycle, onAbort, throwIfAborted } from '@summit-config/core/internal';
import { lazyMigrate, type MigrationResult } from './postgres-migrations.js';
import type { DocumentLimits } from './postgres-rows.js';
import { type SqlTables, sqlTables } from './postgres-sql.js';
import { mapSqlError, type SqlClient } from './sql-client.js';

/** Error context of a member: the ref and version it is about. */
export interface OpContext {
  ref?: string;
  version?: number;
}

export interface SqlStoreContext {
  /** Tier name: `postgres`, `pglite`, ... */
  readonly name: string;
  readonly client: SqlClient;
  readonly tables: SqlTables;
  readonly limits: DocumentLimits;
  readonly lifecycle: Lifecycle;
  /** Applies pending migrations once; a failed attempt is tried again by the next call. */
  ensureReady(): Promise<MigrationResult>;
  /** CLOSED once the store is closed, otherwise the driver error mapped. */
  fail(error: unknown, ctx?: OpContext): ConfigError;
  /** Runs `work`: CLOSED first, then migrations, then the work; driver errors mapped. */
  op<T>(work: () => Promise<T>, ctx?: OpContext, signal?: AbortSignal): Promise<T>;
  /** CLOSED first, then the ref parsed. */
  open(ref: ConfigRef): ConfigRef;
}

/** Rejects with the signal's reason when it aborts first; the operation itself keeps running. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(signal, () => {
      try {
        throwIfAborted(signal);
      } catch (reason) {
        reject(reason);
      }
    });
    promise.then(
      (value) => {
        off();
        resolve(value);
      },
      (error: unknown) => {
        off();
        reject(error);
      },
    );
  });
}

export function createSqlContext(config: {
  name: string;
  client: SqlClient;
  schema: string;
  maxDocumentBytes: number;
}): SqlStoreContext {
  const { client, name } = config;
  const lifecycle = new Lifecycle(`${name} store`);
  const tables = sqlTables(config.schema);
  const ensureReady = lazyMigrate(client, config.schema);

  function fail(error: unknown, ctx: OpContext = {}): ConfigError {
    if (lifecycle.closed) return errors.closed(`${name} store`);
    return mapSqlError(error, name, ctx);
  }

  return {
    name,
    client,
    tables,
    limits: { maxDocumentBytes: config.maxDocumentBytes },
    lifecycle,
    ensureReady,
    fail,
    async op<T>(work: () => Promise<T>, ctx: OpContext = {}, signal?: AbortSignal): Promise<T> {
      lifecycle.assertOpen();
      throwIfAborted(signal);
      try {
        await abortable(ensureReady(), signal);
        return await abortable(work(), signal);
      } catch (error) {
        throw fail(error, ctx);
      }
    },
    open(ref: ConfigRef): ConfigRef {
      lifecycle.assertOpen();
      return parseRef(ref);
    },
  };
}
