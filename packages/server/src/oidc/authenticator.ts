/**
 * The OIDC / JWT bearer authenticator (issue 18; docs/server-oidc.md): `Authorization: Bearer <JWT>`
 * issued by an OpenID provider -> an `oidc` principal, verified with jose against the provider's
 * JWKS (by URL, from a file, inline, or found by discovery: `keys.ts`, `discovery.ts`), its issuer,
 * an audience and the token's lifetime.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '@summit-config/core';
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
  type KeyInput,
} from 'jose';
import type { Authenticator, AuthRequest, AuthResult } from '../auth.js';
import { DEFAULT_DISCOVERY_TIMEOUT_MS, discoveredKeySet, discoveryUrl } from './discovery.js';
import { checkFetchUrl, checkJwks, invalid, KeySourceUnavailable, remoteKeySet } from './keys.js';

/** The asymmetric signature algorithms accepted by default. */
export const DEFAULT_OIDC_ALGORITHMS: readonly string[] = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

/** The HMAC algorithms, accepted only with a configured `sharedSecret`. */
export const HMAC_ALGORITHMS: readonly string[] = Object.freeze(['HS256', 'HS384', 'HS512']);

/** Default clock tolerance for `exp` and `nbf`, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

/** Longest bearer JWT handled, in characters; a longer one is refused. */
export const MAX_JWT_LENGTH = 16_384;

/** Grants roles for the values of one claim: `{ claim: 'groups', roles: { 'cfg-admins': ['config-admin'] } }`. */
export interface OidcRoleMapping {
  /** The claim read (a string or an array of strings); a dotted path (`realm_access.roles`) if no claim has that exact name. */
  readonly claim: string;
  /** Claim value -> roles granted. Values not listed grant nothing. */
  readonly roles: Readonly<Record<string, readonly string[]>>;
}

export interface OidcAuthenticatorOptions {
  /** The expected `iss` claim, exactly (e.g. `https://login.example.com/realms/ops`). */
  readonly issuer: string;
  /** The expected `aud`: one value, or a list of which the token must name at least one. */
  readonly audience: string | readonly string[];
  /** The provider's JWKS URL (its `jwks_uri`): `https:`, or `http:` to a loopback host only. */
  readonly jwksUri?: string | URL;
  /** A local JWKS JSON file (`{ "keys": [...] }`, public keys only), read once at creation. */
  readonly jwksFile?: string;
  /** A JWKS given inline (public keys only), as `jwksFile`. */
  readonly jwks?: JSONWebKeySet;
  /**
   * Find the JWKS by OpenID Connect Discovery: `<issuer>/.well-known/openid-configuration`, fetched
   * on first use; its `issuer` must equal `issuer` exactly, and its `jwks_uri` is used as `jwksUri`.
   * Exclusive with `jwksUri`, `jwksFile` and `jwks`.
   */
  readonly discovery?: boolean;
  /**
   * A shared secret (at least 32 bytes) for HS256/HS384/HS512 tokens. Only with it are HMAC
   * algorithms accepted, and an HMAC token is verified with this secret only, never a JWKS key.
   */
  readonly sharedSecret?: string | Uint8Array;
  /** Accepted `alg` values; default {@link DEFAULT_OIDC_ALGORITHMS} (plus HS* with `sharedSecret`). `none` is never accepted. */
  readonly algorithms?: readonly string[];
  /** Tolerated clock skew for `exp`, `nbf` and `iat`, in seconds (0-600); default 30. */
  readonly clockToleranceSec?: number;
  /** Claim-to-roles mappings (one or several); their roles are added together. */
  readonly roleMapping?: OidcRoleMapping | readonly OidcRoleMapping[];
  /** A claim whose values (an array, or a space-separated string) are taken as role names directly. */
  readonly rolesClaim?: string;
  /** A claim whose values become the actor's `groups` (matched by RBAC bindings). */
  readonly groupsClaim?: string;
  /** The claim that is the actor id: `sub` (default), `email`, `preferred_username`, or another. */
  readonly actorClaim?: string;
  /** Remote JWKS and discovery document: fetch timeout in ms (default 5000). */
  readonly jwksTimeoutMs?: number;
  /** Remote JWKS: how long a fetched key set is used before it is fetched again, in ms (default 600000). */
  readonly jwksCacheMaxAgeMs?: number;
  /** The clock, in ms since the epoch; default `Date.now`. */
  readonly now?: () => number;
}

