/**
 * `serveConfigServer(runtime, server)`: the config server (`@summit-config/server`) over a runtime,
 * listening. `summit-config server` runs it alone; the agent runs it beside itself when its
 * configuration has a `server` section (the main job does, over the embedded store).
 *
 * - RBAC: `server.rbacFile`; on the embedded default the built-in roles plus `embedded-admin`
 *   (`import`, `policy:write`, `token:read`, `token:manage`), since tokens carry their roles.
 * - Authentication: API tokens in `server_tokens` beside the store's tables (shared by every replica
 *   on the same database), and OIDC bearer tokens when `server.oidc` is set.
 * - The admin token: when `server.adminTokenFile` is set and the file does not exist yet, a token
 *   (`config-admin`, `secrets-admin`, `embedded-admin`) is created for the OS user and written to the
 *   file with mode 0600, once. Deleting the file does not revoke the token; `token revoke` does.
 * - On the embedded default, `server.json` beside the data directory names the URL and the token
 *   file while the server runs, so a CLI that finds the directory busy goes through the server.
 */
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createRbac, loadRbacFile, type Rbac } from '@summit-config/core';
import { createOwnerOnlyFile, errors, readOwnerOnlyFile } from '@summit-config/core/internal';
import type {
  DriftSource,
  GitopsSource,
  GitopsWebhookOptions,
  LeaderSource,
  ServerSecretsOptions,
} from '@summit-config/server';
import { keyedProviders } from './config-secrets.js';
import type { ServerConfig } from './config-server.js';
import type { AgentConfig } from './config-types.js';
import { readConsulLeader } from './leader.js';
import type { AgentStores } from './runtime.js';
import { createProviderRotation } from './secret-rotation.js';
import type { AgentLogger } from './util.js';

/** The embedded default's extra role: restore backups, write policies, administer API tokens. */
export const EMBEDDED_ADMIN_ROLE = 'embedded-admin';
export const EMBEDDED_ADMIN_GRANTS = ['import', 'policy:write', 'token:read', 'token:manage'];
/** The roles of the admin token. */
export const ADMIN_TOKEN_ROLES = ['config-admin', 'secrets-admin', EMBEDDED_ADMIN_ROLE];
/** The file beside the embedded data directory that names a running server (`ServerDiscovery`). */
export const SERVER_DISCOVERY_FILE = 'server.json';

/** What `server.json` holds. */
export interface ServerDiscovery {
  url: string;
  pid: number;
  adminTokenFile?: string;
}

export interface ServingServer {
  /** `http(s)://host:port` as bound. */
  readonly url: string;
  /** True when this start created the admin token (and wrote its file). */
  readonly adminTokenCreated: boolean;
  close(): Promise<void>;
}

/** The RBAC the server checks: the file's, or on the embedded default the built-in roles and `embedded-admin`. */
export async function serverRbac(server: ServerConfig, embedded: boolean): Promise<Rbac> {
  if (server.rbacFile) return loadRbacFile(server.rbacFile);
  if (embedded) return createRbac({ roles: { [EMBEDDED_ADMIN_ROLE]: EMBEDDED_ADMIN_GRANTS } });
  throw errors.constraint(
    'agent config: server.rbacFile (env SUMMIT_RBAC_FILE) is required with Consul or PostgreSQL: the roles tokens and OIDC users hold are defined there',
  );
}

/**
 * The server the main job runs beside the embedded directory `dataDir`, when `server.json` names a
 * live process and an admin token file this user can read (mode 0600); undefined otherwise.
 */
export function runningServer(dataDir: string): { url: string; adminTokenFile: string } | undefined {
  try {
    const found = JSON.parse(readFileSync(discoveryFileOf(dataDir), 'utf8')) as Partial<ServerDiscovery>;
    if (typeof found.url !== 'string' || typeof found.pid !== 'number' || typeof found.adminTokenFile !== 'string') {
      return undefined;
    }
    process.kill(found.pid, 0);
    readOwnerOnlyFile(found.adminTokenFile, 'the admin token file');
    return { url: found.url, adminTokenFile: found.adminTokenFile };
  } catch {
    return undefined;
  }
}

/** The discovery file's path for a data directory. */
export function discoveryFileOf(dataDir: string): string {
  return join(dirname(dataDir), SERVER_DISCOVERY_FILE);
}

