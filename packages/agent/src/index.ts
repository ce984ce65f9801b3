// PGlite's declarations use Emscripten's types without referencing them (see backends/src/pglite.ts).
/// <reference types="emscripten" preserve="true" />
export { Agent, type AgentOptions, type AgentStatus } from './agent.js';
export {
  type AgentConfig,
  type AppConfig,
  type ConsulConfig,
  checkSchedule,
  type DriftConfig,
  type EmbeddedConfig,
  type HttpConfig,
  type LeaderConfig,
  loadAgentConfig,
  type PostgresConfig,
  parseAgentConfig,
  type ReconcileConfig,
  type RenderConfig,
  type RenderFormat,
  resolveAgentConfig,
  type StoresConfig,
} from './config.js';
export {
  DRIFT_KINDS,
  type DriftFinding,
  type DriftKind,
  type DriftOptions,
  type DriftReport,
  detectDrift,
} from './drift.js';
export { type AgentEventMap, type AgentEventName, AgentEvents } from './events.js';
export { quoteEnvValue, renderConfig, renderEnv } from './format.js';
export { AgentHttpServer, etagOf, type HttpServerDeps, parseWait } from './http.js';
export {
  createConsulLeadership,
  createLocalLeadership,
  type GuardOp,
  type LeaderJobContext,
  type LeaderJobFn,
  type LeaderJobOptions,
  LeaderJobRunner,
  type LeaderJobStatus,
  type Leadership,
} from './leader.js';
export { type AgentMetrics, type AgentMetricsOptions, createAgentMetrics } from './metrics.js';
export { FileRenderer, writeFileAtomic } from './render.js';
export { type AgentExit, type RunAgentOptions, type RunningAgent, runAgent } from './run-agent.js';
export { type AgentStores, openRuntime, type Runtime, type RuntimeOptions, type RuntimeRole } from './runtime.js';
export { ServedClient } from './served.js';
export type { AgentLogger } from './util.js';