/** `Bearer <credential>`, the scheme case-insensitive (RFC 9110), one or more spaces. */
const BEARER = /^bearer +(.*)$/is;
/** JWS compact serialization: header.payload.signature (the signature may be empty: `alg: none`). */
const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]*)$/;
const ROLE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const CLAIM_NAME_MAX = 256;
const MAX_CLAIM_VALUES = 256;

function refused(message: string): ConfigError<'ACCESS_DENIED'> {
  return new ConfigError('ACCESS_DENIED', message);
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 2048;

function checkClaimName(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > CLAIM_NAME_MAX) {
    throw invalid(option, `must be a claim name (1-${CLAIM_NAME_MAX} characters)`);
  }
  return value;
}

function checkRoles(option: string, roles: unknown): string[] {
  if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string' || !ROLE_NAME.test(r))) {
    throw invalid(option, 'must be a list of role names ([A-Za-z0-9_.-]{1,128})');
  }
  return [...new Set(roles as string[])];
}

interface Settings {
  issuer: string;
  audience: string | string[];
  algorithms: string[];
  clockTolerance: number;
  mappings: Array<{ claim: string; roles: Map<string, string[]> }>;
  rolesClaim: string | undefined;
  groupsClaim: string | undefined;
  actorClaim: string;
  now: () => number;
}

/**
 * An {@link Authenticator} for OIDC / JWT bearer tokens. For `Authorization: Bearer <JWT>` that
 * verifies (signature by a JWKS key of an accepted algorithm, `iss`, `aud`, `exp` present and not
 * passed, `nbf`, with `clockToleranceSec` of skew) it returns
 * `{ actor: { id, roles, kind: 'oidc', credential: 'oidc:<issuer>#<sub>' }, method: 'oidc' }`.
 * It returns `undefined` for no header, another scheme, or a bearer that is not a compact JWS (an
 * `sct_` API token: another authenticator takes it), and throws `ACCESS_DENIED` (never echoing the
 * token) for a JWT it refuses. A JWKS URL or a discovery document that cannot be fetched or used
 * is `BACKEND_UNAVAILABLE`. Options are checked at once: a bad one throws `CONSTRAINT_VIOLATION`
 * naming it.
 */
export function createOidcAuthenticator(options: OidcAuthenticatorOptions): Authenticator {
  if (options === null || typeof options !== 'object') throw invalid('options', 'must be an object');
  const settings = checkOptions(options);
  const getKey = keyResolver(options, settings);
  return async (request: AuthRequest): Promise<AuthResult | undefined> => {
    const header = request.authorization;
    if (header === undefined || header === '') return undefined;
    const credential = BEARER.exec(header)?.[1]?.trim();
    if (credential === undefined || !looksLikeJwt(credential)) return undefined;
    if (credential.length > MAX_JWT_LENGTH) throw refused('the OIDC token is too long');
    let payload: JWTPayload;
    try {
      payload = await verify(credential, getKey, settings);
    } catch (error) {
      throw refusal(error);
    }
    return principal(payload, settings);
  };
}

/** Keys tried, at most, for a token that several JWKS keys match (no `kid`). */
const MAX_CANDIDATE_KEYS = 8;

