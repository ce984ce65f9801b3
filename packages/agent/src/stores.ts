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
import type { ConfigStore } from '@summit-config/core';
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
}

export interface BuildStoresOptions {
  onEvent: (event: FailoverEvent) => void;
  logger?: AgentLogger;
}

export async function buildStores(config: AgentConfig, options: BuildStoresOptions): Promise<AgentStores> {
  const tiers: ConfigStore[] = [];
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
    await mkdir(embedded.dataDir, { recursive: true });
    const { createPgliteStore } = await import('@summit-config/backends/pglite');
    tiers.push(createPgliteStore({ dataDir: embedded.dataDir }));
  }
  tiers.push(createMemoryStore({ name: 'cache' }));
  const store = createFailoverStore({ tiers, onEvent: options.onEvent });
  const durable = tiers.filter((t) => t.capabilities.durable);
  return {
    store,
    primary: durable[0] as ConfigStore,
    record: durable[1],
    tiers: tiers.map((t) => t.name),
    embedded: !consul,
  };
}
