/**
 * Every configured secret provider (`secret-providers.ts`) with one rotation manager over them,
 * its policies in the same durable record as the config (PostgreSQL or the embedded PGlite). The
 * agent's leader runs its due rotations; the CLI's `secret` commands and the config server use it.
 */
import type { Actor, ConfigService, ConfigStore, Rbac } from '@summit-config/core';
import type { RotationLogger, RotationManager } from '@summit-config/secrets';
import type { SecretsConfig } from './config-secrets.js';
import type { SecretSqlHandle } from './local-secrets.js';
import { createSecretProviders, type SecretProviders } from './secret-providers.js';

/** What {@link createProviderRotation} returns. */
export interface ProviderRotation {
  readonly providers: SecretProviders;
  /** One manager over every provider: policies name their provider (`{ provider, name }`). */
  readonly rotation: RotationManager;
  /**
   * Names of a provider's secrets, sorted: the local provider's every secret; for the other
   * providers (which cannot list), the secrets with a rotation policy on it.
   */
  listNames(provider: string): Promise<string[]>;
  /** Closes the manager, the providers and the SQL handle. Idempotent. */
  close(): Promise<void>;
}

/** What {@link createProviderRotation} takes. Everything but `handle` is borrowed. */
export interface ProviderRotationOptions {
  /** `AgentConfig.secrets`. */
  config: SecretsConfig;
  /** SQL for the local provider and the policies (`openSecretSql`); owned: closed by `close()`. */
  handle: SecretSqlHandle;
  /** Runs the governance migrations before the policies table is used. */
  migrator: { migrate(): Promise<unknown> };
  service: ConfigService;
  store: ConfigStore;
  rbac: Rbac;
  /** The actor scheduled runs act as (needs `secrets:rotate` and `config:write`). */
  actor: Actor;
  /** Credentials and master keys. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger?: RotationLogger;
}

/**
 * Builds the providers and the rotation manager. Rejects as `createSecretProviders` does (a
 * `ConfigError` naming the field), after closing `handle`; reaches no cloud until a call needs it.
 */
export async function createProviderRotation(options: ProviderRotationOptions): Promise<ProviderRotation> {
  const { handle } = options;
  let providers: SecretProviders;
  try {
    providers = await createSecretProviders({
      config: options.config,
      sql: handle,
      ...(options.env ? { env: options.env } : {}),
    });
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
  const s = await import('@summit-config/secrets');
  const { sql, kind, schema } = handle;
  const policies = s.createSqlRotationPolicies({ sql, kind, schema, migrator: options.migrator });
  const rotation = s.createRotationManager({
    policies,
    providers: [...providers.providers.values()],
    resolver: providers.resolver,
    service: options.service,
    store: options.store,
    rbac: options.rbac,
    actor: options.actor,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let closing: Promise<void> | undefined;
  return {
    providers,
    rotation,
    async listNames(name) {
      const provider = providers.get(name);
      if (provider.kind === 'local') {
        // The local provider's own table (local-sql.ts); a listVersions call creates it when missing.
        await provider.listVersions('summit-cli-probe').catch((error: { code?: string }) => {
          if (error?.code !== 'NOT_FOUND') throw error;
        });
        const quoted = `"${schema.replace(/"/g, '""')}"`;
        const { rows } = await sql.query<{ name: string }>(`SELECT name FROM ${quoted}.summit_secrets ORDER BY name`);
        return rows.map((r) => r.name);
      }
      const listed = await rotation.listPolicies(options.actor);
      return [...new Set(listed.filter((p) => p.secret.provider === name).map((p) => p.secret.name))].sort();
    },
    close() {
      closing ??= (async () => {
        await rotation.close().catch(() => {});
        await providers.close();
        await handle.close().catch(() => {});
      })();
      return closing;
    },
  };
}
