/**
 * How the server learns who calls it. An authenticator looks at a request's credentials and returns
 * the authenticated principal (an RBAC `Actor`, `kind` and `credential` set), `undefined` when the
 * request carries no credential it handles, or throws `ACCESS_DENIED` for a credential it handles
 * and refuses (unknown, expired, revoked, badly signed). API tokens (`tokens/`) and OIDC bearer
 * tokens are authenticators; the server tries each in turn.
 */
import type { Actor } from '@summit-config/core';

/** What an authenticator sees of a request. */
export interface AuthRequest {
  /** The `Authorization` header, if any. */
  readonly authorization: string | undefined;
  /** The peer's address. */
  readonly remoteAddress: string;
  readonly userAgent: string | undefined;
}

export type AuthMethod = 'token' | 'oidc';

export interface AuthResult {
  /** The principal: `id`, `roles`, `kind` ('token' or 'oidc') and `credential` (e.g. `token:<id>`). */
  readonly actor: Actor;
  readonly method: AuthMethod;
  /** The API token's id (not its secret), for the audit trail. */
  readonly tokenId?: string;
}

export type Authenticator = (request: AuthRequest) => Promise<AuthResult | undefined>;
