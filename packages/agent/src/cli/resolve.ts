/**
 * Resolved reads for `get --environment`, `explain` and `watch --app`: a ConfigClient over the
 * session's store, with the environments of the governance storage (and the agent configuration's
 * app definitions), and the schema registry for defaults. The client reads through a view of the
 * store without applied-state acknowledgements: a CLI read is not an instance applying config, and
 * must not show up in drift reports as one.
 */
import {
  type ConfigClient,
  ConfigError,
  type ConfigRef,
  type ConfigStore,
  createConfigClient,
  type Environment,
  isConfigError,
} from '@summit-config/core';
import { errors, parseEnvironmentName, parseId, scopeApp } from '@summit-config/core/internal';
import type { Session } from './context.js';
import { maybeRef } from './input.js';

/** The store without `ack`: reads only. */
export function withoutAcks(store: ConfigStore): ConfigStore {
  const capabilities = { ...store.capabilities, appliedState: false };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'capabilities') return capabilities;
      if (prop === 'ack' || prop === 'listAcks') return undefined;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export interface Target {
  id: string;
  app: string;
  environment: string;
  /** The ref given, when the argument was one. */
  ref: ConfigRef | undefined;
}

/**
 * What to resolve: `<scope>/<id>` or a bare id, with `--app` (or the ref's `app:<name>` scope) and
 * `--environment`. Throws `CONSTRAINT_VIOLATION` when the app or the environment is missing.
 */
export function target(arg: string, app: string | undefined, environment: string | undefined): Target {
  const ref = maybeRef(arg);
  const id = ref ? ref.id : parseId(arg);
  const appName = app ?? (ref ? scopeApp(ref.scope) : undefined);
  if (appName === undefined) {
    throw errors.constraint(`resolving ${arg} needs --app <name> (or an app:<name>/<id> ref)`);
  }
  return { id, ...appEnvironment(appName, environment), ref };
}

/** `--app` and `--environment`, both required and checked. */
export function appEnvironment(
  app: string | undefined,
  environment: string | undefined,
): { app: string; environment: string } {
  if (app === undefined) throw errors.constraint('--app <name> is required here');
  if (environment === undefined) throw errors.constraint('--environment <name> is required here');
  parseId(app);
  if (app.includes('/')) throw errors.constraint('--app must be one segment');
  return { app, environment: parseEnvironmentName(environment) };
}

/** Environment definitions: the governance storage's, plus the agent configuration's for the app. */
export async function environmentsFor(session: Session, app: string): Promise<Environment[]> {
  const stored = await session.service.listEnvironments(session.actor);
  const out = new Map(stored.map((e) => [e.name, e]));
  for (const a of session.config.apps) {
    if (a.app !== app) continue;
    for (const def of a.definitions) if (!out.has(def.name)) out.set(def.name, def);
  }
  return [...out.values()];
}

/** A ready client for (app, environment); checks `config:read` on `global` and `app:<app>` first. */
export async function openClient(
  session: Session,
  t: { app: string; environment: string; id?: string },
  ids: readonly string[] = t.id === undefined ? [] : [t.id],
): Promise<ConfigClient> {
  const { rbac, actor, service } = session;
  rbac.check(actor, 'config:read', { scope: 'global' });
  rbac.check(actor, 'config:read', { scope: `app:${t.app}` });
  const environments = await environmentsFor(session, t.app);
  if (!environments.some((e) => e.name === t.environment)) {
    throw new ConfigError(
      'ENVIRONMENT_NOT_FOUND',
      `environment "${t.environment}" is not defined (known: ${environments.map((e) => e.name).join(', ') || 'none'}); create it with \`summit-config env create ${t.environment}\``,
    );
  }
  // The registry answers the client synchronously: load the schemas of the ids first.
  // (A role without schema:read resolves without schema defaults.)
  for (const id of ids) {
    await service.getSchema(actor, id).catch((error: unknown) => {
      if (!isConfigError(error, 'ACCESS_DENIED')) throw error;
    });
  }
  return createConfigClient({
    store: withoutAcks(session.store),
    app: t.app,
    environment: t.environment,
    environments,
    schemas: service.schemas,
    instance: `summit-config-cli-${process.pid}`,
  });
}
