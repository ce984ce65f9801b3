/**
 * The agent's Prometheus metrics, on a registry of its own (never prom-client's global one, so two
 * agents in one process do not collide). `/metrics` serves `registry.metrics()`.
 *
 * Other parts of the system (rotation schedules, approvals) increment the counters of the typed
 * {@link AgentMetrics} object that `agent.metrics` exposes.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface AgentMetrics {
  readonly registry: Registry;
  /** `summit_agent_config_changes_applied_total{app,environment}`: new versions applied by served clients. */
  readonly changesApplied: Counter<'app' | 'environment'>;
  /** `summit_agent_client_errors_total{app,environment,code}`: problems served clients handled (rejected versions, failed acks, watch errors). */
  readonly clientErrors: Counter<'app' | 'environment' | 'code'>;
  /** `summit_agent_propagation_seconds{app,environment}`: version `createdAt` to applied in this agent. */
  readonly propagation: Histogram<'app' | 'environment'>;
  /** `summit_agent_drift_total{kind}`: drift findings. */
  readonly drift: Counter<'kind'>;
  /** `summit_agent_drift_remediated_total{kind}`: findings repaired. */
  readonly driftRemediated: Counter<'kind'>;
  /** `summit_agent_drift_current{kind}`: findings of the last drift run. */
  readonly driftCurrent: Gauge<'kind'>;
  /** `summit_agent_drift_runs_total{result}`. */
  readonly driftRuns: Counter<'result'>;
  /** `summit_agent_reconcile_runs_total{result}`. */
  readonly reconcileRuns: Counter<'result'>;
  /** `summit_agent_reconcile_copied_total`: versions copied between tiers. */
  readonly reconcileCopied: Counter;
  /** `summit_agent_reconcile_conflicts_total`: conflicting versions re-appended. */
  readonly reconcileConflicts: Counter;
  /** `summit_agent_failovers_total{tier,from,to}`: circuit-breaker transitions. */
  readonly failovers: Counter<'tier' | 'from' | 'to'>;
  /** `summit_agent_tier_up{tier}`: 1 while a tier's breaker is closed. */
  readonly tierUp: Gauge<'tier'>;
  /** `summit_agent_unsynced_writes_total`: writes that reached fewer durable tiers than exist. */
  readonly unsyncedWrites: Counter;
  /** `summit_agent_divergent_refs`: refs the record and the mirror disagree on, awaiting repair. */
  readonly divergentRefs: Gauge;
  /** `summit_agent_renumbered_writes_total`: this process's writes re-appended under a new number after a partition. */
  readonly renumberedWrites: Counter;
  /** `summit_agent_mirror_resets_total`: the mirror came back without the chain's epoch (wiped) and was rebuilt. */
  readonly mirrorResets: Counter;
  /** `summit_agent_http_read_duration_seconds{status}`: `GET /v1/config/...` answered without waiting. */
  readonly readLatency: Histogram<'status'>;
  /** `summit_agent_http_requests_total{route,status}`. */
  readonly httpRequests: Counter<'route' | 'status'>;
  /** `summit_agent_long_polls`: long-poll requests being held. */
  readonly longPolls: Gauge;
  /** `summit_agent_leader`: 1 while this agent leads. */
  readonly leader: Gauge;
  /** `summit_agent_leader_transitions_total{to}`: `leader` or `follower`. */
  readonly leaderTransitions: Counter<'to'>;
  /** `summit_agent_leader_job_runs_total{job,result}`. */
  readonly jobRuns: Counter<'job' | 'result'>;
  /** `summit_agent_render_writes_total{result}`: rendered files written (`ok`) or failed. */
  readonly renderWrites: Counter<'result'>;
  /** `summit_agent_reload_runs_total{result}`: reload commands (`ok`, `failed`, `timeout`). */
  readonly reloads: Counter<'result'>;
  /** `summit_agent_rotations_total{result}`: for the rotation scheduler (`success`, `failed`). */
  readonly rotations: Counter<'result'>;
  /** `summit_agent_approvals_total{action}`: for the change service (`approved`, `rejected`, `applied`, `expired`). */
  readonly approvals: Counter<'action'>;
  /** `summit_agent_scheduled_applies_total{result}`: for scheduled applies run as leader jobs. */
  readonly scheduledApplies: Counter<'result'>;
}

export interface AgentMetricsOptions {
  /** Also collect prom-client's default process metrics (`summit_agent_process_*`, ...). Default true. */
  defaultMetrics?: boolean;
}

