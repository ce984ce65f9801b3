/**
 * `openRuntime(config, { role })`: the one place that builds what the agent, the CLI (and later the
 * server) run on, from the agent configuration:
 *
 * - the failover chain: nothing configured: `[pglite, memory]` (PGlite in `stores.embedded.dataDir`,
 *   the bare-machine default); Consul and PostgreSQL: `[consul, postgres, memory]`; PostgreSQL only:
 *   `[postgres, memory]`; Consul only: `[consul, memory]`, or `[consul, pglite, memory]` with an
 *   explicit `stores.embedded`;
 * - the governance storage (environments, schemas, change requests, audit) and the migration history
 *   in the same database as the record (PostgreSQL's schema, or the one embedded PGlite, shared);
 * - the SQL handle of the local secret provider;
 * - the change service for an RBAC definition.
 *
 * The embedded directory is claimed first (`embedded-lock.ts`): PGlite does no locking, so a second
 * process fails at once with a clear `BACKEND_UNAVAILABLE` instead of corrupting it. Drivers are
 * loaded only for the tiers used (subpath imports): the embedded default never loads `pg` or `consul`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { createFailoverStore, type FailoverEvent, type FailoverStore } from '@summit-config/backends';
import { createMemoryStore, type MemoryStoreStats } from '@summit-config/backends/memory';
import {
  type AuditAnchor,
  type AuditSource,
  type ConfigError,
  type ConfigService,
  type ConfigStore,
  createConfigService,
  createFileAuditAnchor,
  createRbac,
  type GovernanceStore,
  isConfigError,
  type Rbac,
} from '@summit-config/core';
import { errors, type SqlPoolStats } from '@summit-config/core/internal';
import type { MigrationHistory } from '@summit-config/core/migrations';
import type { AgentConfig, ConsulTlsConfig } from './config.js';
import { claimEmbeddedDir } from './embedded-lock.js';
import { openSecretSql, type SecretSqlHandle } from './local-secrets.js';
import { type OpenedTrust, openTrust } from './trust.js';
import type { AgentLogger } from './util.js';

/** Who runs on the runtime: it names the database connections (`application_name`). */
export type RuntimeRole = 'agent' | 'cli' | 'server';

export interface RuntimeOptions {
  role: RuntimeRole;
  /** The credential the signing key is bound to (the CLI's OS user), recorded as the signer's principal. */
  principal?: string;
  onEvent?: (event: FailoverEvent) => void;
  logger?: AgentLogger;
}

/** The store chain and its tiers: what the agent serves from (tests may build one of their own). */
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
  /** The governance storage beside the record; undefined when there is none (Consul alone, or a test's stores). */
  readonly governance?: GovernanceStore & { migrate(): Promise<unknown> };
  /** The local secret provider's SQL, in the same database; undefined when there is none. */
  readonly secretSql?: () => Promise<SecretSqlHandle>;
  /** A change service over this store and governance, closed with the stores (with `governance`). */
  service?(rbac: Rbac, options: { source: AuditSource; store?: ConfigStore }): ConfigService;
  /** The writer key and the trust root (`trust.ts`); undefined (or both keys undefined) when not configured. */
  readonly keys?: OpenedTrust;
  /**
   * The cache tier's read counts and the PostgreSQL pools' counts now, read by the agent's metrics
   * on every scrape; undefined for a test's own stores. Never throws.
   */
  stats?(): RuntimeStats;
  /** Closes everything the runtime opened, in order. Idempotent. */
  close(): Promise<void>;
}

/** What `AgentStores.stats()` reports. */
export interface RuntimeStats {
  /** The failover chain's cache tier (hits, misses, evictions, size). */
  readonly cache: MemoryStoreStats;
  /**
   * Each open PostgreSQL pool: `store` (the record), `governance`, `secrets` (the local provider's,
   * once rotations opened it). None on the embedded default (PGlite has no pool).
   */
  readonly pools: ReadonlyArray<{ readonly pool: 'store' | 'governance' | 'secrets'; readonly stats: SqlPoolStats }>;
}

export interface Runtime extends AgentStores {
  readonly config: AgentConfig;
  /** Configuration migrations' history, in the record's database. Throws without one. */
  migrationHistory(): MigrationHistory;
  /** A change service over this runtime's store and governance; closed with the runtime. */
  service(rbac: Rbac, options: { source: AuditSource; store?: ConfigStore }): ConfigService;
  /** The embedded PGlite, when the runtime runs on it. */
  readonly pglite?: import('@electric-sql/pglite').PGlite;
  readonly keys: OpenedTrust;
}

