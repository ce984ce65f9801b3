/** The agent configuration's types (validated by config.ts). */
import type { Environment } from '@summit-config/core';
import type { SecretsConfig } from './config-secrets.js';
import type { ServerConfig } from './config-server.js';
import type { TrustConfig } from './config-trust.js';
import type { GitopsConfig } from './gitops/sync-config.js';
import type { NotificationsConfig } from './notifications/config.js';

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
  /**
   * `refs` (default): `{"$secret": ...}` references are served as they are stored. `resolve`: the
   * agent resolves them (docs/agent-secrets.md); its values then need a token or the Unix socket,
   * are served `Cache-Control: no-store`, rendered mode 0600, and never shown by explain.
   */
  secrets: AppSecretsMode;
}

/** How an app's secret references are served: as references, or resolved to their values. */
export type AppSecretsMode = 'refs' | 'resolve';

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
  /** Verifies the audit trail and writes a signed checkpoint to every anchor (needs a signing key). Default 300000. */
  auditCheckpointsMs: number;
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
  /** Signing and verification keys, audit checkpoints (`config-trust.ts`). */
  trust: TrustConfig;
  /**
   * The config server served beside the agent in the same process (`config-server.ts`); undefined
   * when the file has no `server` section.
   */
  server: ServerConfig | undefined;
  /** Secret providers by name and the rotation job's schedule (`config-secrets.ts`). */
  secrets: SecretsConfig;
  /** Outbound webhooks fed from the audit trail (`notifications/config.ts`, docs/notifications.md). Default none. */
  notifications: NotificationsConfig;
  /** The gitops sync loop (`gitops/sync-config.ts`, docs/gitops.md); undefined when the file has no `gitops` section. */
  gitops: GitopsConfig | undefined;
}
