/**
 * Permission names and wildcard matching. A permission is `namespace:action` (some have three
 * segments, e.g. `config:audit:read`, and two are single words: `export`, `import`). A grant may end
 * in `*`: `config:*` covers every permission starting with `config:` (including `config:audit:read`),
 * and `*` covers everything except `actor:impersonate` (acting under another id), which is only held
 * when granted by name (`actor:impersonate` or `actor:*`).
 */
import { errors } from '../errors/config-error.js';

/** Every permission the change service checks. Grants are validated against this list. */
export const PERMISSIONS = [
  'config:read',
  'config:list',
  'config:write',
  'config:delete',
  'config:rollback',
  'config:audit:read',
  'approval:request',
  'approval:approve',
  'approval:apply',
  'approval:emergency',
  'schema:read',
  'schema:write',
  'env:read',
  'env:write',
  'policy:read',
  'policy:write',
  'secrets:read',
  'secrets:write',
  'secrets:rotate',
  'rotation:read',
  'rotation:write',
  'rollout:step',
  'export',
  'import',
  'token:read',
  'token:manage',
  'actor:impersonate',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

const KNOWN = new Set<string>(PERMISSIONS);
const GRANT = /^(\*|[a-z]+(:[a-z]+)*(:\*)?)$/;

/** Permissions the bare `*` grant does not cover: they must be granted by name (or `<namespace>:*`). */
export const EXPLICIT_PERMISSIONS: readonly string[] = ['actor:impersonate'];

/** Whether `grant` (an exact permission or a wildcard) covers `permission`. */
export function grantCovers(grant: string, permission: string): boolean {
  if (grant === permission) return true;
  if (grant === '*') return !EXPLICIT_PERMISSIONS.includes(permission);
  if (grant.endsWith(':*')) return permission.startsWith(grant.slice(0, -1));
  return false;
}

/** Whether `name` is a permission the service knows. */
export function isPermission(name: unknown): name is Permission {
  return typeof name === 'string' && KNOWN.has(name);
}

/**
 * Validates one grant: an exact known permission, or a wildcard that covers at least one known
 * permission (so typos such as `confg:*` are refused). Throws `CONSTRAINT_VIOLATION`.
 */
export function checkGrant(grant: unknown, where = 'permission'): string {
  if (typeof grant !== 'string' || !GRANT.test(grant)) {
    throw errors.constraint(`${where}: ${JSON.stringify(grant)} is not a permission (e.g. "config:read", "config:*")`);
  }
  if (grant.includes('*')) {
    if (!PERMISSIONS.some((p) => grantCovers(grant, p))) {
      throw errors.constraint(`${where}: wildcard ${JSON.stringify(grant)} covers no known permission`);
    }
  } else if (!KNOWN.has(grant)) {
    throw errors.constraint(`${where}: unknown permission ${JSON.stringify(grant)}`);
  }
  return grant;
}
