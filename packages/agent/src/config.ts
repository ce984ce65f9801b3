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
import type { ConfigError, Environment } from '@summit-config/core';
import {
  errors,
  isPlainObject,
  parseEnvironmentName,
  parseId,
  validateEnvironments,
} from '@summit-config/core/internal';
import { validate as validateCron } from 'node-cron';
import { parse as parseYaml } from 'yaml';
import { isLoopbackHost, normaliseHostEntry } from './http-guard.js';

/** HTTP listener. */
export interface HttpConfig {
  /** Interface to bind. Default `127.0.0.1` (env `SUMMIT_AGENT_HOST`). */
  host: string;
  /** Port; 0 picks a free one (logged at start). Default 7070 (env `SUMMIT_AGENT_PORT`). */
  port: number;
  /** Bearer token required on `/v1/*` and `/metrics` when set. Default none (env `SUMMIT_AGENT_TOKEN`). */
  token: string | undefined;
  /** Longest long-poll wait a request may ask for, ms; longer asks are capped. Default 300000 (5 min). */
  maxWaitMs: number;
  /** Wait of a long-poll that gives `index` without `wait`, ms. Default 30000. */
  defaultWaitMs: number;
  /**
   * `Host` headers answered beside the loopback names (`localhost`, `127.0.0.1`, `[::1]`) and the
   * bind host, each with or without the bound port: `name` (no port or the bound port), `name:port`,
   * or `*` (any; behind a proxy that checks it). Any other `Host` is refused with 421, against DNS
   * rebinding. Default none (env `SUMMIT_AGENT_ALLOWED_HOSTS`, comma-separated).
   */
  allowedHosts?: string[] | undefined;
  /**
   * Listen on this Unix socket instead of `host:port` (file mode `socketMode`, default 0600; a stale
   * socket file is removed at start, the file at close). No `Host` check there: the file's
   * permissions guard it. Default none (env `SUMMIT_AGENT_SOCKET`).
   */
  socket?: { path: string; mode: number } | undefined;
}

export interface ConsulConfig {
  /** Consul's HTTP address (env `CONSUL_HTTP_ADDR`). Required when the section is present. */
  address: string;
  /** ACL token (env `CONSUL_HTTP_TOKEN`). Default none. */
  token: string | undefined;
  /** Key prefix shared by the store and the leader lock. Default `summit/` (env `SUMMIT_CONSUL_PREFIX`). */
  prefix: string;
  /** Timeout of one Consul request, ms. Default 5000. */
  timeoutMs: number;
  /** Versions kept per ref in Consul. Default 20. */
  historyLimit: number;
  /** TLS to an `https://` Consul (`stores.consul.tls` and Consul's CLI variables); undefined when none is set. */
  tls: ConsulTlsConfig | undefined;
}

/**
 * `stores.consul.tls`, each field overridden by the environment variable Consul's own CLI reads.
 * Files are PEM, read when the stores open; a TLS failure is `BACKEND_UNAVAILABLE` naming it.
 */
export interface ConsulTlsConfig {
  /** CA certificate(s) that sign Consul's certificate (env `CONSUL_CACERT`). Default Node's CAs. */
  caFile: string | undefined;
  /** Client certificate, for a Consul with `verify_incoming` (env `CONSUL_CLIENT_CERT`). Needs `keyFile`. */
  certFile: string | undefined;
  /** The client certificate's private key (env `CONSUL_CLIENT_KEY`). */
  keyFile: string | undefined;
  /** Name Consul's certificate must carry, when not the address's host (env `CONSUL_TLS_SERVER_NAME`). */
  serverName: string | undefined;
  /** Verify Consul's certificate. Default true (env `CONSUL_HTTP_SSL_VERIFY`); off only for local testing. */
  verify: boolean;
}

export interface PostgresConfig {
  /** Connection string (env `DATABASE_URL`). Required when the section is present. */
  url: string;
  /** Schema of the tables. Default `public` (env `SUMMIT_PG_SCHEMA`). */
  schema: string;
}

export interface EmbeddedConfig {
  /** PGlite data directory. Default `SUMMIT_DATA_DIR`, else `./.summit/data`. */
  dataDir: string;
}

export interface StoresConfig {
  consul: ConsulConfig | undefined;
  postgres: PostgresConfig | undefined;
  /**
   * The embedded PGlite tier. Used when no PostgreSQL is configured and either nothing else is
   * configured (the bare-machine default) or the section is given explicitly beside Consul.
   */
  embedded: EmbeddedConfig | undefined;
}

/** An application whose configuration the agent serves (and renders). */
export interface AppConfig {
  /** The app name: the agent reads the `global` and `app:<app>` scopes for it. */
  app: string;
  /** The environment served when a request does not name one. */
  environment: string;
  /**
   * Every environment served for this app (always including `environment`), with the parent
   * definitions needed for override chains.
   */
  environments: string[];
  /** Environment definitions (parents) passed to the clients. */
  definitions: Environment[];
}

