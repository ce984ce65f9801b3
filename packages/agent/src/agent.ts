/**
 * The sidecar agent: stores, leadership, leader jobs (reconciliation, drift), served clients, file
 * rendering and the HTTP API, with a bounded graceful shutdown.
 *
 *   const agent = new Agent({ config: await loadAgentConfig('agent.yaml'), logger });
 *   await agent.start();
 *   agent.registerLeaderJob('rotate-db', '0 3 * * *', async ({ signal, fencingToken }) => { ... });
 *   await agent.close();
 *
 * `runAgent()` (run-agent.ts) does the same and also wires SIGTERM/SIGINT; the CLI calls it.
 */
import { hostname } from 'node:os';
import type { FailoverEvent, FailoverStore } from '@summit-config/backends';
import type { ConfigClient, ConfigError, WriteFence } from '@summit-config/core';
import { errors, Lifecycle } from '@summit-config/core/internal';
import type { AgentFeed } from './agent-feed.js';
import type { AgentConfig } from './config.js';
import { DRIFT_KINDS, type DriftFinding, type DriftReport, detectDrift } from './drift.js';
import { AgentEvents } from './events.js';
import type { GitopsSyncStatus } from './gitops/sync.js';
import { type AgentGitopsSync, gitopsServerOptions } from './gitops/sync-agent.js';
import type { Governance } from './governance.js';
import { AgentHttpServer } from './http.js';
import type { DriftAuditor } from './job-audit.js';
import {
  createConsulLeadership,
  createLocalLeadership,
  type LeaderJobFn,
  type LeaderJobOptions,
  LeaderJobRunner,
  type LeaderJobStatus,
  type Leadership,
} from './leader.js';
import { openLeaderServices } from './leader-services.js';
import { type AgentMetrics, createAgentMetrics } from './metrics.js';
import { osPrincipal } from './os-user.js';
import type { FileRenderer } from './render.js';
import { type AgentStores, openRuntime } from './runtime.js';
import { type ServingServer, serveConfigServer } from './serve.js';
import type { ServedClient } from './served.js';
import { openServedSetup, type ServedSetup, startServedClients } from './served-setup.js';
import { observeStoreEvent } from './store-events.js';
import { type AgentLogger, settleWithin, toConfigError } from './util.js';

export interface AgentOptions {
  config: AgentConfig;
  /** A pino-compatible logger; the agent itself never writes to the console. Default: silent. */
  logger?: AgentLogger;
  /**
   * Builds the store chain instead of `config.stores` (embedding, tests). The agent owns what it
   * returns and closes it. Default: {@link openRuntime} for the `agent` role.
   */
  stores?: (onEvent: (event: FailoverEvent) => void) => Promise<AgentStores> | AgentStores;
  /** Leadership instead of the Consul lock / local leadership chosen from the config (tests). */
  leadership?: Leadership;
  /** Metrics to use (e.g. shared with the embedding process). Default: a new registry. */
  metrics?: AgentMetrics;
}

export interface AgentStatus {
  instance: string;
  startedAt: string | undefined;
  leader: { leading: boolean; kind: 'consul' | 'local' | undefined; fencingToken: number | undefined };
  stores: ReturnType<FailoverStore['status']> | undefined;
  tiers: readonly string[];
  clients: Array<{ app: string; environment: string; ready: boolean; ids: number; error?: string }>;
  jobs: LeaderJobStatus[];
  renders: Array<{ path: string; id: string; app: string; environment: string; reloads: number }>;
  /** The bound address and the long-poll requests being held. */
  http: { host: string; port: number; longPolls: number } | undefined;
  /** The gitops sync loop (`gitops` section), when configured. */
  gitops?: GitopsSyncStatus;
}

interface PendingJob {
  name: string;
  schedule: number | string;
  fn: LeaderJobFn;
  options: LeaderJobOptions | undefined;
  remove: (() => void) | undefined;
  cancelled: boolean;
}

