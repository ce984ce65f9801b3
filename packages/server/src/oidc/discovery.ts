/**
 * OpenID Connect Discovery 1.0 for the OIDC authenticator: the provider's metadata document at
 * `<issuer>/.well-known/openid-configuration`, whose `issuer` must equal the configured issuer
 * exactly (Discovery §4.3) and whose `jwks_uri` is the key set then used. `discoverOidcProvider`
 * fetches it once (for a check at startup); `discoveredKeySet` is the authenticator's key source
 * with `discovery: true`: it discovers on first use, keeps the result, and after a failure tries
 * again at most every `DISCOVERY_RETRY_MS`.
 */
import { ConfigError } from '@summit-config/core';
import type { JWTVerifyGetKey } from 'jose';
import { checkFetchUrl, KeySourceUnavailable, remoteKeySet } from './keys.js';

/** Appended to the issuer (without its trailing `/`) to find the discovery document. */
export const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** Largest discovery document read, in bytes; a larger one is `BACKEND_UNAVAILABLE`. */
export const MAX_DISCOVERY_DOCUMENT_BYTES = 512 * 1024;
/** After a failed discovery, the authenticator answers from that failure for this long before trying again. */
export const DISCOVERY_RETRY_MS = 10_000;
/** Default fetch timeout of the discovery document, in ms. */
export const DEFAULT_DISCOVERY_TIMEOUT_MS = 5_000;

/** What discovery found. */
export interface OidcProviderMetadata {
  /** The provider's issuer: the configured one (they are equal). */
  readonly issuer: string;
  /** The provider's `jwks_uri` (checked: `https:`, or `http:` to a loopback host). */
  readonly jwksUri: string;
  /** Where the document was read. */
  readonly discoveryUrl: string;
  /** The whole document, as served. */
  readonly document: Readonly<Record<string, unknown>>;
}

export interface OidcDiscoveryOptions {
  /** Fetch timeout in ms (default 5000). */
  readonly timeoutMs?: number;
}

const constraint = (option: string, message: string) =>
  new ConfigError('CONSTRAINT_VIOLATION', `OIDC discovery: ${option} ${message}`);

/**
 * The discovery document's URL for an issuer: the issuer without a trailing `/`, then
 * `/.well-known/openid-configuration`. The issuer must be `https:` (or `http:` to a loopback host),
 * without query or fragment (`CONSTRAINT_VIOLATION` naming `issuer`).
 */
export function discoveryUrl(issuer: string, error = constraint): URL {
  const url = checkFetchUrl('issuer', issuer, error);
  if (url.search !== '' || url.hash !== '' || /[?#]/.test(issuer)) {
    throw error('issuer', 'must have no query or fragment to be discovered');
  }
  return new URL(`${issuer.replace(/\/$/, '')}${DISCOVERY_PATH}`);
}

/** The body of `response`, refused past `limit` bytes without reading the rest. */
async function boundedText(response: Response, limit: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > limit) {
      await response.body.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Reads the provider's discovery document and checks it. `BACKEND_UNAVAILABLE` when it cannot be
 * read: refused, timed out, redirected, not `200`, over `MAX_DISCOVERY_DOCUMENT_BYTES`, not a JSON
 * object. `CONSTRAINT_VIOLATION` when it does not fit the configuration: its `issuer` is not the
 * given one exactly (a trailing `/` counts), or it has no usable `jwks_uri`.
 */
export async function discoverOidcProvider(
  issuer: string,
  options: OidcDiscoveryOptions = {},
): Promise<OidcProviderMetadata> {
  if (typeof issuer !== 'string' || issuer.length === 0) throw constraint('issuer', 'must be a non-empty string');
  const timeoutMs = options.timeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw constraint('timeoutMs', 'must be a positive integer');
  const url = discoveryUrl(issuer);
  const where = `the OIDC discovery document at ${url.href}`;
  const unavailable = (what: string, cause?: unknown) =>
    new ConfigError('BACKEND_UNAVAILABLE', `${where} ${what}`, cause === undefined ? {} : { cause });

  let text: string | undefined;
  try {
    // A redirect is refused: the document is where the issuer says, nowhere else.
    const response = await fetch(url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw unavailable(`answered ${response.status}`);
    }
    text = await boundedText(response, MAX_DISCOVERY_DOCUMENT_BYTES);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const timedOut = (error as { name?: unknown }).name === 'TimeoutError';
    throw unavailable(timedOut ? `did not answer within ${timeoutMs} ms` : 'could not be fetched', error);
  }
  if (text === undefined) throw unavailable(`is larger than ${MAX_DISCOVERY_DOCUMENT_BYTES} bytes`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw unavailable('is not JSON');
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw unavailable('is not a JSON object');
  }
  const doc = document as Record<string, unknown>;
  if (doc.issuer !== issuer) {
    const named = typeof doc.issuer === 'string' ? `"${doc.issuer.slice(0, 300)}"` : 'no issuer';
    throw new ConfigError(
      'CONSTRAINT_VIOLATION',
      `${where} names ${named}, not the configured issuer "${issuer}": they must be equal exactly`,
    );
  }
  if (typeof doc.jwks_uri !== 'string') throw constraint('jwks_uri', `is missing from ${where}`);
  const jwksUri = checkFetchUrl('jwks_uri', doc.jwks_uri, constraint);
  return { issuer, jwksUri: jwksUri.href, discoveryUrl: url.href, document: doc };
}

export interface DiscoveredKeySetOptions {
  timeoutMs: number;
  cacheMaxAgeMs: number;
  /** The clock (ms), for the retry delay after a failure. */
  now: () => number;
}

/**
 * The key source of `discovery: true`: on first use the provider is discovered (concurrent first
 * uses share one fetch) and its `jwks_uri` is used from then on, as a JWKS by URL. A failed
 * discovery is a `KeySourceUnavailable` whose cause is the typed error above; it is answered again,
 * without fetching, for `DISCOVERY_RETRY_MS`, then discovery is tried again.
 */
export function discoveredKeySet(issuer: string, options: DiscoveredKeySetOptions): JWTVerifyGetKey {
  let keys: JWTVerifyGetKey | undefined;
  let pending: Promise<JWTVerifyGetKey> | undefined;
  let failure: { at: number; error: KeySourceUnavailable } | undefined;

  const discover = (): Promise<JWTVerifyGetKey> =>
    discoverOidcProvider(issuer, { timeoutMs: options.timeoutMs }).then(
      (metadata) => {
        keys = remoteKeySet(new URL(metadata.jwksUri), options);
        failure = undefined;
        return keys;
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : 'failed';
        const wrapped = new KeySourceUnavailable(`the OIDC provider could not be discovered: ${message}`, {
          cause: error,
        });
        failure = { at: options.now(), error: wrapped };
        throw wrapped;
      },
    );

  return async (header, token) => {
    if (!keys) {
      if (failure && options.now() - failure.at < DISCOVERY_RETRY_MS) throw failure.error;
      pending ??= discover().finally(() => {
        pending = undefined;
      });
      await pending;
    }
    return (keys as JWTVerifyGetKey)(header, token);
  };
}
