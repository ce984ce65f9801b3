export {
  type CompatibilityReport,
  checkCompatibility,
  type SchemaChange,
  type SchemaChangeKind,
} from './compatibility.js';
export { schemaDefaults } from './defaults.js';
export {
  type DocumentCheck,
  issuesFromAjv,
  type PublishOptions,
  type PublishReport,
  SchemaCompatibilityError,
  type SchemaPersistence,
  SchemaPublishValidationError,
  SchemaRegistry,
  type SchemaRegistryOptions,
  type SchemaVersion,
} from './registry.js';
export { deref as derefSchema, propertySchema } from './walk.js';
