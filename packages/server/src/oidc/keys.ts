/**
 * The OIDC authenticator's key sources: a JWKS by URL (fetched and cached by jose), from a file or
 * inline (public asymmetric keys only), and the checks they share: an option error that names the
 * option, the URL rule (`https:`, or `http:` to a loopback host) and the marker of a key source that
 * cannot be reached (an outage, `BACKEND_UNAVAILABLE`, not a refusal of the token).
 */
import { ConfigError } from '@summit-config/core';
import { createRemoteJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';

/** An option of `createOidcAuthenticator` that is refused: `CONSTRAINT_VIOLATION` naming it. */
export function invalid(option: string, message: string): ConfigError<'CONSTRAINT_VIOLATION'> {
  return new ConfigError('CONSTRAINT_VIOLATION', `createOidcAuthenticator: ${option} ${message}`);
}

export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** A URL the authenticator may fetch: `https:`, or `http:` to a loopback host. Else `CONSTRAINT_VIOLATION` naming `option`. */
export function checkFetchUrl(option: string, value: unknown, error = invalid): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw error(option, 'must be a URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw error(option, 'must be https: (http: only to a loopback host)');
  }
  return url;
}

/** A public JWKS: an object with `keys`, each an asymmetric public key (no `d`, no `oct`). */
export function checkJwks(option: string, value: unknown): JSONWebKeySet {
  if (value === null || typeof value !== 'object' || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw invalid(option, 'must be a JWKS ({ "keys": [...] })');
  }
  const keys = (value as { keys: unknown[] }).keys;
  if (keys.length === 0) throw invalid(option, 'has no keys');
  for (const key of keys) {
    if (key === null || typeof key !== 'object') throw invalid(option, 'has a key that is not an object');
    const k = key as JWK;
    if (k.kty === 'oct') throw invalid(option, 'has a symmetric (oct) key: use sharedSecret for HMAC');
    if (k.kty !== 'RSA' && k.kty !== 'EC' && k.kty !== 'OKP') throw invalid(option, `has a key of unknown kty`);
    if ('d' in k || 'p' in k || 'q' in k) throw invalid(option, 'has private key material: give public keys only');
  }
  return { keys: keys as JWK[] };
}

/**
 * Marks a key-source failure (not a refusal of the token): the authenticator answers it with
 * `BACKEND_UNAVAILABLE` carrying this message, and `cause` when there is one (a discovery error).
 */
export class KeySourceUnavailable extends Error {}

/** jose's codes for a key set that could not be fetched: timeout, a non-200 or non-JSON answer, not a JWKS. */
const UNAVAILABLE_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);

export interface RemoteKeySetOptions {
  /** Fetch timeout in ms. */
  timeoutMs: number;
  /** How long a fetched key set is used before it is fetched again, in ms. */
  cacheMaxAgeMs: number;
}

/**
 * A JWKS by URL, fetched on first use and cached by jose (a `kid` not in the cached set fetches it
 * again, at most once every 30 s). A fetch that fails is a `KeySourceUnavailable`; another jose
 * error (no matching key, a key it cannot use for this token) is the token's fault and passes through.
 */
export function remoteKeySet(url: URL, options: RemoteKeySetOptions): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: options.timeoutMs,
    cacheMaxAge: options.cacheMaxAgeMs,
  });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const jose = typeof code === 'string' && code.startsWith('ERR_J');
      if (jose && !UNAVAILABLE_CODES.has(code)) throw error;
      throw new KeySourceUnavailable('the OIDC key set (JWKS) could not be fetched');
    }
  };
}
