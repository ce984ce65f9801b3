/**
 * How to reach Consul: the connection options the store, sessions and the leader lock share, and
 * their validation into a resolved connection (address, `/v1` base URL, token, datacenter, TLS,
 * request timeout). Defaults come from `CONSUL_HTTP_ADDR` and `CONSUL_HTTP_TOKEN`.
 */
import { errors } from '@summit-config/core';
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
  /** TLS options for an `https:` address. Default none (Node's defaults). */
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
  if (!/^[a-z]+:\/\//i.test(address)) address = `http://${address}`;
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
    tls: options.tls,
    timeoutMs,
  };
}