export class Agent implements AsyncDisposable {
  readonly config: AgentConfig;
  /** Typed events: drift, leader, applied, rendered, reload, job, store, error ... */
  readonly events = new AgentEvents();
  /** The Prometheus metrics (`/metrics`); increment `rotations`, `approvals`, `scheduledApplies` from jobs. */
  readonly metrics: AgentMetrics;
  readonly #options: AgentOptions;
  readonly #logger: AgentLogger | undefined;
  readonly #lifecycle = new Lifecycle('agent');
  #stores: AgentStores | undefined;
  #leadership: Leadership | undefined;
  #runner: LeaderJobRunner | undefined;
  #http: AgentHttpServer | undefined;
  #server: ServingServer | undefined;
  /** The last drift run's report, served by the config server beside the agent. */
  #lastDrift: DriftReport | undefined;
  readonly #served = new Map<string, ServedClient>();
  /** The served clients' schemas and secret resolver. */
  #servedSetup: ServedSetup | undefined;
  readonly #renderers: FileRenderer[] = [];
  readonly #pendingJobs: PendingJob[] = [];
  #governance: Governance | undefined;
  /** Writes `drift.found` / `drift.repaired` audit events (with governance). */
  #driftAudit: DriftAuditor | undefined;
  /** The audit feed: audit-derived metrics and notifications (with governance). */
  #feed: AgentFeed | undefined;
  /** The gitops sync loop (`gitops` section). */
  #gitops: AgentGitopsSync | undefined;
  #starting: Promise<void> | undefined;
  #startedAt: string | undefined;

  constructor(options: AgentOptions) {
    if (!options?.config) throw errors.constraint('agent option config is required (use loadAgentConfig)');
    this.config = options.config;
    this.#options = options;
    this.#logger = options.logger;
    this.metrics = options.metrics ?? createAgentMetrics();
  }

  /** The store chain (after `start()`). */
  get store(): FailoverStore {
    if (!this.#stores) throw errors.constraint('the agent is not started');
    return this.#stores.store;
  }

  /** The stores (after `start()`): the chain, the primary and the record. */
  get stores(): AgentStores | undefined {
    return this.#stores;
  }

  get isLeader(): boolean {
    return this.#leadership?.isLeader ?? false;
  }

  /** The fencing token of the current leadership term, while leading. */
  get fencingToken(): number | undefined {
    return this.#leadership?.fencingToken;
  }

  /** The bound HTTP address (after `start()`). */
  get address(): { host: string; port: number } | undefined {
    const a = this.#http?.address;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  /** The served client of (app, environment), once it has loaded. */
  client(app: string, environment: string): ConfigClient | undefined {
    return this.#served.get(`${app}/${environment}`)?.client;
  }

  /** Starts everything; resolves when the HTTP API listens (clients keep loading in the background). */
  start(): Promise<void> {
    this.#lifecycle.assertOpen();
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const config = this.config;
    const logger = this.#logger;
    const onEvent = (event: FailoverEvent) => this.#onStoreEvent(event);
    this.#stores = await (this.#options.stores ?? ((e) => openRuntime(config, { role: 'agent', onEvent: e, logger })))(
      onEvent,
    );
    const stores = this.#stores;
    for (const tier of stores.tiers) this.metrics.tierUp.set({ tier }, 1);
    // The cache tier's reads and the PostgreSQL pools, read on every scrape.
    this.metrics.observeStores(() => stores.stats?.());
    logger?.info?.({ tiers: stores.tiers, embedded: stores.embedded }, 'stores ready');

    // Served clients (one per app and environment), loading in the background.
    this.#servedSetup = await openServedSetup({ config, stores, events: this.events, env: process.env, logger });
    const setup = this.#servedSetup;
    const started = startServedClients({ config, stores, setup, events: this.events, metrics: this.metrics, logger });
    for (const [key, served] of started.served) this.#served.set(key, served);
    this.#renderers.push(...started.renderers);

    // HTTP.
    this.#http = new AgentHttpServer({
      config: config.http,
      apps: config.apps,
      served: (app, environment) => this.#served.get(`${app}/${environment}`),
      metrics: this.metrics,
      readiness: () => this.readiness(),
      status: () => this.status(),
      logger,
    });
    const address = await this.#http.listen();

