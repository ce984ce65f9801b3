/** The `http` and `stores` sections of the agent configuration, with their environment variables. */
import { resolve } from 'node:path';
import { bool, fail, int, list, object, optStr, show, str } from './config-fields.js';
import type {
  ConsulConfig,
  ConsulTlsConfig,
  EmbeddedConfig,
  HttpConfig,
  PostgresConfig,
  StoresConfig,
} from './config-types.js';
import { isLoopbackHost, normaliseHostEntry } from './http-guard.js';

export function httpSection(raw: unknown, env: NodeJS.ProcessEnv): HttpConfig {
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

export function storesSection(raw: unknown, env: NodeJS.ProcessEnv): StoresConfig {
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
