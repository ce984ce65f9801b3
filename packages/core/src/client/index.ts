export { ConfigClient, createConfigClient } from './client.js';
export { compilePattern } from './pattern.js';
export { readSnapshot, type Snapshot, writeSnapshot } from './snapshot.js';
export type {
  CandidateValidator,
  ClientLogger,
  ClientOptions,
  ClientSecrets,
  ConfigChange,
  ResolveDetails,
} from './types.js';