export type RenderFormat = 'json' | 'yaml' | 'env';

/** A resolved config written to a file, with a reload command run after changes. */
export interface RenderConfig {
  app: string;
  /** The config id to render, e.g. `database`. */
  id: string;
  /** Default: the app's `environment`. */
  environment: string;
  /** Target file (absolute after loading). */
  path: string;
  /** Default: from the file extension (`.json`, `.yaml`/`.yml`, `.env`). */
  format: RenderFormat;
  /** Shell command (`/bin/sh -c`) run after a burst of changes. Default none. */
  reloadCommand: string | undefined;
  /** Quiet time after the last change before the reload runs, ms. Default 500. */
  debounceMs: number;
  /** Longest a reload command may run before it is killed, ms. Default 30000. */
  reloadTimeoutMs: number;
  /** File mode of the rendered file. Default 0o600. */
  mode: number;
  /** Prefix of every key in `env` format, e.g. `APP_`. Default none. */
  envPrefix: string;
}

export interface DriftConfig {
  /** Run drift detection on the leader. Default true. */
  enabled: boolean;
  /** Between drift runs, ms. Default 60000. */
  intervalMs: number;
  /** Versions an instance may be behind the head before it is reported as lagging. Default 0. */
  lagThreshold: number;
  /** A head younger than this (by its `createdAt`) is not held against lagging instances yet, ms. Default 60000. */
  lagGraceMs: number;
  /** Repair what can be repaired (rewrite Consul from the record, reconcile). Default false. */
  remediate: boolean;
  /** Refs checked at the same time. Default 16. */
  concurrency: number;
}

export interface ReconcileConfig {
  /** Between reconciliation runs on the leader, ms; 0 turns the loop off. Default 60000. */
  intervalMs: number;
}

/**
 * Governance jobs the leader runs through the change service (PostgreSQL or the embedded store
 * hold their state). Each interval is in ms; 0 turns that job off.
 */
export interface JobsConfig {
  /** Applies approved change requests whose `applyAt` has come, and expires stale ones. Default 30000. */
  scheduledAppliesMs: number;
  /** Steps canary/percentage rollouts behind their health gates. Default 60000. */
  rolloutStepsMs: number;
  /** Runs due secret rotations (local provider; needs SUMMIT_MASTER_KEY). Default 60000. */
  rotationsMs: number;
  /** Prometheus base URL for health gates that name none. Default none. */
  prometheusUrl: string | undefined;
}

export interface LeaderConfig {
  /** Lock name (key `<prefix>locks/<name>`). Default `summit-agent`. */
  name: string;
  /** Session TTL, ms (Consul: 10 s to 24 h). Default 15000. */
  ttlMs: number;
  /** Lock-delay after a leader's session is invalidated, ms (0 to 60 s). Default 15000. */
  lockDelayMs: number;
}

/** The validated configuration, every default filled in. */
export interface AgentConfig {
  /** This agent's instance name in acknowledgements and logs. Default `<hostname>-<pid>`. */
  instance: string;
  http: HttpConfig;
  stores: StoresConfig;
  apps: AppConfig[];
  render: RenderConfig[];
  drift: DriftConfig;
  reconcile: ReconcileConfig;
  leader: LeaderConfig;
  jobs: JobsConfig;
  /** Last-known-good snapshots of each served (app, environment). Default `SUMMIT_SNAPSHOT_DIR`, else `./.summit/snapshots`. */
  snapshotDir: string;
}

// ------------------------------------------------------------------ validation helpers

const fail = (path: string, detail: string): ConfigError => errors.constraint(`agent config: ${path} ${detail}`);

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return String(value);
  }
};

function object(value: unknown, path: string, known: readonly string[]): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw fail(path || 'the file', `must be a mapping, got ${show(value)}`);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw fail(path ? `${path}.${key}` : key, `is not a known field (known: ${known.join(', ')})`);
    }
  }
  return value;
}

function str(value: unknown, path: string, fallback?: string): string {
  const v = value ?? fallback;
  if (typeof v !== 'string' || v.length === 0) {
    throw fail(path, v === undefined ? 'is required' : `must be a non-empty string, got ${show(v)}`);
  }
  return v;
}

function optStr(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return str(value, path);
}