async function verify(credential: string, getKey: JWTVerifyGetKey, settings: Settings): Promise<JWTPayload> {
  const options: JWTVerifyOptions = {
    issuer: settings.issuer,
    audience: settings.audience,
    algorithms: settings.algorithms,
    clockTolerance: settings.clockTolerance,
    currentDate: new Date(settings.now()),
    requiredClaims: ['exp', 'sub'],
  };
  try {
    return (await jwtVerify(credential, getKey, options)).payload;
  } catch (error) {
    // A token without `kid` that several keys of the set match: try each (jose leaves this to us).
    if ((error as { code?: unknown }).code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw error;
    const candidates = error as unknown as AsyncIterable<KeyInput>;
    let last: unknown = error;
    let tried = 0;
    for await (const key of candidates) {
      if (++tried > MAX_CANDIDATE_KEYS) break;
      try {
        return (await jwtVerify(credential, key, options)).payload;
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') throw e;
        last = e;
      }
    }
    throw last;
  }
}

function checkOptions(options: OidcAuthenticatorOptions): Settings {
  if (!nonEmpty(options.issuer)) throw invalid('issuer', 'must be a non-empty string');
  const audience = options.audience;
  let aud: string | string[];
  if (typeof audience === 'string') {
    if (!nonEmpty(audience)) throw invalid('audience', 'must be a non-empty string or list');
    aud = audience;
  } else if (Array.isArray(audience) && audience.length > 0 && audience.every(nonEmpty)) {
    aud = [...audience];
  } else {
    throw invalid('audience', 'must be a non-empty string or a non-empty list of them');
  }

  if (options.discovery !== undefined && typeof options.discovery !== 'boolean') {
    throw invalid('discovery', 'must be a boolean');
  }
  const given = [options.jwksUri, options.jwksFile, options.jwks].filter((s) => s !== undefined).length;
  if (options.discovery === true) {
    if (given > 0) throw invalid('discovery', 'is exclusive with jwksUri, jwksFile and jwks: give one');
    discoveryUrl(options.issuer, invalid);
  }
  const sources = given + (options.discovery === true ? 1 : 0);
  if (sources > 1) throw invalid('jwksUri', 'jwksUri, jwksFile and jwks are exclusive: give one');
  if (sources === 0 && options.sharedSecret === undefined) {
    throw invalid('jwksUri', 'is required (or jwksFile, jwks, discovery: true, or sharedSecret for HMAC tokens)');
  }

  const hmac = options.sharedSecret !== undefined;
  if (hmac) {
    const s = options.sharedSecret;
    const length = typeof s === 'string' ? Buffer.byteLength(s) : s instanceof Uint8Array ? s.length : -1;
    if (length < 32) throw invalid('sharedSecret', 'must be a string or bytes of at least 32 bytes');
  }
  const asymmetric = sources > 0;
  let algorithms: string[];
  if (options.algorithms === undefined) {
    algorithms = [...(asymmetric ? DEFAULT_OIDC_ALGORITHMS : []), ...(hmac ? HMAC_ALGORITHMS : [])];
  } else {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) {
      throw invalid('algorithms', 'must be a non-empty list');
    }
    algorithms = [...new Set(options.algorithms as string[])];
    for (const alg of algorithms) {
      if (typeof alg !== 'string') throw invalid('algorithms', 'must be a list of strings');
      if (alg.toLowerCase() === 'none') throw invalid('algorithms', 'may not contain none');
      if (HMAC_ALGORITHMS.includes(alg)) {
        if (!hmac) throw invalid('algorithms', `has ${alg}, which needs sharedSecret`);
      } else if (!DEFAULT_OIDC_ALGORITHMS.includes(alg)) {
        throw invalid(
          'algorithms',
          `has an unsupported algorithm (accepted: ${[...DEFAULT_OIDC_ALGORITHMS, ...HMAC_ALGORITHMS].join(', ')})`,
        );
      } else if (!asymmetric) {
        throw invalid('algorithms', `has ${alg}, which needs jwksUri, jwksFile, jwks or discovery`);
      }
    }
  }

  const tolerance = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0 || tolerance > 600) {
    throw invalid('clockToleranceSec', 'must be a number of seconds from 0 to 600');
  }

  const mappingList =
    options.roleMapping === undefined
      ? []
      : Array.isArray(options.roleMapping)
        ? options.roleMapping
        : [options.roleMapping];
  const mappings = (mappingList as OidcRoleMapping[]).map((m, i) => {
    const name = `roleMapping[${i}]`;
    if (m === null || typeof m !== 'object') throw invalid(name, 'must be { claim, roles }');
    const claim = checkClaimName(`${name}.claim`, m.claim);
    if (m.roles === null || typeof m.roles !== 'object' || Array.isArray(m.roles)) {
      throw invalid(`${name}.roles`, 'must be an object: claim value -> role names');
    }
    const roles = new Map<string, string[]>();
    for (const [value, granted] of Object.entries(m.roles))
      roles.set(value, checkRoles(`${name}.roles.${value}`, granted));
    return { claim, roles };
  });

  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw invalid('now', 'must be a function');
  for (const [name, value] of [
    ['jwksTimeoutMs', options.jwksTimeoutMs],
    ['jwksCacheMaxAgeMs', options.jwksCacheMaxAgeMs],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)) {
      throw invalid(name, 'must be a positive integer of milliseconds');
    }
  }

  return {
    issuer: options.issuer,
    audience: aud,
    algorithms,
    clockTolerance: tolerance,
    mappings,
    rolesClaim: options.rolesClaim === undefined ? undefined : checkClaimName('rolesClaim', options.rolesClaim),
    groupsClaim: options.groupsClaim === undefined ? undefined : checkClaimName('groupsClaim', options.groupsClaim),
    actorClaim: options.actorClaim === undefined ? 'sub' : checkClaimName('actorClaim', options.actorClaim),
    now,
  };
}

