/**
 * Role-based access control for the change service: deny by default. An actor holds roles directly
 * (`actor.roles`, valid everywhere) and through bindings (users or groups -> roles, optionally only
 * for some scopes). A role is a list of grants (`config:read`, `config:*`, `*`).
 */

import { checkAuditOrigin } from '../audit/origin.js';
import type { AuditOrigin } from '../audit/types.js';
import { ConfigError, type ErrorContext, errors } from '../errors/config-error.js';
import { isPlainObject } from '../model/json.js';
import { parseScope, type Scope } from '../model/ref.js';
import { checkGrant, grantCovers, type Permission } from './permissions.js';

/** How a principal proved who it is. */
export type PrincipalKind = 'os-user' | 'token' | 'oidc';
export const PRINCIPAL_KINDS: readonly PrincipalKind[] = ['os-user', 'token', 'oidc'];

/**
 * An authenticated identity: who acts and the credential that proved it. In direct mode (the CLI
 * holding the store credentials) it is the OS user (`kind: 'os-user'`, `credential:
 * 'os-user:<uid>@<host>'`); a server will build it from a token (`token:<token id>`) or an OIDC
 * login (`oidc:<issuer>#<subject>`).
 */
export interface Principal {
  /** The id recorded in versions and the audit trail. */
  readonly id: string;
  readonly kind: PrincipalKind;
  /**
   * Stable id of the credential (never the secret itself). Two decisions with one credential are one
   * person's: the no-self-approval rule and the distinct-approver count compare credentials.
   */
  readonly credential: string;
  readonly roles?: readonly string[];
  readonly groups?: readonly string[];
  /** Set when the principal acts under another id: the id of the one holding `actor:impersonate`. */
  readonly impersonatedBy?: string;
}

/**
 * Who is calling, as the change service takes it: a {@link Principal}, or (library callers that
 * authenticate themselves) just an id and roles. `roles` apply everywhere; bindings may add more (see
 * {@link RoleBinding}). Without `credential` the id stands for the credential (`id:<id>`).
 */
export interface Actor {
  /** User or service id, 1-256 characters (recorded in versions and the audit trail). */
  readonly id: string;
  /** Roles held directly, e.g. from an identity provider's claims. */
  readonly roles?: readonly string[];
  /** Groups the actor belongs to, matched against bindings' `groups`. */
  readonly groups?: readonly string[];
  readonly kind?: PrincipalKind;
  /** Stable id of the credential that authenticated the actor (see {@link Principal}). */
  readonly credential?: string;
  /** The principal that acts under this id (`actor:impersonate`), recorded in the audit trail. */
  readonly impersonatedBy?: string;
  /**
   * Where this actor's call came from, set by a server for the request it serves (remote address,
   * user agent, request id; the authentication method and token id). The change service records it
   * in every audit event of the call. Not used for any access decision.
   */
  readonly origin?: AuditOrigin;
}

/** The credential an actor's decisions are compared by: its own, else `id:<id>`. */
export function credentialOf(actor: { id: string; credential?: string }): string {
  return actor.credential ?? `id:${actor.id}`;
}

export interface RoleDefinition {
  /** Grants: permission names or wildcards (`config:*`, `*`). */
  permissions: string[];
  description?: string;
}

/** Gives `roles` to `users` and members of `groups`, everywhere or only within `scopes`. */
export interface RoleBinding {
  users?: string[];
  groups?: string[];
  roles: string[];
  /** Only for refs of these scopes (`global`, `app:<name>`). Omitted: everywhere. */
  scopes?: string[];
}

/** The content of a role-bindings file. Custom roles may not redefine the built-in ones. */
export interface RbacDefinition {
  roles?: Record<string, RoleDefinition | string[]>;
  bindings?: RoleBinding[];
}

/** Seed 002's roles, always defined. */
export const BUILTIN_ROLES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'config-reader': Object.freeze(['config:read', 'config:list', 'config:audit:read', 'schema:read', 'env:read']),
  'config-admin': Object.freeze(['config:*', 'approval:*', 'schema:*', 'env:*', 'policy:read', 'export']),
  'secrets-admin': Object.freeze(['secrets:*', 'rotation:*']),
});

/** `ACCESS_DENIED`, naming the permission that is missing. */
export class AccessDeniedError extends ConfigError<'ACCESS_DENIED'> {
  readonly permission: string;
  readonly actor: string | undefined;
  constructor(message: string, permission: string, actor: string | undefined, options: ErrorContext = {}) {
    super('ACCESS_DENIED', message, options);
    this.name = 'AccessDeniedError';
    this.permission = permission;
    this.actor = actor;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), permission: this.permission, actor: this.actor };
  }
}

/** Where a resource lives, for scoped bindings. */
export interface AccessContext {
  /** The scope of the ref concerned; omitted for operations not about one ref. */
  scope?: Scope;
  /** `<scope>/<id>`, for the message. */
  ref?: string;
}

