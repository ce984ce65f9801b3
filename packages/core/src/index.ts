export * from './client/index.js';
export * from './errors/index.js';
export * from './model/index.js';
export * from './resolve/index.js';
export * from './rollout/index.js';
export * from './schema/index.js';
export * from './store/index.js';
export * from './util/index.js';
