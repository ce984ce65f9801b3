/**
 * The agent's served side, set up at start: what each served client gets beyond the store, so that
 * it serves what an application's client serves (the stored schemas, `served-schemas.ts`, for every
 * app, and the secret resolver, `served-secrets.ts`, for the apps with `secrets: resolve`); then the
 * clients themselves, one per (app, environment), and the rendered files that follow them.
 */
import type { AgentConfig, AppConfig } from './config.js';
import type { AgentEvents } from './events.js';
import type { AgentMetrics } from './metrics.js';
import { FileRenderer } from './render.js';
import type { AgentStores } from './runtime.js';
import { ServedClient } from './served.js';
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

/**
 * Creates and starts the served clients (one per app and environment; each loads in the background,
 * retrying until a store or its snapshot answers) and the rendered files, each rewritten whenever its
 * client's value changes. Keys are `<app>/<environment>`.
 */
export function startServedClients(options: {
  config: Pick<AgentConfig, 'apps' | 'render' | 'instance' | 'snapshotDir'>;
  stores: Pick<AgentStores, 'store' | 'keys'>;
  setup: ServedSetup;
  events: AgentEvents;
  metrics: AgentMetrics;
  logger: AgentLogger | undefined;
}): { served: Map<string, ServedClient>; renderers: FileRenderer[] } {
  const { config, stores, setup, events, metrics, logger } = options;
  const served = new Map<string, ServedClient>();
  for (const app of config.apps) {
    for (const environment of app.environments) {
      const client = new ServedClient({
        app: app.app,
        environment,
        environments: app.definitions,
        store: stores.store,
        instance: config.instance,
        snapshotDir: config.snapshotDir,
        events,
        metrics,
        logger,
        ...(stores.keys?.trust ? { trust: stores.keys.trust } : {}),
        ...setup.forApp(app),
      });
      served.set(client.key, client);
    }
  }
  for (const client of served.values()) client.start();

  const renderers: FileRenderer[] = [];
  for (const r of config.render) {
    const renderer = new FileRenderer(r, { events, metrics, logger });
    renderers.push(renderer);
    (served.get(`${r.app}/${r.environment}`) as ServedClient).onReady((client) => {
      const render = () => {
        const value = client.get(r.id);
        if (value !== undefined) void renderer.update(value);
      };
      client.watch(r.id, render);
      render();
    });
  }
  return { served, renderers };
}