function keyResolver(options: OidcAuthenticatorOptions, settings: Settings): JWTVerifyGetKey {
  let asymmetric: JWTVerifyGetKey | undefined;
  const remote = {
    timeoutMs: options.jwksTimeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS,
    cacheMaxAgeMs: options.jwksCacheMaxAgeMs ?? 600_000,
  };
  if (options.jwksUri !== undefined) {
    asymmetric = remoteKeySet(checkFetchUrl('jwksUri', options.jwksUri), remote);
  } else if (options.discovery === true) {
    asymmetric = discoveredKeySet(options.issuer, { ...remote, now: settings.now });
  } else if (options.jwksFile !== undefined) {
    if (!nonEmpty(options.jwksFile)) throw invalid('jwksFile', 'must be a file path');
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(options.jwksFile, 'utf8'));
    } catch {
      throw invalid('jwksFile', 'cannot be read as JSON');
    }
    asymmetric = createLocalJWKSet(checkJwks('jwksFile', parsed));
  } else if (options.jwks !== undefined) {
    asymmetric = createLocalJWKSet(checkJwks('jwks', options.jwks));
  }
  const secret =
    options.sharedSecret === undefined
      ? undefined
      : typeof options.sharedSecret === 'string'
        ? new TextEncoder().encode(options.sharedSecret)
        : new Uint8Array(options.sharedSecret);
  return async (header, token) => {
    const alg = header.alg ?? '';
    // jwtVerify has already refused an alg outside `settings.algorithms`; this keeps HMAC tokens
    // off the JWKS keys and asymmetric tokens off the secret, whatever the list says.
    if (!settings.algorithms.includes(alg)) throw refused('the OIDC token is signed with an algorithm not accepted');
    if (HMAC_ALGORITHMS.includes(alg)) {
      if (!secret) throw refused('the OIDC token is signed with an algorithm not accepted');
      return secret;
    }
    if (!asymmetric) throw refused('the OIDC token is signed with an algorithm not accepted');
    return asymmetric(header, token);
  };
}

