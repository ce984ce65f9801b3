export type {
  AppliedAck,
  ConfigStore,
  HeadChange,
  HeadListener,
  ListQuery,
  ReadOptions,
  ReadSource,
  StoreCapabilities,
  Unwatch,
  WatchOptions,
  WriteFence,
} from './contract.js';
export { compareHeads, headChange } from './heads.js';
export { type AppendNextOptions, appendNext, type RollbackOptions, rollbackTo } from './write.js';
