/**
 * The secret resolver of the apps served with `secrets: resolve`: a `SecretResolver` over the local
 * provider (the same encrypted table in the record's database that `summit-config secret` and the
 * rotation job use; master key from `SUMMIT_MASTER_KEY` / `_FILE`). Opened only when an app
 * resolves; values stay in the agent's memory (the clients' snapshots keep the references).
 */
import type { ClientSecrets } from '@summit-config/core';
import { ConfigError } from '@summit-config/core';
import type { AgentConfig } from './config.js';
import type { SecretSqlHandle } from './local-secrets.js';

/** What the resolving apps' clients are given, and how to release it. */
export interface ServedSecrets {
  readonly secrets: ClientSecrets;
  /** Closes the resolver, the providers and their connections. Idempotent. */
  close(): Promise<void>;
}

/** True when some served app has `secrets: resolve`. */
export function resolvesSecrets(config: Pick<AgentConfig, 'apps'>): boolean {
  return config.apps.some((a) => a.secrets === 'resolve');
}

/**
 * Opens the resolver for `config`'s resolving apps. Throws `MISSING_REQUIRED` when there is no
 * database for the local provider or no master key, a `CONSTRAINT_VIOLATION` for a malformed key;
 * nothing stays open after a failure.
 */
export async function openServedSecrets(options: {
  secretSql: (() => Promise<SecretSqlHandle>) | undefined;
  env: NodeJS.ProcessEnv;
}): Promise<ServedSecrets> {
  if (!options.secretSql) {
    throw new ConfigError(
      'MISSING_REQUIRED',
      'apps with secrets: resolve need the local secret provider, which keeps its secrets in PostgreSQL or the embedded store: configure one',
    );
  }
  if (!options.env.SUMMIT_MASTER_KEY && !options.env.SUMMIT_MASTER_KEY_FILE) {
    throw new ConfigError(
      'MISSING_REQUIRED',
      'apps with secrets: resolve need the master key of the local secret provider: set SUMMIT_MASTER_KEY (or SUMMIT_MASTER_KEY_FILE)',
    );
  }
  const s = await import('@summit-config/secrets');
  const handle = await options.secretSql();
  try {
    const storage = s.createSqlSecretStorage({ sql: handle.sql, kind: handle.kind, schema: handle.schema });
    const provider = s.createLocalProvider({ storage, env: options.env });
    const resolver = new s.SecretResolver({ providers: [provider] });
    let closing: Promise<void> | undefined;
    return {
      secrets: resolver,
      close() {
        closing ??= (async () => {
          await resolver.close().catch(() => {});
          await provider.close().catch(() => {});
          await handle.close().catch(() => {});
        })();
        return closing;
      },
    };
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}
