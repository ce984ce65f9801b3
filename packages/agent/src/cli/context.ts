/**
 * What a CLI command works with: the agent's configuration (`--config`, env `SUMMIT_AGENT_CONFIG`,
 * plus `CONSUL_HTTP_ADDR`, `DATABASE_URL`, `SUMMIT_DATA_DIR`, ...), the same store chain as the
 * agent, the governance storage in the same schema, RBAC, the actor, and the change service.
 *
 * The stores, governance storage, migration history, secret SQL and change service come from the
 * runtime (`runtime.ts`, the one place that builds them): on the embedded default one PGlite instance
 * in the data directory, claimed first (if the agent holds it the command fails at once with
 * `BACKEND_UNAVAILABLE` saying so); with real stores PostgreSQL in the store's schema.
 *
 * RBAC: `--rbac <file>` or env `SUMMIT_RBAC_FILE` (the YAML of `loadRbacFile`). Without one, the
 * embedded default binds the local OS user to `config-admin`, `secrets-admin` and `embedded-admin`
 * (`import`, `policy:write`: it may restore a backup); with real stores
 * a file is required (`CONSTRAINT_VIOLATION`). The actor is `--actor`, env `SUMMIT_ACTOR`, or the
 * OS user name.
 */
import { userInfo } from 'node:os';
import type { FailoverStore } from '@summit-config/backends';
import {
  type Actor,
  type ConfigService,
  type ConfigStore,
  type ConfigVersion,
  createRbac,
  errors,
  type GovernanceStore,
  loadRbacFile,
  type MigrationHistory,
  type Rbac,
} from '@summit-config/core';
import type { RotationManager, SecretProvider } from '@summit-config/secrets';
import { type AgentConfig, loadAgentConfig } from '../config.js';
import { createLocalRotation } from '../local-secrets.js';
import { openRuntime } from '../runtime.js';
import { settleWithin } from '../util.js';

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

  const runtime = await openRuntime(config, { role: 'cli' });
  const closers: Closer[] = [() => runtime.close()];
  const close = async () => {
    for (const c of closers.splice(0)) await settleWithin(c(), 3000);
  };
  try {
    const state: { onAppend: ((doc: ConfigVersion) => void) | undefined } = { onAppend: undefined };
    const { store } = runtime;
    const service = runtime.service(rbac, { source: 'cli', store: counting(store, state) });
    const governance = runtime.governance as GovernanceStore & { migrate(): Promise<unknown> };
    let secrets: Promise<SecretsSession> | undefined;
    const session: Session = {
      config,
      store,
      primary: runtime.primary,
      record: runtime.record,
      tiers: runtime.tiers,
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
      migrationHistory: () => runtime.migrationHistory(),
      secrets() {
        secrets ??= (async () => {
          const handle = await (runtime.secretSql as NonNullable<typeof runtime.secretSql>)();
          const { sql, schema } = handle;
          const local = await createLocalRotation({ handle, migrator: governance, service, store, rbac, actor, env });
          closers.unshift(() => local.close());
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
