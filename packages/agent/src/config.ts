/**
 * The agent's configuration: a YAML file plus environment variables, validated eagerly. Every
 * problem is a `CONSTRAINT_VIOLATION` ConfigError whose message names the bad field
 * (`agent config: drift.intervalMs must be ...`); an unknown field is an error too, so a typo never
 * silently falls back to a default.
 *
 * Environment variables win over the file (twelve-factor): `CONSUL_HTTP_ADDR` and `DATABASE_URL`
 * switch on the Consul and PostgreSQL tiers even when the file does not mention them.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { extname, resolve } from 'node:path';
import type { Environment } from '@summit-config/core';
import { errors, parseId, validateEnvironments } from '@summit-config/core/internal';
import { validate as validateCron } from 'node-cron';
import { parse as parseYaml } from 'yaml';
import { appName, bool, checked, envName, fail, int, list, object, optStr, show, str } from './config-fields.js';
import { checkResolvingApps, secretsMode } from './config-resolve.js';
import { secretsSection } from './config-secrets.js';
import { serverSection } from './config-server.js';
import { httpSection, storesSection } from './config-stores.js';
import { trustSection } from './config-trust.js';
import type {
  AgentConfig,
  AppConfig,
  AppSecretsMode,
  DriftConfig,
  JobsConfig,
  LeaderConfig,
  ReconcileConfig,
  RenderConfig,
  RenderFormat,
} from './config-types.js';
import { gitopsSection } from './gitops/sync-config.js';
import { notificationsSection } from './notifications/config.js';

export type { SecretProviderConfig, SecretsConfig } from './config-secrets.js';
export type { TrustConfig } from './config-trust.js';
export type {
  AgentConfig,
  AppConfig,
  AppSecretsMode,
  ConsulConfig,
  ConsulTlsConfig,
  DriftConfig,
  EmbeddedConfig,
  HttpConfig,
  JobsConfig,
  LeaderConfig,
  PostgresConfig,
  ReconcileConfig,
  RenderConfig,
  RenderFormat,
  StoresConfig,
} from './config-types.js';

const TOP = [
  'instance',
  'http',
  'stores',
  'apps',
  'render',
  'drift',
  'reconcile',
  'leader',
  'jobs',
  'snapshotDir',
  'trust',
  'server',
  'secrets',
  'notifications',
  'gitops',
] as const;

function environmentEntry(value: unknown, path: string): Environment | string {
  if (typeof value === 'string') return envName(value, path);
  const e = object(value, path, ['name', 'parent', 'production']);
  const name = envName(e.name, `${path}.name`);
  const parent = e.parent === undefined ? undefined : envName(e.parent, `${path}.parent`);
  return { name, ...(parent ? { parent } : {}), production: bool(e.production, `${path}.production`, false) };
}

interface RawApp {
  app: string;
  environment: string;
  entries: Array<Environment | string>;
  path: string;
  secrets: AppSecretsMode;
}

function appsSection(raw: unknown): RawApp[] {
  const out: RawApp[] = [];
  list(raw, 'apps').forEach((item, i) => {
    const path = `apps[${i}]`;
    const a = object(item, path, ['app', 'environment', 'environments', 'secrets']);
    const app = appName(a.app, `${path}.app`);
    if (out.some((x) => x.app === app)) throw fail(`${path}.app`, `"${app}" is listed twice`);
    const environment = envName(a.environment, `${path}.environment`);
    const entries = list(a.environments, `${path}.environments`).map((e, j) =>
      environmentEntry(e, `${path}.environments[${j}]`),
    );
    out.push({ app, environment, entries, path, secrets: secretsMode(a.secrets, `${path}.secrets`) });
  });
  return out;
}

function buildApp({ app, environment, entries, path, secrets }: RawApp): AppConfig {
  const definitions = new Map<string, Environment>();
  const served = new Set<string>([environment]);
  for (const e of entries) {
    if (typeof e === 'string') served.add(e);
    else {
      if (definitions.has(e.name)) throw fail(`${path}.environments`, `defines "${e.name}" twice`);
      definitions.set(e.name, e);
      served.add(e.name);
    }
  }
  for (const name of served) if (!definitions.has(name)) definitions.set(name, { name, production: false });
  // Parents named but not defined are plain roots.
  for (const def of [...definitions.values()]) {
    if (def.parent !== undefined && !definitions.has(def.parent)) {
      definitions.set(def.parent, { name: def.parent, production: false });
    }
  }
  const list = [...definitions.values()];
  checked(`${path}.environments`, () => validateEnvironments(list));
  return { app, environment, environments: [...served], definitions: list, secrets };
}

function renderSection(raw: unknown, apps: RawApp[]): RenderConfig[] {
  const out: RenderConfig[] = [];
  const paths = new Set<string>();
  list(raw, 'render').forEach((item, i) => {
    const path = `render[${i}]`;
    const r = object(item, path, [
      'app',
      'id',
      'environment',
      'path',
      'format',
      'reloadCommand',
      'debounceMs',
      'reloadTimeoutMs',
      'mode',
      'envPrefix',
    ]);
    const app = appName(r.app, `${path}.app`);
    const id = str(r.id, `${path}.id`);
    checked(`${path}.id`, () => parseId(id));
    const served = apps.find((a) => a.app === app);
    const environment =
      r.environment === undefined ? served?.environment : envName(r.environment, `${path}.environment`);
    if (environment === undefined) {
      throw fail(`${path}.environment`, `is required when app "${app}" is not listed under apps`);
    }
    const file = resolve(str(r.path, `${path}.path`));
    if (paths.has(file)) throw fail(`${path}.path`, `${show(file)} is rendered twice`);
    paths.add(file);
    const ext = extname(file).toLowerCase();
    const inferred: RenderFormat | undefined =
      ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : ext === '.env' ? 'env' : undefined;
    const format = r.format ?? inferred;
    if (format !== 'json' && format !== 'yaml' && format !== 'env') {
      throw fail(
        `${path}.format`,
        r.format === undefined
          ? `is required: the extension of ${show(file)} does not say (json, yaml or env)`
          : `must be json, yaml or env, got ${show(r.format)}`,
      );
    }
    let mode = 0o600;
    if (r.mode !== undefined) {
      mode =
        typeof r.mode === 'string' && /^0?o?[0-7]{3,4}$/.test(r.mode)
          ? Number.parseInt(r.mode.replace(/^0?o?/, ''), 8)
          : int(r.mode, `${path}.mode`, 0o600, 0, 0o7777);
    }
    const envPrefix = r.envPrefix === undefined ? '' : str(r.envPrefix, `${path}.envPrefix`);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(envPrefix) && envPrefix !== '') {
      throw fail(`${path}.envPrefix`, `must be letters, digits and "_", not starting with a digit`);
    }
    out.push({
      app,
      id,
      environment,
      path: file,
      format,
      reloadCommand: optStr(r.reloadCommand, `${path}.reloadCommand`),
      debounceMs: int(r.debounceMs, `${path}.debounceMs`, 500, 0, 3_600_000),
      reloadTimeoutMs: int(r.reloadTimeoutMs, `${path}.reloadTimeoutMs`, 30_000, 1, 3_600_000),
      mode,
      envPrefix,
    });
  });
  return out;
}

function driftSection(raw: unknown): DriftConfig {
  const o = object(raw, 'drift', ['enabled', 'intervalMs', 'lagThreshold', 'lagGraceMs', 'remediate', 'concurrency']);
  return {
    enabled: bool(o.enabled, 'drift.enabled', true),
    intervalMs: int(o.intervalMs, 'drift.intervalMs', 60_000, 100, 86_400_000),
    lagThreshold: int(o.lagThreshold, 'drift.lagThreshold', 0, 0, 1_000_000),
    lagGraceMs: int(o.lagGraceMs, 'drift.lagGraceMs', 60_000, 0, 86_400_000),
    remediate: bool(o.remediate, 'drift.remediate', false),
    concurrency: int(o.concurrency, 'drift.concurrency', 16, 1, 256),
  };
}

function reconcileSection(raw: unknown): ReconcileConfig {
  const o = object(raw, 'reconcile', ['intervalMs']);
  const intervalMs = int(o.intervalMs, 'reconcile.intervalMs', 60_000, 0, 86_400_000);
  if (intervalMs !== 0 && intervalMs < 100) throw fail('reconcile.intervalMs', 'must be 0 (off) or at least 100');
  return { intervalMs };
}

function jobsSection(raw: unknown): JobsConfig {
  const o = object(raw, 'jobs', [
    'scheduledAppliesMs',
    'rolloutStepsMs',
    'rotationsMs',
    'prometheusUrl',
    'auditCheckpointsMs',
  ]);
  const interval = (value: unknown, name: string, fallback: number) => {
    const ms = int(value, `jobs.${name}`, fallback, 0, 86_400_000);
    if (ms !== 0 && ms < 100) throw fail(`jobs.${name}`, 'must be 0 (off) or at least 100');
    return ms;
  };
  const prometheusUrl = o.prometheusUrl === undefined ? undefined : str(o.prometheusUrl, 'jobs.prometheusUrl');
  if (prometheusUrl !== undefined && !/^https?:\/\//.test(prometheusUrl)) {
    throw fail('jobs.prometheusUrl', `must be an http(s) URL, got ${show(prometheusUrl)}`);
  }
  return {
    scheduledAppliesMs: interval(o.scheduledAppliesMs, 'scheduledAppliesMs', 30_000),
    rolloutStepsMs: interval(o.rolloutStepsMs, 'rolloutStepsMs', 60_000),
    rotationsMs: interval(o.rotationsMs, 'rotationsMs', 60_000),
    prometheusUrl,
    auditCheckpointsMs: interval(o.auditCheckpointsMs, 'auditCheckpointsMs', 300_000),
  };
}

function leaderSection(raw: unknown): LeaderConfig {
  const o = object(raw, 'leader', ['name', 'ttlMs', 'lockDelayMs']);
  const name = str(o.name, 'leader.name', 'summit-agent');
  if (!/^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/.test(name) || /(^|\/)\.\.?(\/|$)/.test(name)) {
    throw fail('leader.name', `must be path segments of [A-Za-z0-9_.-], got ${show(name)}`);
  }
  return {
    name,
    ttlMs: int(o.ttlMs, 'leader.ttlMs', 15_000, 10_000, 86_400_000),
    lockDelayMs: int(o.lockDelayMs, 'leader.lockDelayMs', 15_000, 0, 60_000),
  };
}

/**
 * Validates a parsed configuration object (the YAML document) together with the environment
 * variables, and fills in every default. Throws `CONSTRAINT_VIOLATION` naming the bad field.
 */
