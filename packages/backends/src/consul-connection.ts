/**
 * How to reach Consul: the connection options the store, sessions and the leader lock share, and
 * their validation into a resolved connection (address, `/v1` base URL, token, datacenter, TLS,
 * request timeout). Defaults come from the environment, named as Consul's own CLI names them:
 * `CONSUL_HTTP_ADDR` (`https://` for TLS; a bare `host:port` is https with `CONSUL_HTTP_SSL=true`),
 * `CONSUL_HTTP_TOKEN`, and for TLS `CONSUL_CACERT`, `CONSUL_CLIENT_CERT`, `CONSUL_CLIENT_KEY` (PEM
 * files), `CONSUL_TLS_SERVER_NAME` and `CONSUL_HTTP_SSL_VERIFY=false`.
 */
import { readFileSync } from 'node:fs';
import { errors } from '@summit-config/core/internal';
import { intOption } from './integers.js';

/** TLS options passed through to Node's `https` agent (same names as `tls.connect`). */
export interface ConsulTlsOptions {
  /** CA certificate(s) (PEM) that sign Consul's HTTPS certificate. Default: Node's bundled CAs. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate (PEM) for mutual TLS (`verify_incoming`). Default none. */
  cert?: string | Buffer;
  /** Client private key (PEM) for mutual TLS. Default none. */
  key?: string | Buffer;
  /** Passphrase of `key`. Default none. */
  passphrase?: string;
  /** Reject a certificate that does not verify. Default true; turn off only for local testing. */
  rejectUnauthorized?: boolean;
  /** SNI / certificate name to check, when it differs from the address's host. Default the host. */
  servername?: string;
}

/** How to reach Consul; shared by the store, sessions and the leader lock. */
export interface ConsulConnectionOptions {
  /**
   * Consul's HTTP address, e.g. `http://127.0.0.1:8500` or `https://consul.internal:8501`.
   * Default: `CONSUL_HTTP_ADDR` from the environment (a bare `host:port` means http), else
   * `http://127.0.0.1:8500`.
   */
  address?: string;
  /** ACL token, sent as the `X-Consul-Token` header. Default: `CONSUL_HTTP_TOKEN`, else none. */
  token?: string;
  /** Datacenter to address (`?dc=`). Default: the agent's own. */
  datacenter?: string;
  /**
   * TLS options for an `https:` address. Default: from `CONSUL_CACERT`, `CONSUL_CLIENT_CERT`,
   * `CONSUL_CLIENT_KEY`, `CONSUL_TLS_SERVER_NAME` and `CONSUL_HTTP_SSL_VERIFY` when any is set,
   * else none (Node's defaults).
   */
  tls?: ConsulTlsOptions;
  /**
   * Absolute timeout of one non-blocking request, in milliseconds, from send to the last byte.
   * A request that takes longer fails with `BACKEND_UNAVAILABLE`. Default 5000.
   */
  timeoutMs?: number;
}

export interface ResolvedConnection {
  address: string;
  baseUrl: URL;
  token: string | undefined;
  datacenter: string | undefined;
  tls: ConsulTlsOptions | undefined;
  timeoutMs: number;
}

/** Validates connection options; `what` names the entry point in error messages. */
export function resolveConnection(options: ConsulConnectionOptions, what: string): ResolvedConnection {
  const bad = (option: string, detail: string) => errors.constraint(`${what} option ${option} ${detail}`);
  let address = options.address ?? process.env.CONSUL_HTTP_ADDR ?? 'http://127.0.0.1:8500';
  if (typeof address !== 'string' || address.length === 0) throw bad('address', 'must be a non-empty string');
  if (!/^[a-z]+:\/\//i.test(address)) {
    address = `${options.address === undefined && /^(1|true)$/i.test(process.env.CONSUL_HTTP_SSL ?? '') ? 'https' : 'http'}://${address}`;
  }
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw bad('address', `is not a URL: ${JSON.stringify(address)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw bad('address', `must be an http: or https: URL, got ${url.protocol}`);
  }
  if (url.search || url.hash) throw bad('address', 'must not have a query or fragment');
  const path = url.pathname.replace(/\/+$/, '');
  const baseUrl = new URL(`${url.origin}${path}/v1`);
  if (url.username || url.password) {
    baseUrl.username = url.username;
    baseUrl.password = url.password;
  }
  const token = options.token ?? process.env.CONSUL_HTTP_TOKEN ?? undefined;
  if (token !== undefined && (typeof token !== 'string' || /[\r\n]/.test(token))) {
    throw bad('token', 'must be a string without line breaks');
  }
  const datacenter = options.datacenter;
  if (datacenter !== undefined && (typeof datacenter !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(datacenter))) {
    throw bad('datacenter', `must be a datacenter name, got ${JSON.stringify(datacenter)}`);
  }
  const timeoutMs = intOption(what, 'timeoutMs', options.timeoutMs, 5000, 1, 600_000);
  if (options.tls !== undefined && (options.tls === null || typeof options.tls !== 'object')) {
    throw bad('tls', 'must be an object of TLS options');
  }
  return {
    address: `${url.origin}${path}`,
    baseUrl,
    token: token === '' ? undefined : token,
    datacenter,
    tls: options.tls ?? tlsFromEnv(process.env, what),
    timeoutMs,
  };
}

/**
 * TLS options from Consul's CLI variables (`CONSUL_CACERT`, `CONSUL_CLIENT_CERT`,
 * `CONSUL_CLIENT_KEY`: PEM files, read now; `CONSUL_TLS_SERVER_NAME`; `CONSUL_HTTP_SSL_VERIFY=false`
 * turns verification off). `undefined` when none is set. A file that cannot be read is a
 * `CONSTRAINT_VIOLATION` naming the variable.
 */
export function tlsFromEnv(env: NodeJS.ProcessEnv, what = 'consul'): ConsulTlsOptions | undefined {
  const file = (name: string): Buffer | undefined => {
    const path = env[name];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw errors.constraint(`${what}: ${name}=${path} cannot be read: ${(error as Error).message}`);
    }
  };
  const tls: ConsulTlsOptions = {};
  const ca = file('CONSUL_CACERT');
  const cert = file('CONSUL_CLIENT_CERT');
  const key = file('CONSUL_CLIENT_KEY');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (env.CONSUL_TLS_SERVER_NAME) tls.servername = env.CONSUL_TLS_SERVER_NAME;
  const verify = env.CONSUL_HTTP_SSL_VERIFY;
  if (verify !== undefined && verify !== '') {
    if (!/^(true|false|1|0)$/i.test(verify)) {
      throw errors.constraint(`${what}: CONSUL_HTTP_SSL_VERIFY must be true or false, got ${JSON.stringify(verify)}`);
    }
    tls.rejectUnauthorized = /^(true|1)$/i.test(verify);
  }
  return Object.keys(tls).length > 0 ? tls : undefined;
}