export interface Rbac {
  /** Every role (built-in and custom) -> its grants. */
  readonly roles: ReadonlyMap<string, readonly string[]>;
  /** The roles `actor` holds for `scope` (direct roles, plus bindings that apply there). */
  rolesOf(actor: Actor, scope?: Scope): Set<string>;
  /** Whether `actor` holds `permission` for `scope`. Never throws for a well-formed actor. */
  can(actor: Actor, permission: Permission, scope?: Scope): boolean;
  /** Throws {@link AccessDeniedError} naming `permission` unless `actor` holds it. */
  check(actor: Actor, permission: Permission, context?: AccessContext): void;
}

/** A problem in a definition, located by its path (e.g. `["bindings", 0, "roles", 1]`). */
export class RbacFieldError extends Error {
  readonly path: readonly (string | number)[];
  constructor(path: readonly (string | number)[], message: string) {
    super(message);
    this.path = path;
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || '(root)';
}

function stringList(value: unknown, path: (string | number)[], what: string): string[] {
  if (!Array.isArray(value)) throw new RbacFieldError(path, `${what} must be a list of strings`);
  return value.map((v, i) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) {
      throw new RbacFieldError([...path, i], `${what} entries must be strings of 1-256 characters`);
    }
    return v;
  });
}

const ROLE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * Validates a definition; throws {@link RbacFieldError} naming the first bad field. Returns the
 * normalised roles (custom and built-in) and bindings.
 */
export function normaliseDefinition(raw: unknown): {
  roles: Map<string, readonly string[]>;
  bindings: RoleBinding[];
} {
  const roles = new Map<string, readonly string[]>(Object.entries(BUILTIN_ROLES));
  const bindings: RoleBinding[] = [];
  if (raw === undefined || raw === null) return { roles, bindings };
  if (!isPlainObject(raw))
    throw new RbacFieldError([], 'the role definition must be a mapping with roles and bindings');
  for (const key of Object.keys(raw)) {
    if (key !== 'roles' && key !== 'bindings') {
      throw new RbacFieldError([key], `unknown field "${key}" (expected "roles" and "bindings")`);
    }
  }
  if (raw.roles !== undefined && raw.roles !== null) {
    if (!isPlainObject(raw.roles)) throw new RbacFieldError(['roles'], 'roles must be a mapping of role name -> role');
    for (const [name, def] of Object.entries(raw.roles)) {
      const path: (string | number)[] = ['roles', name];
      if (!ROLE_NAME.test(name)) throw new RbacFieldError(path, `role name "${name}" must match [A-Za-z0-9_.-]{1,128}`);
      if (Object.hasOwn(BUILTIN_ROLES, name)) throw new RbacFieldError(path, `role "${name}" is built in`);
      let grants: unknown;
      if (Array.isArray(def)) grants = def;
      else if (isPlainObject(def)) {
        for (const key of Object.keys(def)) {
          if (key !== 'permissions' && key !== 'description') {
            throw new RbacFieldError([...path, key], `unknown field "${key}" (expected "permissions", "description")`);
          }
        }
        if (def.description !== undefined && typeof def.description !== 'string') {
          throw new RbacFieldError([...path, 'description'], 'description must be a string');
        }
        grants = def.permissions;
        path.push('permissions');
      } else {
        throw new RbacFieldError(path, 'a role is a list of permissions or a mapping with "permissions"');
      }
      const list = stringList(grants, path, 'permissions');
      list.forEach((grant, i) => {
        try {
          checkGrant(grant, `role "${name}"`);
        } catch (error) {
          throw new RbacFieldError([...path, i], (error as Error).message);
        }
      });
      roles.set(name, Object.freeze(list));
    }
  }
  if (raw.bindings !== undefined && raw.bindings !== null) {
    if (!Array.isArray(raw.bindings)) throw new RbacFieldError(['bindings'], 'bindings must be a list');
    raw.bindings.forEach((b: unknown, i: number) => {
      const path = ['bindings', i];
      if (!isPlainObject(b)) throw new RbacFieldError(path, 'a binding is a mapping with users/groups and roles');
      for (const key of Object.keys(b)) {
        if (!['users', 'groups', 'roles', 'scopes'].includes(key)) {
          throw new RbacFieldError(
            [...path, key],
            `unknown field "${key}" (expected "users", "groups", "roles", "scopes")`,
          );
        }
      }
      const binding: RoleBinding = { roles: stringList(b.roles, [...path, 'roles'], 'roles') };
      if (binding.roles.length === 0) throw new RbacFieldError([...path, 'roles'], 'a binding needs at least one role');
      binding.roles.forEach((role, j) => {
        if (!roles.has(role)) throw new RbacFieldError([...path, 'roles', j], `unknown role "${role}"`);
      });
      if (b.users !== undefined) binding.users = stringList(b.users, [...path, 'users'], 'users');
      if (b.groups !== undefined) binding.groups = stringList(b.groups, [...path, 'groups'], 'groups');
      if ((binding.users?.length ?? 0) + (binding.groups?.length ?? 0) === 0) {
        throw new RbacFieldError(path, 'a binding needs at least one user or group');
      }
      if (b.scopes !== undefined) {
        binding.scopes = stringList(b.scopes, [...path, 'scopes'], 'scopes');
        binding.scopes.forEach((scope, j) => {
          try {
            parseScope(scope);
          } catch (error) {
            throw new RbacFieldError([...path, 'scopes', j], (error as Error).message);
          }
        });
      }
      bindings.push(binding);
    });
  }
  return { roles, bindings };
}

