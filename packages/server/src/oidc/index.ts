/**
 * OIDC / JWT bearer authentication for the config server (issue 18; docs/server-oidc.md): the
 * authenticator that turns `Authorization: Bearer <JWT>` from an OpenID provider into an `oidc`
 * principal. Re-exports only.
 */
export {
  createOidcAuthenticator,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_OIDC_ALGORITHMS,
  HMAC_ALGORITHMS,
  MAX_JWT_LENGTH,
  type OidcAuthenticatorOptions,
  type OidcRoleMapping,
} from './authenticator.js';
export {
  DEFAULT_DISCOVERY_TIMEOUT_MS,
  DISCOVERY_PATH,
  DISCOVERY_RETRY_MS,
  discoverOidcProvider,
  MAX_DISCOVERY_DOCUMENT_BYTES,
  type OidcDiscoveryOptions,
  type OidcProviderMetadata,
} from './discovery.js';
