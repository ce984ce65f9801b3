/**
 * The agent's Prometheus metrics, on a registry of its own (never prom-client's global one, so two
 * agents in one process do not collide). `/metrics` serves `registry.metrics()`.
 *
 * Other parts of the system (rotation schedules, approvals) increment the counters of the typed
 * {@link AgentMetrics} object that `agent.metrics` exposes.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The agent's metrics: the registry, and one typed metric a property (see `createAgentMetrics`). */
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;

export interface AgentMetricsOptions {
  /** Also collect prom-client's default process metrics (`summit_agent_process_*`, ...). Default true. */
  defaultMetrics?: boolean;
}

/**
 * What the agent's stores report on each scrape (the runtime's `stats()`): the cache tier's read
 * counts since it was created and each PostgreSQL pool's connections now.
 */
export interface StoreStatsSource {
  readonly cache: { readonly hits: number; readonly misses: number; readonly evictions: number; readonly size: number };
  readonly pools: ReadonlyArray<{
    readonly pool: string;
    readonly stats: { readonly total: number; readonly idle: number; readonly waiting: number; readonly max: number };
  }>;
}

/** Creates the metrics on a new registry. */
export function createAgentMetrics(options: AgentMetricsOptions = {}) {
  const registry = new Registry();
  /** Read on every scrape by the cache and pool metrics; set by `observeStores`. */
  let storeStats: (() => StoreStatsSource | undefined) | undefined;
  const readStats = (): StoreStatsSource | undefined => {
    try {
      return storeStats?.();
    } catch {
      return undefined; // a scrape never fails on a store that went away
    }
  };
  /** A counter whose value is a running total read from the stores on each scrape. */
  const totalFromStores = (name: string, help: string, read: (s: StoreStatsSource) => number) =>
    new Counter({
      name: `summit_agent_${name}`,
      help,
      registers: [registry],
      collect() {
        const s = readStats();
        if (!s) return;
        this.reset();
        this.inc(read(s));
      },
    });
  const registers = [registry];
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'summit_agent_' });
  const seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const named = (name: string) => `summit_agent_${name}`;
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name: named(name), help, labelNames, registers });
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name: named(name), help, labelNames, registers });
  const histogram = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Histogram<L>({ name: named(name), help, labelNames, buckets: seconds, registers });
  return {
    registry,
    /** `summit_agent_config_changes_applied_total{app,environment}`: new versions applied by served clients. */
    changesApplied: counter(
      'config_changes_applied_total',
      'New configuration versions applied by the clients this agent serves',
      ['app', 'environment'],
    ),
    /** `summit_agent_client_errors_total{app,environment,code}`: problems served clients handled (rejected versions, failed acks, watch errors). */
    clientErrors: counter(
      'client_errors_total',
      'Problems the served clients handled (a rejected version, a failed acknowledgement, a watch error), by code',
      ['app', 'environment', 'code'],
    ),
    /** `summit_agent_versions_rejected_total{app,environment,code}`: versions a served client refused (schema, signature, secret); the last good value stayed. */
    versionsRejected: counter(
      'versions_rejected_total',
      'Versions the served clients refused (invalid, unsigned, or a secret that cannot be read): the last good value stayed',
      ['app', 'environment', 'code'],
    ),
    /** `summit_agent_propagation_seconds{app,environment}`: version `createdAt` to applied in this agent. */
    propagation: histogram(
      'propagation_seconds',
      'Time from a version being created (its createdAt) to this agent applying it',
      ['app', 'environment'],
    ),
    /** `summit_agent_drift_total{kind}`: drift findings. */
    drift: counter('drift_total', 'Drift findings, by kind', ['kind']),
    /** `summit_agent_drift_remediated_total{kind}`: findings repaired. */
    driftRemediated: counter('drift_remediated_total', 'Drift findings repaired, by kind', ['kind']),
    /** `summit_agent_drift_current{kind}`: findings of the last drift run. */
    driftCurrent: gauge('drift_current', 'Findings of the last drift run, by kind', ['kind']),
    /** `summit_agent_drift_runs_total{result}`. */
    driftRuns: counter('drift_runs_total', 'Drift detection runs, by result', ['result']),
    /** `summit_agent_reconcile_runs_total{result}`. */
    reconcileRuns: counter('reconcile_runs_total', 'Reconciliation (anti-entropy) runs, by result', ['result']),
    /** `summit_agent_reconcile_copied_total`: versions copied between tiers. */
    reconcileCopied: counter('reconcile_copied_total', 'Versions copied between durable tiers by reconciliation'),
    /** `summit_agent_reconcile_conflicts_total`: conflicting versions re-appended. */
    reconcileConflicts: counter(
      'reconcile_conflicts_total',
      'Conflicting versions (same number, different content) re-appended by reconciliation',
    ),
    /** `summit_agent_failovers_total{tier,from,to}`: circuit-breaker transitions. */
    failovers: counter('failovers_total', 'Circuit-breaker transitions of the store tiers', ['tier', 'from', 'to']),
    /** `summit_agent_store_tls_errors_total{tier}`: a tier's breaker opened on a failed TLS handshake. */
    storeTlsErrors: counter(
      'store_tls_errors_total',
      'Times a store tier was taken out of service by a failed TLS handshake (unknown CA, refused client certificate, name mismatch)',
      ['tier'],
    ),
    /** `summit_agent_tier_up{tier}`: 1 while a tier's breaker is closed. */
    tierUp: gauge('tier_up', '1 while the tier serves (breaker closed), 0 otherwise', ['tier']),
    /** `summit_agent_unsynced_writes_total`: writes that reached fewer durable tiers than exist. */
    unsyncedWrites: counter(
      'unsynced_writes_total',
      'Writes that reached fewer durable tiers than exist (repaired by reconciliation)',
    ),
    /** `summit_agent_divergent_refs`: refs the record and the mirror disagree on, awaiting repair. */
    divergentRefs: gauge(
      'divergent_refs',
      'Refs the record (PostgreSQL) and the mirror (Consul) disagree on, awaiting repair',
    ),
    /** `summit_agent_renumbered_writes_total`: this process's writes re-appended under a new number after a partition. */
    renumberedWrites: counter(
      'renumbered_writes_total',
      'Writes of this process re-appended under a new number (made on the other side of a partition)',
    ),
    /** `summit_agent_mirror_resets_total`: the mirror came back without the chain's epoch (wiped) and was rebuilt. */
    mirrorResets: counter(
      'mirror_resets_total',
      'Times the mirror (Consul) came back without the chain epoch (wiped) and was rebuilt from the record',
    ),
    /** `summit_agent_http_read_duration_seconds{status}`: `GET /v1/config/...` answered without waiting. */
    readLatency: new Histogram({
      name: named('http_read_duration_seconds'),
      help: 'Latency of HTTP config reads answered without a long-poll wait',
      labelNames: ['status'] as const,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    /**
     * `summit_agent_store_read_duration_seconds{operation,result}`: reads the served clients make
     * through the store chain (their start, a version the watch did not deliver); `result` is `ok` or `error`.
     */
    storeReads: histogram(
      'store_read_duration_seconds',
      'Latency of the reads the served clients make through the store chain (their start, a version the watch did not deliver), by operation and result',
      ['operation', 'result'],
    ),
    /** `summit_agent_http_requests_total{route,status}`. */
    httpRequests: counter('http_requests_total', 'HTTP requests, by route and status', ['route', 'status']),
    /** `summit_agent_long_polls`: long-poll requests being held. */
    longPolls: gauge('long_polls', 'Long-poll requests being held'),
    /** `summit_agent_leader`: 1 while this agent leads. */
    leader: gauge('leader', '1 while this agent is the leader'),
    /** `summit_agent_leader_transitions_total{to}`: `leader` or `follower`. */
    leaderTransitions: counter('leader_transitions_total', 'Leadership changes of this agent', ['to']),
    /** `summit_agent_leader_job_runs_total{job,result}`. */
    jobRuns: counter('leader_job_runs_total', 'Leader job runs, by job and result', ['job', 'result']),
    /** `summit_agent_gitops_events_total{kind}`: what the gitops sync loop reported (`applied`, `blocked`, `conflict`, `drift`, `reverted`, `error`). */
    gitopsEvents: counter(
      'gitops_events_total',
      'Reports of the gitops sync loop (a commit applied, a force push blocked, a conflict, drift, a revert, an error), by kind',
      ['kind'],
    ),
    /** `summit_agent_gitops_blocked`: 1 while the gitops sync loop waits for an accepted commit after a force push. */
    gitopsBlocked: gauge(
      'gitops_blocked',
      '1 while the gitops sync loop is blocked by a force push (until a commit is accepted)',
    ),
    /** `summit_agent_render_writes_total{result}`: rendered files written (`ok`) or failed. */
    renderWrites: counter('render_writes_total', 'Rendered files written, by result', ['result']),
    /** `summit_agent_reload_runs_total{result}`: reload commands (`ok`, `failed`, `timeout`). */
    reloads: counter('reload_runs_total', 'Reload commands run after rendering, by result', ['result']),
    /** `summit_agent_rotations_total{result}`: for the rotation scheduler (`success`, `failed`). */
    rotations: counter('rotations_total', 'Secret rotations run by the agent, by result', ['result']),
    /** `summit_agent_approvals_total{action}`: for the change service (`approved`, `rejected`, `applied`, `expired`). */
    approvals: counter('approvals_total', 'Change-request approval events handled by the agent, by action', ['action']),
    /** `summit_agent_cache_hits_total`: reads the failover chain's cache tier answered with a document (read on scrape). */
    cacheHits: totalFromStores(
      'cache_hits_total',
      "Reads the store chain's in-memory cache tier answered with a document (only asked while no durable tier answers)",
      (s) => s.cache.hits,
    ),
    /** `summit_agent_cache_misses_total`: reads of the cache tier that found nothing (read on scrape). */
    cacheMisses: totalFromStores(
      'cache_misses_total',
      "Reads of the store chain's in-memory cache tier that found nothing (never held, or evicted)",
      (s) => s.cache.misses,
    ),
    /** `summit_agent_cache_evictions_total`: documents the cache tier evicted as least recently used. */
    cacheEvictions: totalFromStores(
      'cache_evictions_total',
      "Documents the store chain's cache tier evicted as least recently used",
      (s) => s.cache.evictions,
    ),
    /** `summit_agent_cache_documents`: documents the cache tier holds now (read on scrape). */
    cacheDocuments: new Gauge({
      name: named('cache_documents'),
      help: "Documents the store chain's in-memory cache tier holds now",
      registers,
      collect() {
        const s = readStats();
        if (s) this.set(s.cache.size);
      },
    }),
    /** `summit_agent_pg_pool_connections{pool,state}`: each PostgreSQL pool's `total`, `idle`, `waiting` now. */
    pgPoolConnections: new Gauge({
      name: named('pg_pool_connections'),
      help: 'Connections of each PostgreSQL pool the agent opened (store, governance, secrets), by state: total open, idle, and callers waiting for one',
      labelNames: ['pool', 'state'] as const,
      registers,
      collect() {
        const s = readStats();
        if (!s) return;
        this.reset();
        // Several handles of one kind (two secrets pools) add up under one label.
        for (const { pool, stats } of s.pools) {
          this.inc({ pool, state: 'total' }, stats.total);
          this.inc({ pool, state: 'idle' }, stats.idle);
          this.inc({ pool, state: 'waiting' }, stats.waiting);
        }
      },
    }),
    /** `summit_agent_pg_pool_max_connections{pool}`: the most connections each pool opens (summed over the pools of one kind). */
    pgPoolMax: new Gauge({
      name: named('pg_pool_max_connections'),
      help: 'The most connections each PostgreSQL pool the agent opened may hold',
      labelNames: ['pool'] as const,
      registers,
      collect() {
        const s = readStats();
        if (!s) return;
        this.reset();
        for (const { pool, stats } of s.pools) this.inc({ pool }, stats.max);
      },
    }),
    /**
     * Makes the cache and pool metrics read `source` on every scrape (the agent passes its runtime's
     * `stats()`). A source that throws leaves those metrics as they were.
     */
    observeStores(source: () => StoreStatsSource | undefined): void {
      storeStats = source;
    },
    /** `summit_agent_scheduled_applies_total{result}`: for scheduled applies run as leader jobs. */
    scheduledApplies: counter('scheduled_applies_total', 'Scheduled applies run by the agent, by result', ['result']),
  };
}
