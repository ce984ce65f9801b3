/**
 * The secret resolver of the apps served with `secrets: resolve`: the providers of the agent
 * configuration's `secrets` section, built by `createSecretProviders` (the one place that builds
 * them, shared with the rotation job and the CLI's `secret` commands): local, AWS, GCP, Azure,
 * Vault, and the implicit `local` when `SUMMIT_MASTER_KEY` is set. Opened only when an app resolves;
 * values stay in the agent's memory (the clients' snapshots keep the references).
 */
import type { ClientSecrets } from '@summit-config/core';
import { ConfigError } from '@summit-config/core';
import type { AgentConfig } from './config.js';
import type { SecretSqlHandle } from './local-secrets.js';
import { createSecretProviders } from './secret-providers.js';

/** What the resolving apps' clients are given, and how to release it. */
export interface ServedSecrets {
  readonly secrets: ClientSecrets;
  /** The names of the providers references may name, in configuration order. */
  readonly providers: readonly string[];
  /** Closes the resolver, the providers and their connections. Idempotent. */
  close(): Promise<void>;
}

/** True when some served app has `secrets: resolve`. */
export function resolvesSecrets(config: Pick<AgentConfig, 'apps'>): boolean {
  return config.apps.some((a) => a.secrets === 'resolve');
}

/**
 * Opens the providers and the resolver for `config`'s resolving apps. Throws `MISSING_REQUIRED` when
 * no provider is configured (no `secrets.providers`, no `SUMMIT_MASTER_KEY`) or one lacks what it
 * needs (a master key, a credential variable, a module), as `createSecretProviders` does; nothing
 * stays open after a failure.
 */
export async function openServedSecrets(options: {
  config: Pick<AgentConfig, 'secrets'>;
  secretSql: (() => Promise<SecretSqlHandle>) | undefined;
  env: NodeJS.ProcessEnv;
}): Promise<ServedSecrets> {
  const section = options.config.secrets;
  if (section.providers.length === 0) {
    throw new ConfigError(
      'MISSING_REQUIRED',
      'apps with secrets: resolve need a secret provider: configure secrets.providers in the agent config, or set SUMMIT_MASTER_KEY (or SUMMIT_MASTER_KEY_FILE) for the local provider',
    );
  }
  // The local provider keeps its versions in the record's database: open its SQL only when asked.
  const needsSql = section.providers.some((p) => p.kind === 'local');
  const handle = needsSql && options.secretSql ? await options.secretSql() : undefined;
  try {
    const built = await createSecretProviders({
      config: section,
      env: options.env,
      ...(handle ? { sql: handle } : {}),
    });
    let closing: Promise<void> | undefined;
    return {
      secrets: built.resolver,
      providers: [...built.providers.keys()],
      close() {
        closing ??= (async () => {
          await built.close().catch(() => {});
          await handle?.close().catch(() => {});
        })();
        return closing;
      },
    };
  } catch (error) {
    await handle?.close().catch(() => {});
    throw error;
  }
}