/** Creates the metrics on a new registry. */
export function createAgentMetrics(options: AgentMetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'summit_agent_' });
  const seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    changesApplied: new Counter({
      name: 'summit_agent_config_changes_applied_total',
      help: 'New configuration versions applied by the clients this agent serves',
      labelNames: ['app', 'environment'] as const,
      registers,
    }),
    clientErrors: new Counter({
      name: 'summit_agent_client_errors_total',
      help: 'Problems the served clients handled (a rejected version, a failed acknowledgement, a watch error), by code',
      labelNames: ['app', 'environment', 'code'] as const,
      registers,
    }),
    propagation: new Histogram({
      name: 'summit_agent_propagation_seconds',
      help: 'Time from a version being created (its createdAt) to this agent applying it',
      labelNames: ['app', 'environment'] as const,
      buckets: seconds,
      registers,
    }),
    drift: new Counter({
      name: 'summit_agent_drift_total',
      help: 'Drift findings, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    driftRemediated: new Counter({
      name: 'summit_agent_drift_remediated_total',
      help: 'Drift findings repaired, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    driftCurrent: new Gauge({
      name: 'summit_agent_drift_current',
      help: 'Findings of the last drift run, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    driftRuns: new Counter({
      name: 'summit_agent_drift_runs_total',
      help: 'Drift detection runs, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    reconcileRuns: new Counter({
      name: 'summit_agent_reconcile_runs_total',
      help: 'Reconciliation (anti-entropy) runs, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    reconcileCopied: new Counter({
      name: 'summit_agent_reconcile_copied_total',
      help: 'Versions copied between durable tiers by reconciliation',
      registers,
    }),
    reconcileConflicts: new Counter({
      name: 'summit_agent_reconcile_conflicts_total',
      help: 'Conflicting versions (same number, different content) re-appended by reconciliation',
      registers,
    }),
    failovers: new Counter({
      name: 'summit_agent_failovers_total',
      help: 'Circuit-breaker transitions of the store tiers',
      labelNames: ['tier', 'from', 'to'] as const,
      registers,
    }),
    tierUp: new Gauge({
      name: 'summit_agent_tier_up',
      help: '1 while the tier serves (breaker closed), 0 otherwise',
      labelNames: ['tier'] as const,
      registers,
    }),
    unsyncedWrites: new Counter({
      name: 'summit_agent_unsynced_writes_total',
      help: 'Writes that reached fewer durable tiers than exist (repaired by reconciliation)',
      registers,
    }),
    divergentRefs: new Gauge({
      name: 'summit_agent_divergent_refs',
      help: 'Refs the record (PostgreSQL) and the mirror (Consul) disagree on, awaiting repair',
      registers,
    }),
    renumberedWrites: new Counter({
      name: 'summit_agent_renumbered_writes_total',
      help: 'Writes of this process re-appended under a new number (made on the other side of a partition)',
      registers,
    }),
    mirrorResets: new Counter({
      name: 'summit_agent_mirror_resets_total',
      help: 'Times the mirror (Consul) came back without the chain epoch (wiped) and was rebuilt from the record',
      registers,
    }),
    readLatency: new Histogram({
      name: 'summit_agent_http_read_duration_seconds',
      help: 'Latency of HTTP config reads answered without a long-poll wait',
      labelNames: ['status'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    httpRequests: new Counter({
      name: 'summit_agent_http_requests_total',
      help: 'HTTP requests, by route and status',
      labelNames: ['route', 'status'] as const,
      registers,
    }),
    longPolls: new Gauge({ name: 'summit_agent_long_polls', help: 'Long-poll requests being held', registers }),
    leader: new Gauge({ name: 'summit_agent_leader', help: '1 while this agent is the leader', registers }),
    leaderTransitions: new Counter({
      name: 'summit_agent_leader_transitions_total',
      help: 'Leadership changes of this agent',
      labelNames: ['to'] as const,
      registers,
    }),
    jobRuns: new Counter({
      name: 'summit_agent_leader_job_runs_total',
      help: 'Leader job runs, by job and result',
      labelNames: ['job', 'result'] as const,
      registers,
    }),
    renderWrites: new Counter({
      name: 'summit_agent_render_writes_total',
      help: 'Rendered files written, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    reloads: new Counter({
      name: 'summit_agent_reload_runs_total',
      help: 'Reload commands run after rendering, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    rotations: new Counter({
      name: 'summit_agent_rotations_total',
      help: 'Secret rotations run by the agent, by result',
      labelNames: ['result'] as const,
      registers,
    }),
    approvals: new Counter({
      name: 'summit_agent_approvals_total',
      help: 'Change-request approval events handled by the agent, by action',
      labelNames: ['action'] as const,
      registers,
    }),
    scheduledApplies: new Counter({
      name: 'summit_agent_scheduled_applies_total',
      help: 'Scheduled applies run by the agent, by result',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}
