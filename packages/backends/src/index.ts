// Stores that load no driver. Drivers live behind subpath exports: ./consul, ./postgres, ./pglite.
export { createMemoryStore, type MemoryStoreOptions } from './memory.js';
