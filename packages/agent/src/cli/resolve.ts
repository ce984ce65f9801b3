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
  createConfigClient,
  type Environment,
  isConfigError,
  type JsonValue,
} from '@summit-config/core';
import { errors, parseEnvironmentName, parseId, scopeApp, withoutAcks } from '@summit-config/core/internal';
import type { Session } from './context.js';
import { contextOf, maybeRef } from './input.js';

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
  // Through a server, the environments it stores are all there is (no local agent configuration).
  for (const a of session.remote ? [] : session.config.apps) {
    if (a.app !== app) continue;
    for (const def of a.definitions) if (!out.has(def.name)) out.set(def.name, def);
  }
  return [...out.values()];
}

function assertEnvironment(environments: readonly Environment[], name: string): void {
  if (!environments.some((e) => e.name === name)) {
    throw new ConfigError(
      'ENVIRONMENT_NOT_FOUND',
      `environment "${name}" is not defined (known: ${environments.map((e) => e.name).join(', ') || 'none'}); create it with \`summit-config env create ${name}\``,
    );
  }
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
  assertEnvironment(environments, t.environment);
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

/** What `get --environment` and `explain` read: the client's resolution, here or on the config server. */
export interface Resolver {
  resolve(id: string): Promise<ReturnType<ConfigClient['resolve']>>;
  explain(id: string): Promise<ReturnType<ConfigClient['explain']>>;
  close(): Promise<void>;
}

/**
 * A resolver for `t` with the `--context` pairs: a client over the session's store, or in remote
 * mode the server's `/api/v1/resolved` route (which resolves with the same client code there).
 */
export async function openResolver(session: Session, t: Target, pairs: readonly string[]): Promise<Resolver> {
  const context: Record<string, JsonValue> = contextOf(pairs);
  const { remote } = session;
  if (remote) {
    // The server resolves with the environments it stores; the same check as here, first.
    assertEnvironment(await session.service.listEnvironments(session.actor), t.environment);
    type Answer = { value: unknown; details: Record<string, unknown>; explain?: Record<string, unknown> };
    const fetchAnswer = (id: string) =>
      remote.api.request<Answer>(
        'GET',
        `/api/v1/resolved/${encodeURIComponent(t.app)}/${encodeURIComponent(t.environment)}/${id.split('/').map(encodeURIComponent).join('/')}`,
        { query: { explain: true, context: pairs } },
      );
    // One request answers both: `explain` right after `resolve` of the same id uses its answer.
    let last: { id: string; answer: Answer } | undefined;
    return {
      async resolve(id) {
        const answer = await fetchAnswer(id);
        last = { id, answer };
        return { ...answer.details, value: answer.value } as unknown as ReturnType<ConfigClient['resolve']>;
      },
      async explain(id) {
        const answer = last?.id === id ? last.answer : await fetchAnswer(id);
        last = undefined;
        return answer.explain as ReturnType<ConfigClient['explain']>;
      },
      close: async () => {},
    };
  }
  const client = await openClient(session, t);
  return {
    resolve: async (id) => client.resolve(id, context),
    explain: async (id) => client.explain(id, context),
    close: () => client.close(),
  };
}
