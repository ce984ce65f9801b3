/**
 * API tokens for the config server (issue 18; docs/server-tokens.md): the `TokenStore` contract, its
 * memory and SQL implementations, the token format, and the authenticator that turns
 * `Authorization: Bearer sct_...` into a `token` principal. Re-exports only.
 */
export { createTokenAdmin, type TokenAdmin, type TokenAdminOptions, type TokenRequest } from './admin.js';
export { createTokenAuthenticator } from './authenticator.js';
export { hashToken, isTokenId, parseToken, TOKEN_PREFIX } from './format.js';
export { createMemoryTokenStore, type MemoryTokenStoreOptions } from './memory.js';
export { createSqlTokenStore, type SqlTokenStoreOptions } from './sql.js';
export { migrateTokenTable, TOKENS_TABLE } from './sql-migrations.js';
export {
  type CreatedToken,
  type CreateTokenInput,
  LAST_USED_RESOLUTION_MS,
  type ListTokensFilter,
  type TokenRecord,
  type TokenStore,
  type TokenStoreCapabilities,
  type TokenStoreCommonOptions,
} from './types.js';