export async function serveConfigServer(options: {
  /** The stores (the agent's or a runtime of its own): the chain, governance, SQL and service. */
  runtime: AgentStores;
  /** The agent configuration (which stores are configured). */
  config: AgentConfig;
  server: ServerConfig;
  /** The OS user the admin token acts as. */
  owner: string;
  /** The latest drift report (the agent's last run); without it `/api/v1/drift` answers 501. */
  drift?: DriftSource;
  /**
   * Who leads, when the stores have no Consul (an embedded agent leads itself); with Consul the
   * holder of the agents' leader lock is read from Consul.
   */
  localLeader?: LeaderSource;
  /** The gitops sync loop's status (`gitops` in `/api/v1/status`); without it the status has no `gitops`. */
  gitops?: GitopsSource;
  /** The gitops push webhook (`POST /api/v1/gitops/webhook`): the agent passes it when `gitops.webhookSecretEnv` is set. */
  gitopsWebhook?: GitopsWebhookOptions;
  /** Environment variables: the local secret provider's master key (`SUMMIT_MASTER_KEY`). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger?: AgentLogger;
}): Promise<ServingServer> {
  const { runtime, server, logger } = options;
  const {
    createConfigServer,
    createOidcAuthenticator,
    createSqlSessionStore,
    createSqlTokenStore,
    createTokenAuthenticator,
  } = await import('@summit-config/server');
  if (!runtime.secretSql || !runtime.service) {
    throw errors.constraint('the config server needs PostgreSQL or the embedded store (its API tokens live there)');
  }
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of closers.splice(0)) await c().catch(() => {});
  };
  try {
    const { consul, postgres, embedded } = options.config.stores;
    const rbac = await serverRbac(server, !consul && !postgres);
    const sql = await runtime.secretSql();
    closers.unshift(() => sql.close());
    const tokens = createSqlTokenStore({ sql: sql.sql, schema: sql.schema, kind: sql.kind });
    closers.unshift(() => tokens.close());
    // The console's sessions beside the tokens: every replica on the same database shares them.
    const sessions = createSqlSessionStore({ sql: sql.sql, schema: sql.schema });
    const authenticators = [createTokenAuthenticator(tokens)];
    if (server.oidc) {
      // Without a JWKS URL or file, the issuer's discovery document names it.
      const { login: _login, ...oidc } = server.oidc;
      const discovery = oidc.jwksUri === undefined && oidc.jwksFile === undefined;
      authenticators.push(createOidcAuthenticator({ ...oidc, ...(discovery ? { discovery: true } : {}) }));
    }
    const service = runtime.service(rbac, { source: 'api' });
    const secrets = await providerSecrets(runtime, options.config, options.env ?? process.env, closers);
    let tls: { cert: Buffer; key: Buffer } | undefined;
    if (server.tls) {
      tls = {
        cert: readCertificate(server.tls.certFile),
        key: readOwnerOnlyFile(server.tls.keyFile, 'the server TLS key file'),
      };
    }
    const adminTokenCreated = server.adminTokenFile
      ? await ensureAdminToken(tokens, server.adminTokenFile, options.owner)
      : false;
    const app = createConfigServer({
      service,
      store: runtime.store,
      authenticators,
      tokens,
      rbac,
      console: { sessions },
      // The console's sign-in at the same provider: its access tokens go through the authenticator above.
      ...(server.oidc?.login ? { oidcLogin: { issuer: server.oidc.issuer, ...server.oidc.login } } : {}),
      ...(secrets ? { secrets } : {}),
      ...(options.drift ? { drift: options.drift } : {}),
      ...leaderOption(options.config, options.localLeader),
      ...(options.gitops ? { gitops: options.gitops } : {}),
      ...(options.gitopsWebhook ? { gitopsWebhook: options.gitopsWebhook } : {}),
      allowedHosts: ['localhost', '127.0.0.1', '::1', server.host, ...server.allowedHosts],
      ...(server.bodyLimit !== undefined ? { bodyLimit: server.bodyLimit } : {}),
      ...(server.requestTimeoutMs !== undefined ? { requestTimeoutMs: server.requestTimeoutMs } : {}),
      ...(server.rateLimitPerSecond === 0
        ? { rateLimit: false as const }
        : server.rateLimitPerSecond !== undefined
          ? { rateLimit: { perSecond: server.rateLimitPerSecond, burst: server.rateLimitPerSecond * 2 } }
          : {}),
      ...(tls ? { tls } : {}),
    });
    closers.unshift(() => app.close());
    await app.listen({ host: server.host, port: server.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : server.port;
    const host = server.host.includes(':') ? `[${server.host}]` : server.host;
    const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
    const dataDir = embedded?.dataDir;
    if (dataDir && !postgres && !consul) {
      const file = discoveryFileOf(dataDir);
      const discovery: ServerDiscovery = {
        url,
        pid: process.pid,
        ...(server.adminTokenFile ? { adminTokenFile: server.adminTokenFile } : {}),
      };
      await writeFile(file, `${JSON.stringify(discovery)}\n`, { mode: 0o600 });
      closers.unshift(() => rm(file, { force: true }));
    }
    logger?.info?.(
      { url, adminTokenFile: server.adminTokenFile, adminTokenCreated, oidc: server.oidc?.issuer },
      'config server listening',
    );
    return { url, adminTokenCreated, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The permissions of the server's own actor, which runs rotations started over the API. */
const SERVER_ROTATION_ROLE = ['config:read', 'config:list', 'config:write', 'secrets:*', 'rotation:*'];

/**
 * Every provider of the agent config's `secrets` section (local among them when a master key is
 * set) and their rotations, served as metadata (never values): `local` (else the first) answers
 * requests without `?provider=`. Undefined when none is configured (the secrets routes then answer 501).
 */
async function providerSecrets(
  runtime: AgentStores,
  config: AgentConfig,
  env: NodeJS.ProcessEnv,
  closers: Array<() => Promise<unknown>>,
): Promise<ServerSecretsOptions | undefined> {
  const secrets = keyedProviders(config.secrets, env);
  if (secrets.providers.length === 0 || !runtime.secretSql || !runtime.governance) return undefined;
  const actor = { id: `summit-server:${hostname()}`, roles: ['summit-server'] };
  const rbac = createRbac({ roles: { 'summit-server': SERVER_ROTATION_ROLE } });
  const service = (runtime.service as NonNullable<AgentStores['service']>)(rbac, { source: 'api' });
  const built = await createProviderRotation({
    config: secrets,
    handle: await runtime.secretSql(),
    migrator: runtime.governance,
    service,
    store: runtime.store,
    rbac,
    actor,
    env,
  });
  closers.unshift(() => built.close());
  const all = [...built.providers.providers.values()];
  const first = all.find((p) => p.name === 'local') ?? (all[0] as (typeof all)[number]);
  return {
    provider: first,
    providers: all.filter((p) => p !== first),
    rotation: built.rotation,
    listNames: () => built.listNames(first.name),
  };
}

/** A certificate is public: any mode will do, but it must be readable. */
function readCertificate(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw errors.constraint(
      `cannot read the server TLS certificate file ${JSON.stringify(file)}: ${(error as Error).message}`,
    );
  }
}

/**
 * Creates the admin token when `file` does not exist: the token first, then the file (exclusively);
 * when another process created the file meanwhile, this token is revoked and theirs stands.
 */
async function ensureAdminToken(
  tokens: import('@summit-config/server').TokenStore,
  file: string,
  owner: string,
): Promise<boolean> {
  try {
    readOwnerOnlyFile(file, 'the admin token file');
    return false;
  } catch (error) {
    if ((error as { code?: string }).code !== 'NOT_FOUND') throw error;
  }
  const created = await tokens.create({ name: 'admin (generated on first start)', owner, roles: ADMIN_TOKEN_ROLES });
  if (await createOwnerOnlyFile(file, `${created.token}\n`)) return true;
  await tokens.revoke(created.record.id, owner);
  return false;
}

/** The server's `leader` option: the Consul lock's holder, or the embedded agent itself. */
function leaderOption(config: AgentConfig, local: LeaderSource | undefined): { leader?: LeaderSource } {
  const { consul } = config.stores;
  if (consul) return { leader: () => readConsulLeader(consul, config.leader) };
  return local ? { leader: local } : {};
}
