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
 * a file is required (`CONSTRAINT_VIOLATION`).
 *
 * Identity: the CLI holds the store credentials itself (direct mode), so the principal is the OS user
 * running it: id = user name, credential = `os-user:<uid>@<host>`. `--actor <id>` or env
 * `SUMMIT_ACTOR` act under another id only when the OS user holds `actor:impersonate` (granted by
 * name; `*` does not cover it), else `ACCESS_DENIED` naming it; the actor then keeps the OS user's
 * credential (its approvals still count as the OS user's) and the audit names the OS user.
 */
import type { FailoverStore } from '@summit-config/backends';
import {
  type Actor,
  type ConfigService,
  type ConfigStore,
  type ConfigVersion,
  createRbac,
  type GovernanceStore,
  loadRbacFile,
  type Rbac,
} from '@summit-config/core';
import { errors, impersonate } from '@summit-config/core/internal';
import type { MigrationHistory } from '@summit-config/core/migrations';
import type { RotationManager, SecretProvider } from '@summit-config/secrets';
import type { TokenAdmin } from '@summit-config/server';
import { type AgentConfig, loadAgentConfig } from '../config.js';
import type { NotificationStore } from '../notifications/sql.js';
import { type OsUser, osPrincipal } from '../os-user.js';
import { openRuntime } from '../runtime.js';
import { createProviderRotation, type ProviderRotation } from '../secret-rotation.js';
import { EMBEDDED_ADMIN_GRANTS, EMBEDDED_ADMIN_ROLE } from '../serve.js';
import { assertKeyOwner, type OpenedTrust } from '../trust.js';
import { settleWithin } from '../util.js';
import type { RemoteInfo } from './remote/session.js';

/** Options every command accepts. */
export interface CommonOptions {
  json?: boolean;
  /** The config server to go through (remote mode); env `SUMMIT_SERVER`. */
  server?: string;
  config?: string;
  rbac?: string;
  actor?: string;
}

/** What the secret commands use of one provider and the rotation manager (here, or over a server). */
export interface SecretsSession {
  provider: Pick<SecretProvider, 'create' | 'listVersions'>;
  rotation: Pick<RotationManager, 'getPolicy' | 'putPolicy' | 'listPolicies' | 'rotate' | 'retry' | 'on'>;
  /** Names of the provider's secrets, sorted (local: all; the others: those with a rotation policy). */
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
  /** The writer key and trust root of the configuration (`trust` section). */
  readonly keys: OpenedTrust;
  /** Set in remote mode: the config server the session goes through (`remote/session.ts`). */
  readonly remote?: RemoteInfo;
  migrationHistory(): MigrationHistory;
  /**
   * The provider named `provider` (default `local`; `secrets.providers` of the agent config) and
   * the rotation manager. `NOT_FOUND` naming the configured providers when there is no such one.
   */
  secrets(provider?: string): Promise<SecretsSession>;
  /** API token administration (`token` commands): the server's rules, on the tokens beside the store. */
  tokens(): Promise<TokenAdmin>;
  /** The agent's notification records and cursors beside the store (`notifications` commands). */
  notifications(): Promise<NotificationStore>;
  close(): Promise<void>;
}

export type { OsUser };
export { osPrincipal };

export interface OpenOptions extends CommonOptions {
  env: NodeJS.ProcessEnv;
  /** The OS user acting (default: the process's own). */
  user?: OsUser;
}

/** The id asked for with `--actor` or env `SUMMIT_ACTOR`, if any. */
export function claimedActor(options: OpenOptions): string | undefined {
  return options.actor || options.env.SUMMIT_ACTOR || undefined;
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
  const principal = osPrincipal(options);
  let rbac: Rbac;
  let rbacSource: string;
  if (rbacFile) {
    rbac = await loadRbacFile(rbacFile);
    rbacSource = rbacFile;
  } else if (embeddedOnly) {
    // The machine's own user administers its embedded store, restoring backups included.
    rbac = createRbac({
      roles: { [EMBEDDED_ADMIN_ROLE]: EMBEDDED_ADMIN_GRANTS },
      bindings: [{ users: [principal.id], roles: ['config-admin', 'secrets-admin', 'embedded-admin'] }],
    });
    rbacSource = 'embedded default';
  } else {
    throw errors.constraint(
      'an RBAC file is required with Consul or PostgreSQL: pass --rbac <file> or set SUMMIT_RBAC_FILE (the embedded default makes the local OS user config-admin and secrets-admin)',
    );
  }
  // --actor / SUMMIT_ACTOR: impersonation, refused before anything is opened.
  const claimed = claimedActor(options);
  const actor: Actor = claimed === undefined ? principal : impersonate(rbac, principal, claimed);
  if (!postgres && !embedded) {
    throw errors.constraint(
      'the CLI needs PostgreSQL (DATABASE_URL) or the embedded store (stores.embedded) for the audit trail, change requests and schemas: Consul alone holds only config versions',
    );
  }

  const runtime = await openRuntime(config, { role: 'cli', principal: principal.credential });
  const closers: Closer[] = [() => runtime.close()];
  try {
    // The signing key is bound to its holder: a key the trust root names for another OS user is refused.
    assertKeyOwner(runtime.keys, principal.credential);
  } catch (error) {
    await runtime.close();
    throw error;
  }
  const close = async () => {
    for (const c of closers.splice(0)) await settleWithin(c(), 3000);
  };
  try {
    const state: { onAppend: ((doc: ConfigVersion) => void) | undefined } = { onAppend: undefined };
    const { store } = runtime;
    const service = runtime.service(rbac, { source: 'cli', store: counting(store, state) });
    const governance = runtime.governance as GovernanceStore & { migrate(): Promise<unknown> };
    let secrets: Promise<ProviderRotation> | undefined;
    let tokens: Promise<TokenAdmin> | undefined;
    let notifications: Promise<NotificationStore> | undefined;
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
      keys: runtime.keys,
      migrationHistory: () => runtime.migrationHistory(),
      notifications() {
        notifications ??= (async () => {
          const handle = await (runtime.secretSql as NonNullable<typeof runtime.secretSql>)();
          closers.unshift(() => handle.close());
          const { createNotificationStore } = await import('../notifications/sql.js');
          return createNotificationStore({ sql: handle.sql, schema: handle.schema });
        })();
        return notifications;
      },
      async secrets(name = 'local') {
        secrets ??= (async () => {
          const handle = await (runtime.secretSql as NonNullable<typeof runtime.secretSql>)();
          const built = await createProviderRotation({
            config: config.secrets,
            handle,
            migrator: governance,
            service,
            store,
            rbac,
            actor,
            env,
          });
          closers.unshift(() => built.close());
          return built;
        })();
        const built = await secrets;
        return {
          provider: built.providers.get(name),
          rotation: built.rotation,
          listNames: () => built.listNames(name),
        };
      },
      tokens() {
        tokens ??= (async () => {
          const handle = await (runtime.secretSql as NonNullable<typeof runtime.secretSql>)();
          closers.unshift(() => handle.close());
          const { createSqlTokenStore, createTokenAdmin } = await import('@summit-config/server');
          const tokenStore = createSqlTokenStore({ sql: handle.sql, schema: handle.schema, kind: handle.kind });
          closers.unshift(() => tokenStore.close());
          return createTokenAdmin({ store: tokenStore, rbac, service });
        })();
        return tokens;
      },
      close,
    };
    return session;
  } catch (error) {
    await close();
    throw error;
  }
}
