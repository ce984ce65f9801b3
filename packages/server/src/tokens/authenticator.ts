/**
 * The API token authenticator: `Authorization: Bearer sct_<id>_<secret>` -> the token's owner, with
 * the token's roles, as a `token` principal (`credential: token:<id>`).
 */
import { ConfigError } from '@summit-config/core';
import type { Authenticator, AuthRequest, AuthResult } from '../auth.js';
import { parseToken, TOKEN_PREFIX } from './format.js';
import type { TokenStore } from './types.js';

/** `Bearer <credential>`, the scheme case-insensitive (RFC 9110), one or more spaces. */
const BEARER = /^bearer +(.*)$/is;

function refused(message: string): ConfigError<'ACCESS_DENIED'> {
  return new ConfigError('ACCESS_DENIED', message);
}

/**
 * An {@link Authenticator} over `store`. For a request whose `Authorization` is `Bearer sct_...` it
 * returns `{ actor: { id: owner, roles, kind: 'token', credential: 'token:<id>' }, method: 'token',
 * tokenId }`. It returns `undefined` when there is no `Authorization` header, another scheme, or a
 * bearer credential that is not an API token (another authenticator may take it), and throws
 * `ACCESS_DENIED` for an API token that is malformed, unknown, revoked or expired (the message names
 * the token's id at most, never its secret). The store is asked on every call (no cache), so a
 * revocation holds from the next request; a store that cannot answer throws `BACKEND_UNAVAILABLE`.
 */
export function createTokenAuthenticator(store: TokenStore): Authenticator {
  if (store === null || typeof store !== 'object' || typeof store.verify !== 'function') {
    throw new ConfigError('CONSTRAINT_VIOLATION', 'createTokenAuthenticator needs a TokenStore');
  }
  return async (request: AuthRequest): Promise<AuthResult | undefined> => {
    const header = request.authorization;
    if (header === undefined || header === '') return undefined;
    const match = BEARER.exec(header);
    const credential = match?.[1]?.trim();
    if (credential === undefined || !credential.startsWith(TOKEN_PREFIX)) return undefined;
    const parsed = parseToken(credential);
    if (!parsed) throw refused('the API token is malformed');
    const record = await store.verify(credential);
    if (!record) throw refused(`API token ${parsed.id} is unknown, revoked or expired`);
    return {
      actor: { id: record.owner, roles: [...record.roles], kind: 'token', credential: `token:${record.id}` },
      method: 'token',
      tokenId: record.id,
    };
  };
}