/** Checks the shape of an actor; throws `CONSTRAINT_VIOLATION` naming the bad field. */
export function checkActor(actor: unknown): Actor {
  if (!isPlainObject(actor)) throw errors.constraint('actor must be an object { id, roles }');
  const { id, roles, groups, kind, credential, impersonatedBy, origin } = actor;
  checkAuditOrigin(origin, 'actor.origin');
  const text = (v: unknown) =>
    typeof v === 'string' && v.length > 0 && v.length <= 256 && !v.includes('\u0000') && v.isWellFormed();
  if (!text(id)) {
    throw errors.constraint('actor.id must be a well-formed string of 1-256 characters without NUL');
  }
  if (kind !== undefined && !PRINCIPAL_KINDS.includes(kind as PrincipalKind)) {
    throw errors.constraint(`actor.kind must be one of ${PRINCIPAL_KINDS.join(', ')}`);
  }
  for (const [name, value] of [
    ['credential', credential],
    ['impersonatedBy', impersonatedBy],
  ] as const) {
    if (value !== undefined && !text(value)) {
      throw errors.constraint(`actor.${name} must be a well-formed string of 1-256 characters without NUL`);
    }
  }
  for (const [name, list] of [
    ['roles', roles],
    ['groups', groups],
  ] as const) {
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.some((r) => typeof r !== 'string')) {
      throw errors.constraint(`actor.${name} must be a list of strings`);
    }
  }
  return actor as unknown as Actor;
}

/**
 * Builds the access checker from a definition (the built-in roles are always there). Throws
 * `CONSTRAINT_VIOLATION` naming the bad field.
 */
export function createRbac(definition?: RbacDefinition): Rbac {
  let normal: ReturnType<typeof normaliseDefinition>;
  try {
    normal = normaliseDefinition(definition);
  } catch (error) {
    if (error instanceof RbacFieldError) {
      throw errors.constraint(`role definition, field ${formatPath(error.path)}: ${error.message}`);
    }
    throw error;
  }
  const { roles, bindings } = normal;

  function rolesOf(actor: Actor, scope?: Scope): Set<string> {
    const out = new Set<string>();
    for (const role of actor.roles ?? []) if (roles.has(role)) out.add(role);
    const groups = actor.groups ?? [];
    for (const b of bindings) {
      if (b.scopes !== undefined && (scope === undefined || !b.scopes.includes(scope))) continue;
      const applies = b.users?.includes(actor.id) || groups.some((g) => b.groups?.includes(g));
      if (applies) for (const role of b.roles) out.add(role);
    }
    return out;
  }

  function can(actor: Actor, permission: Permission, scope?: Scope): boolean {
    for (const role of rolesOf(actor, scope)) {
      for (const grant of roles.get(role) ?? []) if (grantCovers(grant, permission)) return true;
    }
    return false;
  }

  return {
    roles,
    rolesOf,
    can,
    check(actorInput, permission, context = {}) {
      const actor = checkActor(actorInput);
      if (can(actor, permission, context.scope)) return;
      const held = [...rolesOf(actor, context.scope)];
      const on = context.ref !== undefined ? ` on ${context.ref}` : context.scope ? ` in ${context.scope}` : '';
      throw new AccessDeniedError(
        `access denied: ${actor.id} lacks permission ${permission}${on} (roles: ${held.length > 0 ? held.join(', ') : 'none'})`,
        permission,
        actor.id,
        { ref: context.ref },
      );
    },
  };
}

/**
 * `principal` acting as `id` (`--actor`, `SUMMIT_ACTOR`): allowed only when the principal holds
 * `actor:impersonate` (granted by name; `*` does not cover it), else `ACCESS_DENIED` naming it. The
 * returned actor keeps the principal's credential, so its decisions still count as the principal's,
 * and names it in `impersonatedBy`. Acting as oneself is no impersonation.
 */
export function impersonate(rbac: Rbac, principal: Principal, id: string): Actor {
  if (id === principal.id) return principal;
  const { roles: _roles, groups: _groups, ...self } = principal;
  checkActor({ ...self, id });
  if (!rbac.can(principal, 'actor:impersonate')) {
    throw new AccessDeniedError(
      `access denied: ${principal.id} may not act as ${id}: acting under another id (--actor, SUMMIT_ACTOR) needs permission actor:impersonate`,
      'actor:impersonate',
      principal.id,
    );
  }
  return { id, kind: principal.kind, credential: principal.credential, impersonatedBy: principal.id };
}
