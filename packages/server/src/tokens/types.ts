/** The API token contract, defined with core's other persistence contracts (`core/src/store/token-store.ts`). */
export {
  type CreatedToken,
  type CreateTokenInput,
  LAST_USED_RESOLUTION_MS,
  type ListTokensFilter,
  type TokenRecord,
  type TokenStore,
  type TokenStoreCapabilities,
  type TokenStoreCommonOptions,
} from '@summit-config/core/internal';