function int(value: unknown, path: string, fallback: number, min: number, max: number): number {
  let v = value ?? fallback;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) v = Number(v.trim());
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw fail(path, `must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return v;
}

function bool(value: unknown, path: string, fallback: boolean): boolean {
  const v = value ?? fallback;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (typeof v !== 'boolean') throw fail(path, `must be true or false, got ${show(value)}`);
  return v;
}

function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fail(path, `must be a list, got ${show(value)}`);
  return value;
}

/** Runs a core validator and re-throws its message under the field's name. */
function checked<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw fail(path, `is invalid: ${(error as Error).message}`);
  }
}

function appName(value: unknown, path: string): string {
  const name = str(value, path);
  checked(path, () => parseId(name));
  if (name.includes('/') || name.length > 128) throw fail(path, `must be one segment of at most 128 characters`);
  return name;
}

function envName(value: unknown, path: string): string {
  const name = str(value, path);
  return checked(path, () => parseEnvironmentName(name));
}

// ------------------------------------------------------------------ sections

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
] as const;

function httpSection(raw: unknown, env: NodeJS.ProcessEnv): HttpConfig {
  const o = object(raw, 'http', [
    'host',
    'port',
    'token',
    'maxWaitMs',
    'defaultWaitMs',
    'allowedHosts',
    'socket',
    'socketMode',
  ]);
  const host = str(env.SUMMIT_AGENT_HOST || o.host, 'http.host', '127.0.0.1');
  const port = int(env.SUMMIT_AGENT_PORT || o.port, 'http.port', 7070, 0, 65_535);
  const token = optStr(env.SUMMIT_AGENT_TOKEN || o.token, 'http.token');
  if (token !== undefined && /\s/.test(token)) throw fail('http.token', 'must not contain whitespace');
  const maxWaitMs = int(o.maxWaitMs, 'http.maxWaitMs', 300_000, 1000, 3_600_000);
  const defaultWaitMs = int(o.defaultWaitMs, 'http.defaultWaitMs', Math.min(30_000, maxWaitMs), 1, maxWaitMs);
  const rawHosts = env.SUMMIT_AGENT_ALLOWED_HOSTS
    ? env.SUMMIT_AGENT_ALLOWED_HOSTS.split(',').filter((h) => h.trim() !== '')
    : list(o.allowedHosts, 'http.allowedHosts');
  const allowedHosts = rawHosts.map((h, i) => {
    const entry = typeof h === 'string' ? normaliseHostEntry(h) : undefined;
    if (entry === undefined) {
      throw fail(
        `http.allowedHosts[${i}]`,
        `must be "*", a host name or [IPv6], optionally with :port; got ${show(h)}`,
      );
    }
    return entry;
  });
  const socketPath = optStr(env.SUMMIT_AGENT_SOCKET || o.socket, 'http.socket');
  let socket: HttpConfig['socket'];
  if (socketPath !== undefined) {
    let mode = 0o600;
    if (o.socketMode !== undefined) {
      mode =
        typeof o.socketMode === 'string' && /^0?o?[0-7]{3,4}$/.test(o.socketMode)
          ? Number.parseInt(o.socketMode.replace(/^0?o?/, ''), 8)
          : int(o.socketMode, 'http.socketMode', 0o600, 0, 0o777);
    }
    if ((mode & 0o600) !== 0o600) throw fail('http.socketMode', 'must let the owner read and write (like 0600)');
    socket = { path: resolve(socketPath), mode };
  } else if (o.socketMode !== undefined) {
    throw fail('http.socketMode', 'needs http.socket');
  }
  if (socket === undefined && token === undefined && !isLoopbackHost(host)) {
    throw fail(
      'http.host',
      `is ${show(host)}, not a loopback address, and no token is set: anyone who can reach it could read every configuration. Set http.token (SUMMIT_AGENT_TOKEN) or bind a loopback address (127.0.0.1)`,
    );
  }
  return {
    host,
    port,
    token,
    maxWaitMs,
    defaultWaitMs,
    ...(allowedHosts.length > 0 ? { allowedHosts } : {}),
    ...(socket ? { socket } : {}),
  };
}

/** `stores.consul.tls` with Consul's CLI variables over it; undefined when neither sets anything. */
function consulTls(raw: unknown, env: NodeJS.ProcessEnv, address: string): ConsulTlsConfig | undefined {
  const path = 'stores.consul.tls';
  const t = object(raw, path, ['caFile', 'certFile', 'keyFile', 'serverName', 'verify']);
  const tls: ConsulTlsConfig = {
    caFile: optStr(env.CONSUL_CACERT || t.caFile, `${path}.caFile`),
    certFile: optStr(env.CONSUL_CLIENT_CERT || t.certFile, `${path}.certFile`),
    keyFile: optStr(env.CONSUL_CLIENT_KEY || t.keyFile, `${path}.keyFile`),
    serverName: optStr(env.CONSUL_TLS_SERVER_NAME || t.serverName, `${path}.serverName`),
    verify: bool(env.CONSUL_HTTP_SSL_VERIFY || t.verify, `${path}.verify`, true),
  };
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw fail(
      `${path}.${tls.certFile ? 'keyFile' : 'certFile'}`,
      'is required with the other (a client certificate and its key)',
    );
  }
  if (raw !== undefined && raw !== null && !address.startsWith('https://')) {
    throw fail(path, `needs an https:// address, got ${show(address)}`);
  }
  const set = tls.caFile || tls.certFile || tls.serverName || !tls.verify;
  return set ? tls : undefined;
}

