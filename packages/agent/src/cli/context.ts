/**
 * What a CLI command works with: the agent's configuration (`--config`, env `SUMMIT_AGENT_CONFIG`,
 * plus `CONSUL_HTTP_ADDR`, `DATABASE_URL`, `SUMMIT_DATA_DIR`, ...), the same store chain as the
 * agent, the governance storage in the same schema, RBAC, the actor, and the change service.
 *
 * - Embedded default (no Consul, no PostgreSQL): one PGlite instance in the data directory is shared
 *   by the store, the governance storage, the migration history and the local secret provider. The
 *   directory is claimed first (`embedded-lock.ts`): if the agent holds it the command fails at
 *   once with `BACKEND_UNAVAILABLE` saying so, it never hangs or corrupts the directory.
 * - Real stores: `[consul, postgres, memory]` (or any subset the configuration names), governance
 *   and migration history on PostgreSQL in the store's schema (`SUMMIT_PG_SCHEMA`).
 *
 * RBAC: `--rbac <file>` or env `SUMMIT_RBAC_FILE` (the YAML of `loadRbacFile`). Without one, the
 * embedded default binds the local OS user to `config-admin`, `secrets-admin` and `embedded-admin`
 * (`import`, `policy:write`: it may restore a backup); with real stores
 * a file is required (`CONSTRAINT_VIOLATION`). The actor is `--actor`, env `SUMMIT_ACTOR`, or the
 * OS user name.
 */
import { userInfo } from 'node:os';
import type { FailoverStore } from '@summit-config/backends';
import { createFailoverStore } from '@summit-config/backends';
import { createMemoryStore } from '@summit-config/backends/memory';
import {
  type Actor,
  type ConfigService,
  type ConfigStore,
  type ConfigVersion,
  createConfigService,
  createRbac,
  errors,
  type GovernanceStore,
  loadRbacFile,
  type MigrationHistory,
  type Rbac,
} from '@summit-config/core';
import type { RotationManager, SecretProvider } from '@summit-config/secrets';
import { type AgentConfig, loadAgentConfig } from '../config.js';
import { createLocalRotation, openSecretSql, type SecretSqlHandle } from '../local-secrets.js';
import { settleWithin } from '../util.js';
import { claimEmbeddedDir } from './embedded-lock.js';

/** Options every command accepts. */
export interface CommonOptions {
  json?: boolean;
  config?: string;
  rbac?: string;
  actor?: string;
}

/** Secret commands: the local provider, rotation, and the secret names. */
export interface SecretsSession {
  provider: SecretProvider;
  rotation: RotationManager;
  /** Names of the secrets the local provider holds, sorted. */
  listNames(): Promise<string[]>;
}

export interface Session {
  readonly config: AgentConfig;
  /** The chain (owns the tiers). */
  readonly store: FailoverStore;
  /** The primary durable tier (Consul when configured). */
  readonly primary: ConfigStore;
  /** The durable tier beside the primary, when there are two. */
  readonly record: ConfigStore | undefined;
  readonly tiers: readonly string[];
  /** True on the embedded default (PGlite only). */
  readonly embedded: boolean;
  readonly governance: GovernanceStore;
  readonly rbac: Rbac;
  /** Where the RBAC definition came from: a file path, or `embedded default`. */
  readonly rbacSource: string;
  readonly actor: Actor;
  readonly service: ConfigService;
  /** Called after every version the service appends (import progress). */
  onAppend: ((doc: ConfigVersion) => void) | undefined;
  migrationHistory(): MigrationHistory;
  secrets(): Promise<SecretsSession>;
  close(): Promise<void>;
}

export interface OpenOptions extends CommonOptions {
  env: NodeJS.ProcessEnv;
}

function osUser(env: NodeJS.ProcessEnv): string {
  try {
    const name = userInfo().username;
    if (name) return name;
  } catch {
    // no passwd entry (some containers)
  }
  return env.USER || env.LOGNAME || 'unknown';
}

/** The actor id: `--actor`, env `SUMMIT_ACTOR`, else the OS user name. */
export function actorId(options: OpenOptions): string {
  return options.actor || options.env.SUMMIT_ACTOR || osUser(options.env);
}

type Closer = () => Promise<unknown>;

