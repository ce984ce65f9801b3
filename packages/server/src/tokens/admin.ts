/**
 * Token administration with its rules, for the API's `/api/v1/tokens` and the CLI's direct mode
 * alike: listing needs `token:read`; creating and revoking need `token:manage`, and a new token may
 * hold only roles whose every permission its creator holds (so no token raises anyone's rights). Creation and
 * revocation are recorded in the audit trail (`token.create`, `token.revoke`) with the token's id,
 * never its secret.
 */
import type { Actor, CallOptions, ConfigService, Rbac } from '@summit-config/core';
import { AccessDeniedError, errors, grantCovers, PERMISSIONS } from '@summit-config/core/internal';
import type { CreatedToken, TokenRecord, TokenStore } from './types.js';

export interface TokenAdminOptions {
  store: TokenStore;
  rbac: Rbac;
  /** Records the audit events (and checks the permission again as it does). */
  service: ConfigService;
}

/** What an administrator asks for; `owner` defaults to the caller. */
export interface TokenRequest {
  name: string;
  owner?: string;
  roles: readonly string[];
  expiresAt?: string | Date;
}

export interface TokenAdmin {
  list(actor: Actor, filter?: { owner?: string }): Promise<TokenRecord[]>;
  create(actor: Actor, request: TokenRequest, options?: CallOptions): Promise<CreatedToken>;
  revoke(actor: Actor, id: string, options?: CallOptions): Promise<TokenRecord>;
}

export function createTokenAdmin({ store, rbac, service }: TokenAdminOptions): TokenAdmin {
  // A role may be put on a token when its creator holds every permission the role grants (anywhere),
  // so a token never raises its holder's rights.
  const assertGrantable = (actor: Actor, roles: readonly string[]) => {
    for (const role of roles) {
      const grants = rbac.roles.get(role);
      if (!grants) throw errors.constraint(`role ${JSON.stringify(role)} is not defined`);
      const missing = PERMISSIONS.find((p) => grants.some((g) => grantCovers(g, p)) && !rbac.can(actor, p));
      if (missing !== undefined) {
        throw new AccessDeniedError(
          `${actor.id} cannot create a token with role ${JSON.stringify(role)}: it grants ${missing}, which ${actor.id} does not hold`,
          'token:manage',
          actor.id,
        );
      }
    }
  };
  return {
    async list(actor, filter = {}) {
      rbac.check(actor, 'token:read');
      return store.list(filter.owner !== undefined ? { owner: filter.owner } : {});
    },
    async create(actor, request, options = {}) {
      rbac.check(actor, 'token:manage');
      if (!Array.isArray(request?.roles)) throw errors.constraint('a token needs a list of roles');
      assertGrantable(actor, request.roles);
      const created = await store.create({
        name: request.name,
        owner: request.owner ?? actor.id,
        roles: request.roles,
        ...(request.expiresAt !== undefined ? { expiresAt: request.expiresAt } : {}),
      });
      const { record } = created;
      await service.recordEvent(
        actor,
        {
          action: 'token.create',
          message: `API token ${record.id} "${record.name}" for ${record.owner}, roles ${record.roles.join(', ')}${record.expiresAt ? `, expires ${record.expiresAt}` : ''}`,
          permission: 'token:manage',
        },
        options,
      );
      return created;
    },
    async revoke(actor, id, options = {}) {
      rbac.check(actor, 'token:manage');
      const existing = await store.get(id);
      if (!existing) throw errors.notFound(`API token ${id} does not exist`);
      const revoked = await store.revoke(id, actor.id);
      await service.recordEvent(
        actor,
        {
          action: 'token.revoke',
          message: `API token ${id} "${existing.name}" of ${existing.owner}`,
          permission: 'token:manage',
        },
        options,
      );
      return revoked;
    },
  };
}
