// Stores that load no driver. Drivers live behind subpath exports: ./consul, ./postgres, ./pglite.
export {
  type BreakerState,
  createFailoverStore,
  type FailoverEvent,
  type FailoverOptions,
  type FailoverStatus,
  type FailoverStore,
  type TierStatus,
} from './failover.js';
export { createMemoryStore, type MemoryStore, type MemoryStoreOptions, type MemoryStoreStats } from './memory.js';
export {
  type CopiedVersion,
  type ReconcileConflict,
  type ReconcileOptions,
  type ReconcileReport,
  reconcile,
} from './reconcile.js';
