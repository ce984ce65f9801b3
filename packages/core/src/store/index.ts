export type {
  AppendOptions,
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
export type { ExtendOptions, MirrorLag, PendingAppend, ProvisionalVersion } from './roles.js';
export { type AppendNextOptions, appendNext, type RollbackOptions, rollbackTo } from './write.js';