function storesSection(raw: unknown, env: NodeJS.ProcessEnv): StoresConfig {
  const o = object(raw, 'stores', ['consul', 'postgres', 'embedded']);
  let consul: ConsulConfig | undefined;
  if (o.consul !== undefined || env.CONSUL_HTTP_ADDR) {
    const c = object(o.consul, 'stores.consul', ['address', 'token', 'prefix', 'timeoutMs', 'historyLimit', 'tls']);
    const prefix = str(env.SUMMIT_CONSUL_PREFIX || c.prefix, 'stores.consul.prefix', 'summit/');
    if (!/^(?:[A-Za-z0-9_.:-]+\/)+$/.test(prefix) || /(^|\/)\.\.?\//.test(prefix)) {
      throw fail(
        'stores.consul.prefix',
        `must be path segments each ending in "/", like "summit/"; got ${show(prefix)}`,
      );
    }
    let address = str(env.CONSUL_HTTP_ADDR || c.address, 'stores.consul.address');
    if (!/^[a-z]+:\/\//i.test(address))
      address = `${bool(env.CONSUL_HTTP_SSL, 'CONSUL_HTTP_SSL', false) ? 'https' : 'http'}://${address}`;
    consul = {
      address,
      token: optStr(env.CONSUL_HTTP_TOKEN || c.token, 'stores.consul.token'),
      prefix,
      timeoutMs: int(c.timeoutMs, 'stores.consul.timeoutMs', 5000, 1, 600_000),
      historyLimit: int(c.historyLimit, 'stores.consul.historyLimit', 20, 1, 100_000),
      tls: consulTls(c.tls, env, address),
    };
  }
  let postgres: PostgresConfig | undefined;
  if (o.postgres !== undefined || env.DATABASE_URL) {
    const p = object(o.postgres, 'stores.postgres', ['url', 'schema']);
    const url = str(env.DATABASE_URL || p.url, 'stores.postgres.url');
    if (!/^postgres(ql)?:\/\//.test(url)) throw fail('stores.postgres.url', 'must be a postgres:// URL');
    const schema = str(env.SUMMIT_PG_SCHEMA || p.schema, 'stores.postgres.schema', 'public');
    if (Buffer.byteLength(schema) > 63 || schema.includes('\u0000')) {
      throw fail('stores.postgres.schema', 'must be at most 63 bytes without NUL');
    }
    postgres = { url, schema };
  }
  let embedded: EmbeddedConfig | undefined;
  if (!postgres && (o.embedded !== undefined || !consul)) {
    const e = object(o.embedded, 'stores.embedded', ['dataDir']);
    embedded = { dataDir: resolve(str(env.SUMMIT_DATA_DIR || e.dataDir, 'stores.embedded.dataDir', './.summit/data')) };
  }
  return { consul, postgres, embedded };
}

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
}

function appsSection(raw: unknown): RawApp[] {
  const out: RawApp[] = [];
  list(raw, 'apps').forEach((item, i) => {
    const path = `apps[${i}]`;
    const a = object(item, path, ['app', 'environment', 'environments']);
    const app = appName(a.app, `${path}.app`);
    if (out.some((x) => x.app === app)) throw fail(`${path}.app`, `"${app}" is listed twice`);
    const environment = envName(a.environment, `${path}.environment`);
    const entries = list(a.environments, `${path}.environments`).map((e, j) =>
      environmentEntry(e, `${path}.environments[${j}]`),
    );
    out.push({ app, environment, entries, path });
  });
  return out;
}

function buildApp({ app, environment, entries, path }: RawApp): AppConfig {
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
  return { app, environment, environments: [...served], definitions: list };
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
  const o = object(raw, 'jobs', ['scheduledAppliesMs', 'rolloutStepsMs', 'rotationsMs', 'prometheusUrl']);
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
    if (!app) rawApps.push({ app: r.app, environment: r.environment, entries: [], path: `render (app ${r.app})` });
    else app.entries.push(r.environment);
  }
  const apps = rawApps.map(buildApp);
  const config: AgentConfig = {
    instance,
    http: httpSection(o.http, env),
    stores: storesSection(o.stores, env),
    apps,
    render,
    drift: driftSection(o.drift),
    reconcile: reconcileSection(o.reconcile),
    leader: leaderSection(o.leader),
    jobs: jobsSection(o.jobs),
    snapshotDir: resolve(str(env.SUMMIT_SNAPSHOT_DIR || o.snapshotDir, 'snapshotDir', './.summit/snapshots')),
  };
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