export function resolveAgentConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const o = object(raw, '', TOP);
  const instance = str(o.instance, 'instance', `${hostname()}-${process.pid}`);
  if (!/^[A-Za-z0-9_.:@-]{1,256}$/.test(instance)) {
    throw fail('instance', `must be 1-256 characters of letters, digits, "_", ".", ":", "@" and "-"`);
  }
  const rawApps = appsSection(o.apps);
  const render = renderSection(o.render, rawApps);
  // A rendered (app, environment) is served too.
  for (const r of render) {
    const app = rawApps.find((a) => a.app === r.app);
    if (!app) {
      rawApps.push({
        app: r.app,
        environment: r.environment,
        entries: [],
        path: `render (app ${r.app})`,
        secrets: 'refs',
      });
    } else app.entries.push(r.environment);
  }
  const apps = rawApps.map(buildApp);
  const stores = storesSection(o.stores, env);
  const config: AgentConfig = {
    instance,
    http: httpSection(o.http, env),
    stores,
    apps,
    render,
    drift: driftSection(o.drift),
    reconcile: reconcileSection(o.reconcile),
    leader: leaderSection(o.leader),
    jobs: jobsSection(o.jobs),
    snapshotDir: resolve(str(env.SUMMIT_SNAPSHOT_DIR || o.snapshotDir, 'snapshotDir', './.summit/snapshots')),
    trust: trustSection(o.trust, env, stores.embedded),
    server: serverSection(o.server, env, stores.embedded),
    secrets: secretsSection(o.secrets, env),
    notifications: notificationsSection(o.notifications, env),
    gitops: gitopsSection(o.gitops, env),
  };
  checkResolvingApps(config, rawApps);
  return config;
}

