/**
 * @summit-config/server: the config server (issue 18), an authenticated HTTP API over the change
 * service. docs/server.md documents every export.
 */
export type { Authenticator, AuthMethod, AuthRequest, AuthResult } from './auth.js';
export { OPENAPI_PATH } from './openapi.js';
export type { ConfigServerOptions, CorsOptions } from './options.js';
export { DEFAULT_ALLOWED_HOSTS, DEFAULT_BODY_LIMIT } from './options.js';
export { type Problem, type ProblemCode, STATUS_BY_CODE } from './problems.js';
export { createConfigServer } from './server.js';
export {
  type CreatedToken,
  type CreateTokenInput,
  createMemoryTokenStore,
  createSqlTokenStore,
  createTokenAuthenticator,
  LAST_USED_RESOLUTION_MS,
  type ListTokensFilter,
  type MemoryTokenStoreOptions,
  type SqlTokenStoreOptions,
  TOKEN_PREFIX,
  type TokenRecord,
  type TokenStore,
} from './tokens/index.js';