/** A compact JWS whose header is a JSON object naming an `alg`. */
function looksLikeJwt(credential: string): boolean {
  const m = COMPACT_JWS.exec(credential);
  if (!m) return false;
  try {
    const header = JSON.parse(Buffer.from(m[1] as string, 'base64url').toString('utf8')) as unknown;
    return header !== null && typeof header === 'object' && !Array.isArray(header) && 'alg' in header;
  } catch {
    return false;
  }
}

/** The jose failure as a refusal with a fixed message (no token, no claim values). */
function refusal(error: unknown): Error {
  if (error instanceof ConfigError) return error;
  if (error instanceof KeySourceUnavailable) {
    // An outage or a provider that does not fit the configuration, not a refusal of the token.
    return new ConfigError(
      'BACKEND_UNAVAILABLE',
      error.message,
      error.cause === undefined ? {} : { cause: error.cause },
    );
  }
  const e = error as { code?: unknown; claim?: unknown; reason?: unknown };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return refused('the OIDC token is expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'iss') return refused('the OIDC token has an issuer not accepted');
      if (e.claim === 'aud') return refused('the OIDC token has an audience not accepted');
      if (e.claim === 'nbf') return refused('the OIDC token is not valid yet');
      if (e.claim === 'iat') return refused('the OIDC token is issued in the future');
      if (e.claim === 'exp' || e.claim === 'sub') return refused(`the OIDC token has no valid ${e.claim} claim`);
      return refused('the OIDC token has a claim that is not accepted');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return refused('the OIDC token is signed with an algorithm not accepted');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return refused('the OIDC token is signed by a key not in the key set');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return refused('the OIDC token signature does not verify');
    default:
      return refused('the OIDC token is malformed or does not verify');
  }
}

/** A claim by exact name, else by dotted path. */
function claimValue(payload: JWTPayload, claim: string): unknown {
  if (Object.hasOwn(payload, claim)) return payload[claim];
  if (!claim.includes('.')) return undefined;
  let value: unknown = payload;
  for (const part of claim.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A claim's string values: a string, or an array of strings (others ignored). */
function claimStrings(payload: JWTPayload, claim: string, splitSpaces: boolean): string[] {
  const value = claimValue(payload, claim);
  if (typeof value === 'string') return splitSpaces ? value.split(' ').filter(Boolean) : [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string').slice(0, MAX_CLAIM_VALUES);
  return [];
}

function wellFormedId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= 256 &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    !/[\u0000-\u001f\u007f]/.test(value) &&
    value.isWellFormed()
  );
}

function principal(payload: JWTPayload, settings: Settings): AuthResult {
  const sub = payload.sub;
  if (!wellFormedId(sub)) throw refused('the OIDC token has no valid sub claim');
  const id = settings.actorClaim === 'sub' ? sub : claimValue(payload, settings.actorClaim);
  if (!wellFormedId(id)) throw refused(`the OIDC token has no valid ${settings.actorClaim} claim`);

  const roles = new Set<string>();
  if (settings.rolesClaim !== undefined) {
    for (const role of claimStrings(payload, settings.rolesClaim, true)) if (ROLE_NAME.test(role)) roles.add(role);
  }
  for (const mapping of settings.mappings) {
    for (const value of claimStrings(payload, mapping.claim, false)) {
      for (const role of mapping.roles.get(value) ?? []) roles.add(role);
    }
  }
  const groups =
    settings.groupsClaim === undefined
      ? undefined
      : [...new Set(claimStrings(payload, settings.groupsClaim, false).filter(wellFormedId))];

  return {
    actor: {
      id,
      roles: [...roles],
      ...(groups === undefined ? {} : { groups }),
      kind: 'oidc',
      credential: `oidc:${settings.issuer}#${sub}`,
    },
    method: 'oidc',
  };
}