/** Parses YAML text and validates it; `source` names the file in messages. */
export function parseAgentConfig(text: string, env: NodeJS.ProcessEnv = process.env, source = 'config'): AgentConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    throw errors.constraint(`agent config: ${source} is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return resolveAgentConfig(raw ?? {}, env);
}

/**
 * Loads the configuration: the YAML file when given (`NOT_FOUND` when it does not exist), else
 * defaults and environment variables only.
 */
export async function loadAgentConfig(file?: string, env: NodeJS.ProcessEnv = process.env): Promise<AgentConfig> {
  if (file === undefined) return resolveAgentConfig({}, env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw errors.notFound(`agent config: file ${file} does not exist`, { cause: error });
    }
    throw errors.constraint(`agent config: cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseAgentConfig(text, env, file);
}

/** Checks a leader job schedule: an interval in ms (>= 10) or a cron expression. */
export function checkSchedule(schedule: unknown, what: string): number | string {
  if (typeof schedule === 'number') {
    if (!Number.isSafeInteger(schedule) || schedule < 10) {
      throw errors.constraint(`${what}: an interval must be an integer of at least 10 ms, got ${schedule}`);
    }
    return schedule;
  }
  if (typeof schedule === 'string' && validateCron(schedule)) return schedule;
  throw errors.constraint(`${what}: schedule must be an interval in ms or a cron expression, got ${show(schedule)}`);
}
