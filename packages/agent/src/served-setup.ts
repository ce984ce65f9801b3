/**
 * What the agent gives each served client beyond the store, so that it serves what an application's
 * client serves: the stored schemas (`served-schemas.ts`) for every app, and the secret resolver
 * (`served-secrets.ts`) for the apps with `secrets: resolve`.
 */
import type { AgentConfig, AppConfig } from './config.js';
import type { AgentEvents } from './events.js';
import type { AgentStores } from './runtime.js';
import { createServedSchemas, type ServedSchemas } from './served-schemas.js';
import { openServedSecrets, resolvesSecrets, type ServedSecrets } from './served-secrets.js';
import type { AgentLogger } from './util.js';

export interface ServedSetup {
  /** The options of a served client of `app`: the schemas, and the resolver when the app resolves. */
  forApp(app: Pick<AppConfig, 'secrets'>): Pick<ServedClientExtras, 'schemas' | 'secrets'>;
  /** Stops the schema refresh and closes the resolver. Idempotent. */
  close(): Promise<void>;
}

/** What a served client gets beyond the store. */
interface ServedClientExtras {
  schemas: ServedSchemas;
  secrets?: ServedSecrets['secrets'];
}

/**
 * Starts reading the stored schemas and, when an app resolves secrets, opens the resolver over the
 * configured providers. Throws (`MISSING_REQUIRED`: no provider, or one without its key or
 * credential) with nothing left open.
 */
export async function openServedSetup(options: {
  config: Pick<AgentConfig, 'apps' | 'secrets'>;
  stores: Pick<AgentStores, 'governance' | 'secretSql'>;
  events: AgentEvents;
  env: NodeJS.ProcessEnv;
  logger?: AgentLogger;
  /** Between reads of the stored schemas, ms. Default 30 000. */
  schemaRefreshMs?: number;
}): Promise<ServedSetup> {
  const secrets = resolvesSecrets(options.config)
    ? await openServedSecrets({ config: options.config, secretSql: options.stores.secretSql, env: options.env })
    : undefined;
  const schemas = createServedSchemas({
    governance: options.stores.governance,
    events: options.events,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.schemaRefreshMs === undefined ? {} : { refreshMs: options.schemaRefreshMs }),
  });
  const resolving = options.config.apps.filter((a) => a.secrets === 'resolve').map((a) => a.app);
  if (resolving.length > 0) {
    options.logger?.info?.({ apps: resolving, providers: secrets?.providers }, 'secrets resolved for these apps');
  }
  return {
    forApp: (app) => ({ schemas, ...(app.secrets === 'resolve' && secrets ? { secrets: secrets.secrets } : {}) }),
    async close() {
      schemas.close();
      await secrets?.close();
    },
  };
}