export async function openRuntime(config: AgentConfig, options: RuntimeOptions): Promise<Runtime> {
  const { consul, postgres, embedded } = config.stores;
  const app = (suffix: string) => `summit-${options.role}${suffix}`.slice(0, 56);
  /** Run in order on close (each layer is put in front): services, the chain, the databases, the claim. */
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of closers.splice(0)) await c().catch(() => {});
  };
  try {
    const keys = await openTrust(config.trust, options.principal ? { principal: options.principal } : {});
    const tiers: ConfigStore[] = [];
    let consulDenied: Promise<ConfigError | undefined> | undefined;
    // One connection description for the store and the audit anchor beside it.
    const consulConnection = consul && {
      address: consul.address,
      token: consul.token,
      prefix: consul.prefix,
      timeoutMs: consul.timeoutMs,
      ...(consul.tls ? { tls: await consulTlsOptions(consul.tls) } : {}),
    };
    if (consul && consulConnection) {
      const { createConsulStore } = await import('@summit-config/backends/consul');
      const consulStore = createConsulStore({ ...consulConnection, historyLimit: consul.historyLimit });
      tiers.push(consulStore);
      closers.push(() => consulStore.close());
      consulDenied = consulAccessDenied(consulStore, consul.timeoutMs);
    }
    let governance: (GovernanceStore & { migrate(): Promise<unknown> }) | undefined;
    let history: (() => MigrationHistory) | undefined;
    let secretSql: (() => Promise<SecretSqlHandle>) | undefined;
    let pglite: import('@electric-sql/pglite').PGlite | undefined;
    /** The pools to report in `stats()`, read on each call. */
    const pools: Array<{ pool: 'store' | 'governance' | 'secrets'; stats: () => SqlPoolStats | undefined }> = [];
    if (postgres) {
      const pg = await import('@summit-config/backends/postgres');
      const { url, schema } = postgres;
      const logger = options.logger;
      const recordStore = pg.createPostgresStore({
        connectionString: url,
        schema,
        applicationName: app(''),
        logger: logger && {
          warn: (obj: object, msg?: string) => logger.warn?.({ tier: 'postgres', ...obj }, msg),
          error: (obj: object, msg?: string) => logger.error?.({ tier: 'postgres', ...obj }, msg),
          info: (obj: object, msg?: string) => logger.debug?.({ tier: 'postgres', ...obj }, msg),
          debug: (obj: object, msg?: string) => logger.debug?.({ tier: 'postgres', ...obj }, msg),
        },
      });
      tiers.push(recordStore);
      const sqlGovernance = pg.createPostgresGovernance({
        connectionString: url,
        schema,
        applicationName: app(':governance'),
      });
      governance = sqlGovernance;
      pools.push({ pool: 'store', stats: () => recordStore.poolStats() });
      pools.push({ pool: 'governance', stats: () => sqlGovernance.poolStats() });
      history = () =>
        pg.createPostgresMigrationHistory({ connectionString: url, schema, applicationName: app(':migrations') });
      secretSql = async () => {
        const handle = await openSecretSql({ postgres: { url, schema }, applicationName: app(':secrets') });
        const entry = { pool: 'secrets' as const, stats: () => handle.poolStats?.() };
        pools.push(entry);
        // A closed handle's pool is reported no more.
        return {
          ...handle,
          close: () => {
            const at = pools.indexOf(entry);
            if (at >= 0) pools.splice(at, 1);
            return handle.close();
          },
        };
      };
    } else if (embedded) {
      await mkdir(embedded.dataDir, { recursive: true });
      closers.unshift(await claimEmbeddedDir(embedded.dataDir));
      const pgl = await import('@summit-config/backends/pglite');
      try {
        pglite = await pgl.openPglite(embedded.dataDir);
      } catch (error) {
        throw errors.unavailable('pglite', error);
      }
      const db = pglite;
      closers.unshift(() => db.close());
      tiers.push(pgl.createPgliteStore({ pglite: db }));
      governance = pgl.createPgliteGovernance({ pglite: db });
      history = () => pgl.createPgliteMigrationHistory({ pglite: db });
      secretSql = () => openSecretSql({ pglite: db });
    }
    const owned = governance;
    if (owned) closers.unshift(() => owned.close());
    const cache = createMemoryStore({ name: 'cache' });
    tiers.push(cache);
    const store = createFailoverStore({
      tiers,
      onEvent: options.onEvent,
      ...(keys.trust ? { trust: keys.trust } : {}),
      ...(keys.signer ? { signer: keys.signer } : {}),
    });
    closers.unshift(() => store.close());
    const services: ConfigService[] = [];
    closers.unshift(async () => {
      for (const s of services.splice(0)) await s.close();
    });
    const denied = await consulDenied;
    if (denied) throw denied;
    const auditAnchors = await openAuditAnchors(consulConnection, keys, closers);
    // The embedded default's key was just generated: what the directory already holds was written
    // by its owner before signing existed; it is signed now, once (docs/trust.md, "embedded").
    if (keys.generated && keys.signer && governance) {
      const system = { id: 'summit-embedded', roles: ['embedded-signer'] };
      const adopt = createConfigService({
        store,
        governance,
        rbac: createRbac({ roles: { 'embedded-signer': ['import', 'policy:write', 'config:audit:read'] } }),
        source: 'agent',
        signer: keys.signer,
        ...(keys.trust ? { trust: keys.trust } : {}),
        auditAnchors,
      });
      try {
        await adopt.resignHeads(system);
        // Its unsigned audit events are adopted too: the first checkpoint anchors them. A trail that
        // does not verify is left for `audit verify` to name (the store still opens).
        if (auditAnchors.length > 0 && (await governance.readAuditChain(0, 1)).length > 0) {
          await adopt.checkpointAudit(system, { adopt: true }).catch((error: unknown) => {
            options.logger?.warn?.({ err: error }, 'the audit trail was not adopted: run summit-config audit verify');
          });
        }
      } finally {
        await adopt.close();
      }
    }
    const durable = tiers.filter((t) => t.capabilities.durable);
    return {
      config,
      store,
      primary: durable[0] as ConfigStore,
      record: durable[1],
      tiers: tiers.map((t) => t.name),
      embedded: !consul,
      keys,
      ...(governance ? { governance } : {}),
      ...(secretSql ? { secretSql } : {}),
      ...(pglite ? { pglite } : {}),
      stats() {
        const open: Array<{ pool: 'store' | 'governance' | 'secrets'; stats: SqlPoolStats }> = [];
        for (const p of pools) {
          const stats = p.stats();
          if (stats) open.push({ pool: p.pool, stats });
        }
        return { cache: cache.stats(), pools: open };
      },
      migrationHistory() {
        if (!history) {
          throw errors.constraint('configuration migrations need PostgreSQL or the embedded store for their history');
        }
        const h = history();
        closers.unshift(() => h.close());
        return h;
      },
      service(rbac, o) {
        if (!governance) {
          throw errors.constraint(
            'the change service needs PostgreSQL (DATABASE_URL) or the embedded store for the audit trail, change requests and schemas: Consul alone holds only config versions',
          );
        }
        const service = createConfigService({
          store: o.store ?? store,
          governance,
          rbac,
          source: o.source,
          ...(keys.signer ? { signer: keys.signer } : {}),
          ...(keys.trust ? { trust: keys.trust } : {}),
          auditAnchors,
        });
        services.push(service);
        return service;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Where audit checkpoints are kept: Consul (when configured, beside the store's keys) and the
 * checkpoint file (when configured; the embedded default's is beside its data directory).
 */
async function openAuditAnchors(
  consulConnection: import('@summit-config/backends/consul').ConsulAuditAnchorOptions | undefined,
  keys: OpenedTrust,
  closers: Array<() => Promise<unknown>>,
): Promise<AuditAnchor[]> {
  const anchors: AuditAnchor[] = [];
  if (consulConnection) {
    const { createConsulAuditAnchor } = await import('@summit-config/backends/consul');
    const anchor = createConsulAuditAnchor(consulConnection);
    closers.unshift(() => anchor.close());
    anchors.push(anchor);
  }
  if (keys.checkpointFile) anchors.push(createFileAuditAnchor(keys.checkpointFile));
  return anchors;
}

/** `stores.consul.tls` as the Consul store's TLS options: the PEM files read now. */
export async function consulTlsOptions(tls: ConsulTlsConfig) {
  const read = async (field: keyof ConsulTlsConfig, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      throw errors.constraint(`stores.consul.tls.${field}: ${file} cannot be read: ${(error as Error).message}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    read('caFile', tls.caFile),
    read('certFile', tls.certFile),
    read('keyFile', tls.keyFile),
  ]);
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    rejectUnauthorized: tls.verify,
  };
}

/**
 * Consul's ACLs, checked while the other tiers open: a ping (a read of the prefix's epoch key) that
 * Consul refuses (`ACCESS_DENIED`: no token, or one that may not read the prefix) fails the open, so
 * the agent never starts serving and the CLI exits with the code, instead of the chain serving
 * what the other tiers hold as if Consul's configs were absent. Any other failure (Consul down or
 * slow) is left to the failover chain.
 */
async function consulAccessDenied(store: ConfigStore, timeoutMs: number): Promise<ConfigError | undefined> {
  try {
    await store.ping({ signal: AbortSignal.timeout(Math.min(timeoutMs, 2000)) });
    return undefined;
  } catch (error) {
    return isConfigError(error, 'ACCESS_DENIED') ? error : undefined;
  }
}