    // Leadership and leader jobs.
    this.#leadership =
      this.#options.leadership ??
      (config.stores.consul
        ? await createConsulLeadership({
            consul: config.stores.consul,
            leader: config.leader,
            holder: this.#holder(config),
            onError: (error) => this.#report('leader lock', error, 'debug'),
          })
        : createLocalLeadership());
    const leadership = this.#leadership;
    this.#runner = new LeaderJobRunner({
      leadership,
      logger,
      onRun: (run) => {
        this.metrics.jobRuns.inc({ job: run.name, result: run.ok ? 'ok' : 'error' });
        this.events.emit('job', run);
        if (run.error) logger?.warn?.({ job: run.name, err: run.error.toJSON() }, 'leader job failed');
      },
    });
    leadership.onChange((state) => {
      this.metrics.leader.set(state.leading ? 1 : 0);
      this.metrics.leaderTransitions.inc({ to: state.leading ? 'leader' : 'follower' });
      logger?.info?.(
        { leading: state.leading, fencingToken: state.fencingToken, kind: leadership.kind, reason: state.reason },
        state.leading ? 'leadership acquired' : 'leadership lost',
      );
      this.events.emit('leader', state);
      this.#feed?.leadership(state.leading);
      this.#gitops?.sync.leadership(state.leading);
    });
    const services = await openLeaderServices({
      config,
      stores,
      metrics: this.metrics,
      events: this.events,
      logger,
      report: (where, error) => this.#report(where, error, 'warn'),
    });
    this.#governance = services.governance;
    this.#driftAudit = services.driftAudit;
    this.#feed = services.feed;
    this.#gitops = services.gitops;
    this.#registerBuiltinJobs();
    for (const job of this.#pendingJobs.splice(0)) {
      if (!job.cancelled) job.remove = this.#runner.register(job.name, job.schedule, job.fn, job.options);
    }
    leadership.start();
    // The config server beside the agent (the main job), on the same stores: up before `agent listening`.
    if (config.server) {
      this.#server = await serveConfigServer({
        runtime: stores,
        config,
        server: config.server,
        owner: osPrincipal({ env: process.env }).id,
        drift: () => this.#lastDrift,
        ...gitopsServerOptions(this.#gitops, config),
        localLeader: () =>
          this.isLeader ? { holder: this.#holder(config), fencingToken: this.fencingToken ?? 1 } : undefined,
        ...(logger ? { logger } : {}),
      });
    }
    this.#startedAt = new Date().toISOString();
    const where = config.http.socket
      ? { socket: config.http.socket.path }
      : {
          url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
          host: address.address,
          port: address.port,
        };
    logger?.info?.({ ...where, pid: process.pid, instance: config.instance }, 'agent listening');
  }

  /** This agent's name in the leader lock (and the server's status). */
  #holder(config: AgentConfig): string {
    return `${config.instance}@${hostname()}:${process.pid}`;
  }

  #registerBuiltinJobs(): void {
    const runner = this.#runner as LeaderJobRunner;
    const stores = this.#stores as AgentStores;
    if (this.config.reconcile.intervalMs > 0 && stores.record) {
      runner.register('reconcile', this.config.reconcile.intervalMs, async (ctx) => {
        try {
          // Metrics and events come from the store's `reconciled` event.
          await stores.store.reconcile({ signal: ctx.signal, fence: fenceOf(ctx, stores.primary.name) });
        } catch (error) {
          this.metrics.reconcileRuns.inc({ result: 'error' });
          throw error;
        }
      });
    }
    if (this.config.drift.enabled) {
      runner.register('drift', this.config.drift.intervalMs, async (ctx) => {
        await this.runDrift({ signal: ctx.signal, fence: fenceOf(ctx, stores.primary.name) });
      });
    }
    this.#governance?.register((name, intervalMs, fn) => runner.register(name, intervalMs, fn));
    this.#feed?.register((name, intervalMs, fn) => runner.register(name, intervalMs, fn));
    this.#gitops?.register((name, intervalMs, fn) => runner.register(name, intervalMs, fn));
  }

  /**
   * Registers a job that runs only while this agent leads: `schedule` is an interval in ms or a cron
   * expression. The job gets `{ signal, fencingToken, guardOp(), verify() }`; its signal aborts when
   * leadership is lost. Returns the function that unregisters it. Callable before `start()`.
   */
  registerLeaderJob(name: string, schedule: number | string, fn: LeaderJobFn, options?: LeaderJobOptions): () => void {
    this.#lifecycle.assertOpen();
    if (this.#runner) return this.#runner.register(name, schedule, fn, options);
    if (this.#pendingJobs.some((j) => j.name === name && !j.cancelled)) {
      throw errors.constraint(`leader job "${name}" is already registered`);
    }
    const job: PendingJob = { name, schedule, fn, options, remove: undefined, cancelled: false };
    this.#pendingJobs.push(job);
    return () => {
      job.cancelled = true;
      job.remove?.();
    };
  }

  /** Runs a registered leader job now (leader only). */
  runLeaderJob(name: string): Promise<void> {
    if (!this.#runner) return Promise.reject(errors.constraint('the agent is not started'));
    return this.#runner.runNow(name);
  }

  /**
   * One drift run now: detect (and remediate when `remediate`, default `drift.remediate`), report
   * every finding as an event, a log line and metrics, and audit new findings and repairs
   * (`drift.found`, `drift.repaired`). Runs on any replica when called directly.
   */
  async runDrift(
    options: { remediate?: boolean; signal?: AbortSignal; fence?: WriteFence } = {},
  ): Promise<DriftReport> {
    const stores = this.#stores;
    if (!stores) throw errors.constraint('the agent is not started');
    const drift = this.config.drift;
    let report: DriftReport;
    try {
      report = await detectDrift({
        fence: options.fence,
        store: stores.store,
        primary: stores.primary,
        record: stores.record,
        lagThreshold: drift.lagThreshold,
        lagGraceMs: drift.lagGraceMs,
        remediate: options.remediate ?? drift.remediate,
        concurrency: drift.concurrency,
        signal: options.signal,
        ...(stores.keys?.trust ? { trust: stores.keys.trust } : {}),
        ...(stores.keys?.signer ? { signer: stores.keys.signer } : {}),
      });
    } catch (error) {
      this.metrics.driftRuns.inc({ result: 'error' });
      throw error;
    }
    this.metrics.driftRuns.inc({ result: 'ok' });
    this.#lastDrift = report;
    const counts = new Map<string, number>(DRIFT_KINDS.map((k) => [k, 0]));
    for (const finding of report.findings) {
      counts.set(finding.kind, (counts.get(finding.kind) ?? 0) + 1);
      this.#reportDrift(finding);
    }
    for (const [kind, n] of counts) this.metrics.driftCurrent.set({ kind }, n);
    // New findings and repairs into the audit trail (never fails the run).
    await this.#driftAudit?.record(report);
    this.#logger?.[report.findings.length > 0 ? 'warn' : 'debug']?.(
      {
        examined: report.examined,
        findings: report.findings.length,
        remediated: report.remediated,
        durationMs: Math.round(report.durationMs),
      },
      'drift run',
    );
    this.events.emit('drift-run', report);
    return report;
  }

  #reportDrift(finding: DriftFinding): void {
    this.metrics.drift.inc({ kind: finding.kind });
    if (finding.remediated) this.metrics.driftRemediated.inc({ kind: finding.kind });
    this.#logger?.warn?.({ drift: finding }, finding.message);
    this.events.emit('drift', finding);
  }

  #onStoreEvent(event: FailoverEvent): void {
    observeStoreEvent(event, {
      metrics: this.metrics,
      logger: this.#logger,
      events: this.events,
      reportDrift: (finding) => this.#reportDrift(finding),
    });
  }

  #report(where: string, error: ConfigError, level: 'warn' | 'debug' = 'warn'): void {
    this.#logger?.[level]?.({ where, err: error.toJSON() }, error.message);
    this.events.emit('error', { where, error });
  }

  /** Ready: every served client loaded and a durable tier answers a ping within a second. */
  async readiness(): Promise<{ ready: boolean; body: unknown }> {
    const clients = [...this.#served.values()].map((s) => ({
      app: s.app,
      environment: s.environment,
      ready: s.client !== undefined,
      ...(s.lastError ? { error: s.lastError.message } : {}),
    }));
    let storesOk = false;
    let storeError: string | undefined;
    if (this.#stores && !this.#lifecycle.closed) {
      try {
        const ping = this.#stores.store.ping({ signal: AbortSignal.timeout(1000) });
        const timedOut = Symbol('timeout');
        const outcome = await Promise.race([
          ping.then(() => true),
          new Promise<typeof timedOut>((resolve) => setTimeout(() => resolve(timedOut), 1000).unref()),
        ]);
        if (outcome === timedOut) {
          ping.catch(() => {});
          storeError = 'no durable tier answered a ping within 1 s';
        } else storesOk = true;
      } catch (error) {
        storeError = toConfigError(error).message;
      }
    }
    const ready = storesOk && clients.every((c) => c.ready) && !this.#lifecycle.closed;
    return {
      ready,
      body: {
        ready,
        ...(storeError ? { error: storeError } : {}),
        stores: this.#stores?.store.status(),
        clients,
      },
    };
  }

  status(): AgentStatus {
    return {
      instance: this.config.instance,
      startedAt: this.#startedAt,
      leader: {
        leading: this.isLeader,
        kind: this.#leadership?.kind,
        fencingToken: this.fencingToken,
      },
      stores: this.#stores?.store.status(),
      tiers: this.#stores?.tiers ?? [],
      clients: [...this.#served.values()].map((s) => ({
        app: s.app,
        environment: s.environment,
        ready: s.client !== undefined,
        ids: s.client?.ids().length ?? 0,
        ...(s.lastError ? { error: s.lastError.message } : {}),
      })),
      jobs: this.#runner?.status() ?? [],
      renders: this.#renderers.map((r) => ({
        path: r.config.path,
        id: r.config.id,
        app: r.config.app,
        environment: r.config.environment,
        reloads: r.reloads,
      })),
      http: this.address && { ...this.address, longPolls: this.#http?.pendingPolls ?? 0 },
      ...(this.#gitops ? { gitops: this.#gitops.sync.status() } : {}),
    };
  }

  /**
   * Graceful, bounded shutdown: stops leader jobs, answers held long-polls and closes HTTP,
   * releases the leader lock, stops renderers, closes clients and then the stores. Idempotent.
   * Every step has a time budget (about 1.5 s in all), so a dead store cannot hold the exit.
   */
  close(): Promise<void> {
    return this.#lifecycle.close(async () => {
      const t0 = performance.now();
      // Let a start under way reach a consistent point (bounded).
      if (this.#starting) await settleWithin(this.#starting, 500);
      await Promise.all([
        this.#runner?.close(300),
        this.#http?.close(300),
        this.#server ? settleWithin(this.#server.close(), 500) : undefined,
        this.#leadership ? settleWithin(this.#leadership.close(), 1000) : undefined,
        ...this.#renderers.map((r) => r.close(200)),
      ]);
      await Promise.all([...this.#served.values()].map((s) => settleWithin(s.close(), 300)));
      await settleWithin(this.#servedSetup?.close() ?? Promise.resolve(), 300);
      await settleWithin(this.#governance?.close() ?? Promise.resolve(), 300);
      await settleWithin(this.#feed?.close() ?? Promise.resolve(), 300);
      if (this.#stores) await settleWithin(this.#stores.close(), 700);
      this.metrics.leader.set(0);
      this.#logger?.info?.({ durationMs: Math.round(performance.now() - t0) }, 'agent closed');
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The write fence of a leader job's run: its fencing token and, under a Consul lock, the lock's
 * `check-session` operation keyed by the name of the store that checks it (the primary tier: the
 * Consul store whenever the agent leads through Consul), so that a deposed leader's repair writes
 * are refused atomically.
 */
function fenceOf(ctx: { fencingToken: number | undefined; guardOp(): unknown }, store: string): WriteFence | undefined {
  if (ctx.fencingToken === undefined) return undefined;
  const op = ctx.guardOp();
  return op === undefined ? { token: ctx.fencingToken } : { token: ctx.fencingToken, checks: { [store]: op } };
}
