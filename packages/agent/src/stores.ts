/**
 * Builds the agent's failover chain from its configuration:
 *
 * - nothing configured: `[pglite, memory]`, PGlite in `stores.embedded.dataDir` (the bare-machine default);
 * - Consul and PostgreSQL: `[consul, postgres, memory]`;
 * - PostgreSQL only: `[postgres, memory]`;
 * - Consul only: `[consul, memory]`, or `[consul, pglite, memory]` with an explicit `stores.embedded`.
 *
 * Drivers are loaded only for the tiers used (subpath imports), so the embedded default never loads
 * `pg` or `consul`.
 */
import { mkdir } from 'node:fs/promises';
import { createFailoverStore, type FailoverEvent, type FailoverStore } from '@summit-config/backends';
import { createMemoryStore } from '@summit-config/backends/memory';
import { type ConfigStore, errors } from '@summit-config/core';
import { claimEmbeddedDir } from './cli/embedded-lock.js';
import type { AgentConfig } from './config.js';
import type { AgentLogger } from './util.js';

export interface AgentStores {
  /** The chain every served client reads through. Owns (and closes) the tiers. */
  readonly store: FailoverStore;
  /** The primary durable tier (Consul when configured). */
  readonly primary: ConfigStore;
  /** The durable record beside the primary (PostgreSQL or PGlite), when there are two durable tiers. */
  readonly record: ConfigStore | undefined;
  /** Tier names, highest priority first. */
  readonly tiers: readonly string[];
  /** True when the chain runs on the embedded default (no Consul). */
  readonly embedded: boolean;
  /** The embedded PGlite database, shared with the governance storage (embedded mode only). */
  readonly pglite?: import('@electric-sql/pglite').PGlite;
  /** Closes the chain, then the embedded database, then releases the data directory. Idempotent. */
  close(): Promise<void>;
}

export interface BuildStoresOptions {
  onEvent: (event: FailoverEvent) => void;
  logger?: AgentLogger;
}

export async function buildStores(config: AgentConfig, options: BuildStoresOptions): Promise<AgentStores> {
  const tiers: ConfigStore[] = [];
  /** Run in order on close: the chain first, then the database, then the directory claim. */
  const closers: Array<() => Promise<void>> = [];
  let pglite: import('@electric-sql/pglite').PGlite | undefined;
  const { consul, postgres, embedded } = config.stores;
  const logger = options.logger;
  if (consul) {
    const { createConsulStore } = await import('@summit-config/backends/consul');
    tiers.push(
      createConsulStore({
        address: consul.address,
        token: consul.token,
        prefix: consul.prefix,
        timeoutMs: consul.timeoutMs,
        historyLimit: consul.historyLimit,
      }),
    );
  }
  if (postgres) {
    const { createPostgresStore } = await import('@summit-config/backends/postgres');
    tiers.push(
      createPostgresStore({
        connectionString: postgres.url,
        schema: postgres.schema,
        applicationName: `summit-agent:${config.instance}`.slice(0, 56),
        logger: logger && {
          warn: (obj: object, msg?: string) => logger.warn?.({ tier: 'postgres', ...obj }, msg),
          error: (obj: object, msg?: string) => logger.error?.({ tier: 'postgres', ...obj }, msg),
          info: (obj: object, msg?: string) => logger.debug?.({ tier: 'postgres', ...obj }, msg),
          debug: (obj: object, msg?: string) => logger.debug?.({ tier: 'postgres', ...obj }, msg),
        },
      }),
    );
  } else if (embedded) {
    // PGlite does no locking: claim the directory (as the CLI does) so that a second process fails
    // clearly instead of corrupting it, and open one instance that the governance storage shares.
    await mkdir(embedded.dataDir, { recursive: true });
    const release = await claimEmbeddedDir(embedded.dataDir);
    closers.unshift(release);
    const { createPgliteStore, openPglite } = await import('@summit-config/backends/pglite');
    try {
      pglite = await openPglite(embedded.dataDir);
    } catch (error) {
      await release();
      throw errors.unavailable('pglite', error);
    }
    const db = pglite;
    closers.unshift(() => db.close());
    tiers.push(createPgliteStore({ pglite: db }));
  }
  tiers.push(createMemoryStore({ name: 'cache' }));
  const store = createFailoverStore({ tiers, onEvent: options.onEvent });
  closers.unshift(() => store.close());
  const durable = tiers.filter((t) => t.capabilities.durable);
  let closing: Promise<void> | undefined;
  return {
    store,
    primary: durable[0] as ConfigStore,
    record: durable[1],
    tiers: tiers.map((t) => t.name),
    embedded: !consul,
    pglite,
    close() {
      closing ??= (async () => {
        for (const c of closers) await c().catch(() => {});
      })();
      return closing;
    },
  };
}
