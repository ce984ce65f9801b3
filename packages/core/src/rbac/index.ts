export {
  checkGrant,
  EXPLICIT_PERMISSIONS,
  grantCovers,
  isPermission,
  PERMISSIONS,
  type Permission,
} from './permissions.js';
export {
  type AccessContext,
  AccessDeniedError,
  type Actor,
  BUILTIN_ROLES,
  checkActor,
  createRbac,
  credentialOf,
  impersonate,
  PRINCIPAL_KINDS,
  type Principal,
  type PrincipalKind,
  type Rbac,
  type RbacDefinition,
  type RoleBinding,
  type RoleDefinition,
} from './rbac.js';
export { loadRbacFile, parseRbacYaml } from './yaml.js';