/** A store whose `append` reports each written version (the service writes through it). */
function counting(store: FailoverStore, session: { onAppend: ((doc: ConfigVersion) => void) | undefined }) {
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === 'append') {
        return async (doc: ConfigVersion, options?: { signal?: AbortSignal }) => {
          const written = await target.append(doc, options);
          session.onAppend?.(written);
          return written;
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Opens everything a command needs. The caller must `close()` it (also after a failure). */
export async function openSession(options: OpenOptions): Promise<Session> {
  const { env } = options;
  const config = await loadAgentConfig(options.config || env.SUMMIT_AGENT_CONFIG || undefined, env);
  const { consul, postgres, embedded } = config.stores;
  const closers: Closer[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await settleWithin(c(), 3000);
  };

  try {
    // RBAC first: a missing file fails before anything is opened.
    const embeddedOnly = !consul && !postgres;
    const rbacFile = options.rbac || env.SUMMIT_RBAC_FILE || undefined;
    const actor: Actor = { id: actorId(options) };
    let rbac: Rbac;
    let rbacSource: string;
    if (rbacFile) {
      rbac = await loadRbacFile(rbacFile);
      rbacSource = rbacFile;
    } else if (embeddedOnly) {
      // The machine's own user administers its embedded store, restoring backups included.
      rbac = createRbac({
        roles: { 'embedded-admin': ['import', 'policy:write'] },
        bindings: [{ users: [osUser(env)], roles: ['config-admin', 'secrets-admin', 'embedded-admin'] }],
      });
      rbacSource = 'embedded default';
    } else {
      throw errors.constraint(
        'an RBAC file is required with Consul or PostgreSQL: pass --rbac <file> or set SUMMIT_RBAC_FILE (the embedded default makes the local OS user config-admin and secrets-admin)',
      );
    }
    if (!postgres && !embedded) {
      throw errors.constraint(
        'the CLI needs PostgreSQL (DATABASE_URL) or the embedded store (stores.embedded) for the audit trail, change requests and schemas: Consul alone holds only config versions',
      );
    }

    const tiers: ConfigStore[] = [];
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

    let governance: GovernanceStore & { migrate(): Promise<unknown> };
    let historyFactory: () => MigrationHistory;
    let secretSql: () => Promise<SecretSqlHandle>;
    if (postgres) {
      const pg = await import('@summit-config/backends/postgres');
      tiers.push(
        pg.createPostgresStore({
          connectionString: postgres.url,
          schema: postgres.schema,
          applicationName: 'summit-config-cli',
        }),
      );
      governance = pg.createPostgresGovernance({
        connectionString: postgres.url,
        schema: postgres.schema,
        applicationName: 'summit-config-cli:governance',
      });
      historyFactory = () =>
        pg.createPostgresMigrationHistory({
          connectionString: postgres.url,
          schema: postgres.schema,
          applicationName: 'summit-config-cli:migrations',
        });
      secretSql = () => openSecretSql({ postgres, applicationName: 'summit-config-cli:secrets' });
    } else {
      const dir = (embedded as { dataDir: string }).dataDir;
      const release = await claimEmbeddedDir(dir);
      closers.push(release);
      const pgl = await import('@summit-config/backends/pglite');
      let db: Awaited<ReturnType<typeof pgl.openPglite>>;
      try {
        db = await pgl.openPglite(dir);
      } catch (error) {
        throw errors.unavailable('pglite', error);
      }
      closers.push(() => db.close());
      tiers.push(pgl.createPgliteStore({ pglite: db }));
      governance = pgl.createPgliteGovernance({ pglite: db });
      historyFactory = () => pgl.createPgliteMigrationHistory({ pglite: db });
      secretSql = () => openSecretSql({ pglite: db });
    }
    tiers.push(createMemoryStore({ name: 'cache' }));
    const store = createFailoverStore({ tiers });
    closers.push(() => store.close());
    closers.push(() => governance.close());

    const state: { onAppend: ((doc: ConfigVersion) => void) | undefined } = { onAppend: undefined };
    const service = createConfigService({ store: counting(store, state), governance, rbac, source: 'cli' });
    closers.push(() => service.close());

    const durable = tiers.filter((t) => t.capabilities.durable);
    let secrets: Promise<SecretsSession> | undefined;
    const session: Session = {
      config,
      store,
      primary: durable[0] as ConfigStore,
      record: durable[1],
      tiers: tiers.map((t) => t.name),
      embedded: embeddedOnly,
      governance,
      rbac,
      rbacSource,
      actor,
      service,
      get onAppend() {
        return state.onAppend;
      },
      set onAppend(fn) {
        state.onAppend = fn;
      },
      migrationHistory() {
        const history = historyFactory();
        closers.push(() => history.close());
        return history;
      },
      secrets() {
        secrets ??= (async () => {
          const handle = await secretSql();
          const { sql, schema } = handle;
          const local = await createLocalRotation({ handle, migrator: governance, service, store, rbac, actor, env });
          closers.push(() => local.close());
          const { provider, rotation, storage } = local;
          return {
            provider,
            rotation,
            async listNames() {
              // The local provider's own table (see local-sql.ts); created by the first call.
              await storage.list('summit-cli-probe');
              const quoted = `"${schema.replace(/"/g, '""')}"`;
              const { rows } = await sql.query<{ name: string }>(
                `SELECT name FROM ${quoted}.summit_secrets ORDER BY name`,
              );
              return rows.map((r) => r.name);
            },
          };
        })();
        return secrets;
      },
      close,
    };
    return session;
  } catch (error) {
    await close();
    throw error;
  }
}
