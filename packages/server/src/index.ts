/**
 * @summit-config/server: the config server (issue 18), an authenticated HTTP API over the change
 * service. docs/server.md documents every export.
 */
export type { Authenticator, AuthMethod, AuthRequest, AuthResult } from './auth.js';
// The OIDC authenticator's whole public surface (docs/server-oidc.md).
export * from './oidc/index.js';
export { OPENAPI_PATH } from './openapi.js';
export type { ConfigServerOptions, CorsOptions, RateLimitOptions, WatchStreamOptions } from './options.js';
export {
  DEFAULT_ALLOWED_HOSTS,
  DEFAULT_BODY_LIMIT,
  DEFAULT_IMPORT_BODY_LIMIT,
  DEFAULT_MAX_PRINCIPALS,
  DEFAULT_RATE_LIMIT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WATCH_HEARTBEAT_MS,
  DEFAULT_WATCH_MAX_STREAM_MS,
} from './options.js';
export { type Problem, type ProblemCode, STATUS_BY_CODE } from './problems.js';
export {
  DEFAULT_MAX_DELIVERIES,
  DEFAULT_REPLAY_WINDOW_MS,
  GITOPS_WEBHOOK_PATH,
  type GitopsWebhookOptions,
  type GitPushEvent,
} from './routes/gitops-webhook.js';
export { OIDC_CALLBACK_PATH, OIDC_LOGIN_PATH, type OidcLoginOptions } from './routes/oidc-login.js';
export type {
  DriftFindingView,
  DriftReportView,
  DriftSource,
  GitopsSource,
  GitopsStatusView,
  LeaderSource,
  LeaderView,
} from './routes/operations.js';
export type { ServerSecretsOptions } from './routes/secrets.js';
export type { ConsoleOptions } from './routes/ui.js';
export { createConfigServer } from './server.js';
export {
  createMemorySessionStore,
  DEFAULT_MAX_SESSIONS,
  DEFAULT_SESSION_IDLE_MS,
  DEFAULT_SESSION_TTL_MS,
  type MemorySessionStoreOptions,
  type SessionRecord,
  type SessionStore,
} from './sessions.js';
export { createSqlSessionStore, type SqlSessionStoreOptions } from './sessions-sql.js';
export {
  type CreatedToken,
  type CreateTokenInput,
  createMemoryTokenStore,
  createSqlTokenStore,
  createTokenAdmin,
  createTokenAuthenticator,
  LAST_USED_RESOLUTION_MS,
  type ListTokensFilter,
  type MemoryTokenStoreOptions,
  type SqlTokenStoreOptions,
  TOKEN_PREFIX,
  type TokenAdmin,
  type TokenAdminOptions,
  type TokenRecord,
  type TokenRequest,
  type TokenStore,
} from './tokens/index.js';
