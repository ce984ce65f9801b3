/**
 * The HTTP side of the `vault` provider: requests to Vault's API (`<address>/v1/<path>`) with the
 * `X-Vault-Token` and optional `X-Vault-Namespace` headers, a per-request timeout, retries of
 * idempotent reads, and the token: a fixed one, or one from an AppRole login that is logged in
 * again before its lease runs out and whenever Vault answers 403 to it. Internal: the provider
 * (`vault.ts`) is what the package exports.
 */
import { backoffDelay, delay } from '@summit-config/core/internal';

/** AppRole credentials (`auth/<mount>/login` with `role_id` and `secret_id`). */
export interface VaultAppRole {
  /** The role id. Required. */
  roleId: string;
  /** The secret id. Required (a role with `bind_secret_id=false` is not supported). */
  secretId: string;
  /** Where the AppRole auth method is mounted. Default `approle`. */
  mount?: string;
}

/** A non-2xx answer of Vault (or a refused AppRole login when `login` is true). */
export class VaultHttpError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Vault's `errors` array (messages; never a secret value: Vault does not echo data). */
  readonly errors: readonly string[];
  /** True when the refused request was the AppRole login. */
  readonly login: boolean;

  constructor(status: number, errors: readonly string[], login: boolean) {
    super(`Vault answered ${status}${errors.length > 0 ? `: ${errors.join('; ').slice(0, 300)}` : ''}`);
    this.name = 'VaultHttpError';
    this.status = status;
    this.errors = errors;
    this.login = login;
  }
}

export interface VaultHttpOptions {
  /** `http(s)://host:port`, already validated. */
  address: string;
  /** A fixed token; used when `appRole` is absent. */
  token: string | undefined;
  appRole: VaultAppRole | undefined;
  /** Sent as `X-Vault-Namespace` on every request (the login included) when set. */
  namespace: string | undefined;
  /** Per request, milliseconds. */
  requestTimeoutMs: number;
  /** Extra attempts of a GET that failed with a network error, 412, 429 or 5xx. */
  maxRetries: number;
  fetch: typeof globalThis.fetch;
}

export interface VaultRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** After `/v1/`, already encoded. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
  /** Return a 404 answer (with its body) instead of throwing: reads of deleted versions carry metadata. */
  accept404?: boolean;
}

export interface VaultAnswer {
  status: number;
  /** The parsed JSON body, `undefined` for 204. */
  body: Record<string, unknown> | undefined;
}

interface Session {
  token: string;
  /** `Date.now()` after which the provider logs in again before using the token. */
  renewAt: number;
}

/** Re-login once this share of the token's lease has passed. */
const RENEW_AT_SHARE = 0.8;

export interface VaultHttp {
  /** One API call: rejects with {@link VaultHttpError} for a non-2xx answer, or the transport's error. */
  request(req: VaultRequest): Promise<VaultAnswer>;
}

function errorsOf(body: unknown): string[] {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  return Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [];
}

async function parse(res: Response): Promise<Record<string, unknown> | undefined> {
  const text = await res.text();
  if (text.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function retryable(error: unknown): boolean {
  if (error instanceof VaultHttpError) return error.status === 412 || error.status === 429 || error.status >= 500;
  return true; // transport failures and timeouts
}

export function createVaultHttp(options: VaultHttpOptions): VaultHttp {
  const base = options.address.replace(/\/+$/, '');
  let session: Session | undefined;
  let loggingIn: Promise<Session> | undefined;

  function signalFor(signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(options.requestTimeoutMs);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  async function send(
    method: string,
    path: string,
    token: string | undefined,
    body: unknown,
    signal: AbortSignal | undefined,
    contentType = 'application/json',
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', 'x-vault-request': 'true' };
    if (token !== undefined) headers['x-vault-token'] = token;
    if (options.namespace) headers['x-vault-namespace'] = options.namespace;
    if (body !== undefined) headers['content-type'] = contentType;
    return options.fetch(`${base}/v1/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signalFor(signal),
      redirect: 'error',
    });
  }

  async function login(): Promise<Session> {
    const role = options.appRole as VaultAppRole;
    const started = Date.now();
    const res = await send(
      'POST',
      `auth/${role.mount ?? 'approle'}/login`,
      undefined,
      { role_id: role.roleId, secret_id: role.secretId },
      undefined,
    );
    const body = await parse(res);
    if (!res.ok) throw new VaultHttpError(res.status, errorsOf(body), true);
    const auth = body?.auth as { client_token?: unknown; lease_duration?: unknown } | undefined;
    if (typeof auth?.client_token !== 'string' || auth.client_token.length === 0) {
      throw new VaultHttpError(res.status, ['the AppRole login answered without auth.client_token'], true);
    }
    const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
    return {
      token: auth.client_token,
      // lease_duration 0: a token that does not expire.
      renewAt: lease > 0 ? started + lease * 1000 * RENEW_AT_SHARE : Number.POSITIVE_INFINITY,
    };
  }

  /** The token to send: the fixed one, or a live AppRole token (one login shared by concurrent calls). */
  async function currentToken(): Promise<string> {
    if (!options.appRole) return options.token as string;
    if (session && Date.now() < session.renewAt) return session.token;
    loggingIn ??= login().finally(() => {
      loggingIn = undefined;
    });
    session = await loggingIn;
    return session.token;
  }

  async function attempt(req: VaultRequest, url: string): Promise<VaultAnswer> {
    const contentType = req.method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    for (let relogin = 0; ; relogin++) {
      const token = await currentToken();
      const res = await send(req.method, url, token, req.body, req.signal, contentType);
      const body = await parse(res);
      if (res.ok || (res.status === 404 && req.accept404)) return { status: res.status, body };
      // An AppRole token Vault no longer accepts (expired, revoked): log in again, once.
      if (res.status === 403 && options.appRole && relogin === 0) {
        if (session?.token === token) session = undefined;
        continue;
      }
      throw new VaultHttpError(res.status, errorsOf(body), false);
    }
  }

  return {
    async request(req) {
      const query = req.query && Object.keys(req.query).length > 0 ? `?${new URLSearchParams(req.query)}` : '';
      const url = `${req.path}${query}`;
      const tries = req.method === 'GET' ? options.maxRetries + 1 : 1;
      for (let i = 0; ; i++) {
        try {
          return await attempt(req, url);
        } catch (error) {
          if (i + 1 >= tries || req.signal?.aborted || !retryable(error)) throw error;
          if (error instanceof VaultHttpError && error.login) throw error;
          await delay(50 + backoffDelay(i, 100, 2_000), req.signal);
        }
      }
    },
  };
}
