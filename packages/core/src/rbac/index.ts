export { checkGrant, grantCovers, isPermission, PERMISSIONS, type Permission } from './permissions.js';
export {
  type AccessContext,
  AccessDeniedError,
  type Actor,
  BUILTIN_ROLES,
  checkActor,
  createRbac,
  type Rbac,
  type RbacDefinition,
  type RoleBinding,
  type RoleDefinition,
} from './rbac.js';
export { loadRbacFile, parseRbacYaml } from './yaml.js';
