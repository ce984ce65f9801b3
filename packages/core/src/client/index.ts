export {
  type CandidateValidator,
  type ClientLogger,
  type ClientOptions,
  type ClientSecrets,
  type ConfigChange,
  ConfigClient,
  createConfigClient,
  type ResolveDetails,
} from './client.js';
export { compilePattern } from './pattern.js';
export { readSnapshot, type Snapshot, writeSnapshot } from './snapshot.js';
