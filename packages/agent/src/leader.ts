/**
 * Leadership and the leader-only job runner.
 *
 * One agent per cluster leads through the Consul leader lock (`createLeaderLock`: a TTL session with
 * lock-delay; the lock's LockIndex is the fencing token). Without Consul the embedded agent leads
 * itself (fencing token 1). Leader jobs (reconciliation, drift, and whatever the agent's users
 * register: rotation schedules, scheduled applies, rollout steps) run only while leading; losing the
 * lock aborts the running jobs' signal and stops their schedules at once.
 */
import type { LeaderLock } from '@summit-config/backends/consul';
import type { ConfigError } from '@summit-config/core';
import { backoffDelay, delay, errors, ListenerSet, onAbort } from '@summit-config/core/internal';
import { createTask, type ScheduledTask } from 'node-cron';
import { type ConsulConfig, checkSchedule, type LeaderConfig } from './config.js';
import { consulTlsOptions } from './runtime.js';
import { type AgentLogger, toConfigError } from './util.js';

/** A Consul `/v1/txn` operation (the lock's guard). */
export type GuardOp = ReturnType<LeaderLock['guardOp']>;

/** What a leader job gets on every run. */
export interface LeaderJobContext {
  /** The job's name. */
  readonly name: string;
  /** Aborted when leadership is lost, the job times out, or the agent stops. Check it between steps. */
  readonly signal: AbortSignal;
  /**
   * The fencing token of the current leadership term: Consul's LockIndex of the lock (it grows with
   * every acquisition), or 1 for an embedded agent leading itself. Carry it in protected writes.
   */
  readonly fencingToken: number;
  /** When this run started. */
  readonly startedAt: Date;
  /**
   * A `/v1/txn` operation that fails a Consul transaction unless this agent still holds the lock
   * (`check-session`). `undefined` for an embedded agent (no Consul).
   */
  guardOp(): GuardOp | undefined;
  /** Confirms leadership with a consistent read (always true for an embedded leader). */
  verify(): Promise<boolean>;
}

export type LeaderJobFn = (context: LeaderJobContext) => Promise<void> | void;

export interface LeaderJobOptions {
  /**
   * Run at once when leadership starts (or when registered while leading), then on the schedule.
   * Default true for intervals, false for cron expressions.
   */
  runOnStart?: boolean;
  /** Abort a run (its signal) after this many ms. Default none. */
  timeoutMs?: number;
  /** Time zone of a cron expression. Default the process's. */
  timezone?: string;
}

export interface LeaderJobStatus {
  name: string;
  /** Interval in ms, or the cron expression. */
  schedule: number | string;
  running: boolean;
  runs: number;
  failures: number;
  /** Runs skipped because the previous one was still going. */
  skipped: number;
  lastRunAt: string | undefined;
  lastError: string | undefined;
}

/** The state every leadership source exposes. */
export interface Leadership {
  readonly isLeader: boolean;
  readonly fencingToken: number | undefined;
  /** `consul` (the lock) or `local` (embedded: leads itself). */
  readonly kind: 'consul' | 'local';
  /** Starts campaigning; `onChange` reports every transition. */
  start(): void;
  onChange(
    listener: (state: { leading: boolean; fencingToken: number | undefined; reason?: string }) => void,
  ): () => void;
  guardOp(): GuardOp | undefined;
  verify(): Promise<boolean>;
  /** Stops campaigning and releases the lock (bounded by the lock's request timeout). Idempotent. */
  close(): Promise<void>;
}

type StateListener = Parameters<Leadership['onChange']>[0];

/** An embedded agent: leader of itself from `start()` to `close()`. */
export function createLocalLeadership(): Leadership {
  const listeners = new ListenerSet<Parameters<StateListener>[0]>();
  let leading = false;
  return {
    kind: 'local',
    get isLeader() {
      return leading;
    },
    get fencingToken() {
      return leading ? 1 : undefined;
    },
    start() {
      if (leading) return;
      leading = true;
      listeners.emit({ leading: true, fencingToken: 1 });
    },
    onChange(listener) {
      return listeners.add(listener);
    },
    guardOp: () => undefined,
    verify: async () => leading,
    async close() {
      if (!leading) return;
      leading = false;
      listeners.emit({ leading: false, fencingToken: undefined, reason: 'stopped' });
    },
  };
}

export interface ConsulLeadershipOptions {
  consul: ConsulConfig;
  leader: LeaderConfig;
  /** Shown in the lock key's value. */
  holder: string;
  onError?: (error: ConfigError) => void;
}

/**
 * Who holds the agents' Consul leader lock now, read without campaigning (the config server's
 * status): undefined when nobody leads. A Consul failure rejects.
 */
export async function readConsulLeader(
  consul: ConsulConfig,
  leader: LeaderConfig,
): Promise<{ holder: string; fencingToken: number } | undefined> {
  const { readLeaderLock } = await import('@summit-config/backends/consul');
  const held = await readLeaderLock({
    address: consul.address,
    token: consul.token,
    ...(consul.tls ? { tls: await consulTlsOptions(consul.tls) } : {}),
    timeoutMs: Math.min(consul.timeoutMs, 5000),
    prefix: consul.prefix,
    name: leader.name,
  });
  return held && { holder: held.holder, fencingToken: held.lockIndex };
}

/** Campaigns for the Consul lock until closed; re-campaigns after every loss. */
export async function createConsulLeadership(options: ConsulLeadershipOptions): Promise<Leadership> {
  const { createLeaderLock } = await import('@summit-config/backends/consul');
  const lock = createLeaderLock({
    address: options.consul.address,
    token: options.consul.token,
    ...(options.consul.tls ? { tls: await consulTlsOptions(options.consul.tls) } : {}),
    timeoutMs: Math.min(options.consul.timeoutMs, 5000),
    prefix: options.consul.prefix,
    name: options.leader.name,
    ttlMs: options.leader.ttlMs,
    lockDelayMs: options.leader.lockDelayMs,
    holder: options.holder,
    onError: options.onError,
  });
  const listeners = new ListenerSet<Parameters<StateListener>[0]>();
  const stop = new AbortController();
  let leading = false;
  let loop: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  async function campaign(): Promise<void> {
    let attempt = 0;
    while (!stop.signal.aborted) {
      let offLost = () => {};
      let offStop = () => {};
      try {
        const lost = new Promise<ConfigError>((resolve) => {
          offLost = lock.onLost(resolve);
        });
        const token = await lock.acquire({ signal: stop.signal });
        attempt = 0;
        leading = true;
        listeners.emit({ leading: true, fencingToken: token });
        const reason = await Promise.race([
          lost.then((e) => e.message),
          new Promise<string>((resolve) => {
            offStop = onAbort(stop.signal, () => resolve('stopped'));
          }),
        ]);
        leading = false;
        listeners.emit({ leading: false, fencingToken: undefined, reason });
      } catch (error) {
        if (stop.signal.aborted) return;
        options.onError?.(toConfigError(error));
        await delay(backoffDelay(attempt++, 200, 5000), stop.signal).catch(() => {});
      } finally {
        offLost();
        offStop();
      }
    }
  }

  return {
    kind: 'consul',
    get isLeader() {
      return leading && lock.isHeld;
    },
    get fencingToken() {
      return leading ? lock.fencingToken : undefined;
    },
    start() {
      loop ??= campaign();
    },
    onChange(listener) {
      return listeners.add(listener);
    },
    guardOp() {
      return lock.isHeld ? lock.guardOp() : undefined;
    },
    async verify() {
      return lock.isHeld ? lock.verify() : false;
    },
    close() {
      closing ??= (async () => {
        stop.abort();
        await loop?.catch(() => {});
        // Releases the lock (no lock-delay for a clean release) and destroys the session.
        await lock.close();
      })();
      return closing;
    },
  };
}

// ------------------------------------------------------------------ the job runner

interface Job {
  name: string;
  schedule: number | string;
  fn: LeaderJobFn;
  options: LeaderJobOptions;
  running: Promise<void> | undefined;
  runs: number;
  failures: number;
  skipped: number;
  lastRunAt: number | undefined;
  lastError: ConfigError | undefined;
  /** The schedule of the current term. */
  timer: NodeJS.Timeout | undefined;
  cron: ScheduledTask | undefined;
}

interface Term {
  token: number;
  controller: AbortController;
}

export interface JobRunnerOptions {
  leadership: Leadership;
  logger?: AgentLogger;
  /** Called after every run. */
  onRun?: (result: { name: string; ok: boolean; durationMs: number; error?: ConfigError }) => void;
}

/**
 * Runs registered jobs while `leadership` leads. A run never overlaps the previous run of the same
 * job (the overlapping tick is skipped and counted). A failing run is reported and retried at the
 * next tick; it never stops the schedule.
 */
export class LeaderJobRunner {
  readonly #jobs = new Map<string, Job>();
  readonly #options: JobRunnerOptions;
  #term: Term | undefined;
  #closed = false;

  constructor(options: JobRunnerOptions) {
    this.#options = options;
    options.leadership.onChange((state) => {
      if (state.leading && state.fencingToken !== undefined) this.#startTerm(state.fencingToken);
      else this.#endTerm();
    });
  }

  /** The current term's signal (aborted when it ends), or undefined when not leading. */
  get termSignal(): AbortSignal | undefined {
    return this.#term?.controller.signal;
  }

  /**
   * Registers a job that runs only on the leader: `schedule` is an interval in ms or a cron
   * expression (node-cron syntax, seconds optional). Returns the function that unregisters it
   * (aborting a run under way). Names are unique: registering a taken name is `CONSTRAINT_VIOLATION`.
   */
  register(name: string, schedule: number | string, fn: LeaderJobFn, options: LeaderJobOptions = {}): () => void {
    if (this.#closed) throw errors.closed('leader job runner');
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) {
      throw errors.constraint(
        `leader job name must be 1-128 characters of [A-Za-z0-9_.:-], got ${JSON.stringify(name)}`,
      );
    }
    if (this.#jobs.has(name)) throw errors.constraint(`leader job "${name}" is already registered`);
    if (typeof fn !== 'function') throw errors.constraint(`leader job "${name}": fn must be a function`);
    const checked = checkSchedule(schedule, `leader job "${name}"`);
    if (options.timeoutMs !== undefined && !(Number.isSafeInteger(options.timeoutMs) && options.timeoutMs > 0)) {
      throw errors.constraint(`leader job "${name}": timeoutMs must be a positive integer`);
    }
    const job: Job = {
      name,
      schedule: checked,
      fn,
      options,
      running: undefined,
      runs: 0,
      failures: 0,
      skipped: 0,
      lastRunAt: undefined,
      lastError: undefined,
      timer: undefined,
      cron: undefined,
    };
    this.#jobs.set(name, job);
    if (this.#term) this.#schedule(job, this.#term);
    return () => {
      if (this.#jobs.get(name) !== job) return;
      this.#jobs.delete(name);
      this.#unschedule(job);
    };
  }

  /** Runs a registered job now (on the leader only); resolves when the run ends. */
  async runNow(name: string): Promise<void> {
    const job = this.#jobs.get(name);
    if (!job) throw errors.notFound(`leader job "${name}" is not registered`);
    const term = this.#term;
    if (!term) throw errors.constraint(`leader job "${name}" runs only on the leader`);
    await this.#run(job, term);
  }

  status(): LeaderJobStatus[] {
    return [...this.#jobs.values()].map((j) => ({
      name: j.name,
      schedule: j.schedule,
      running: j.running !== undefined,
      runs: j.runs,
      failures: j.failures,
      skipped: j.skipped,
      lastRunAt: j.lastRunAt === undefined ? undefined : new Date(j.lastRunAt).toISOString(),
      lastError: j.lastError?.message,
    }));
  }

  /** Stops every schedule and aborts running jobs; waits for them at most `graceMs`. */
  async close(graceMs = 500): Promise<void> {
    this.#closed = true;
    const running = [...this.#jobs.values()].map((j) => j.running).filter((p) => p !== undefined);
    this.#endTerm();
    if (running.length > 0) {
      await Promise.race([Promise.allSettled(running), new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
  }

  #startTerm(token: number): void {
    if (this.#closed) return;
    this.#endTerm();
    const term: Term = { token, controller: new AbortController() };
    this.#term = term;
    for (const job of this.#jobs.values()) this.#schedule(job, term);
  }

  #endTerm(): void {
    const term = this.#term;
    if (!term) return;
    this.#term = undefined;
    term.controller.abort(errors.constraint('leadership ended'));
    for (const job of this.#jobs.values()) this.#unschedule(job);
  }

  #schedule(job: Job, term: Term): void {
    if (typeof job.schedule === 'number') {
      const interval = job.schedule;
      const tick = async () => {
        job.timer = undefined;
        if (this.#term !== term) return;
        await this.#run(job, term);
        if (this.#term === term && this.#jobs.get(job.name) === job) {
          job.timer = setTimeout(tick, interval);
          job.timer.unref();
        }
      };
      job.timer = setTimeout(tick, job.options.runOnStart === false ? interval : 0);
      job.timer.unref();
      return;
    }
    const logger = this.#options.logger;
    const cronLogger = {
      info: (m: string) => logger?.debug?.({ job: job.name }, m),
      warn: (m: string) => logger?.warn?.({ job: job.name }, m),
      error: (m: string | Error) => logger?.error?.({ job: job.name }, String(m)),
      debug: (m: string | Error) => logger?.debug?.({ job: job.name }, String(m)),
    };
    job.cron = createTask(job.schedule, () => void this.#run(job, term), {
      name: `summit-agent:${job.name}`,
      timezone: job.options.timezone,
      logger: cronLogger,
    });
    void Promise.resolve(job.cron.start()).catch((error: unknown) =>
      logger?.error?.({ job: job.name, err: String(error) }, 'cron schedule failed to start'),
    );
    if (job.options.runOnStart === true) void this.#run(job, term);
  }

  #unschedule(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = undefined;
    if (job.cron) {
      const task = job.cron;
      job.cron = undefined;
      void Promise.resolve(task.destroy()).catch(() => {});
    }
  }

  #run(job: Job, term: Term): Promise<void> {
    if (job.running) {
      job.skipped++;
      return job.running;
    }
    const started = performance.now();
    const signals = [term.controller.signal];
    if (job.options.timeoutMs !== undefined) signals.push(AbortSignal.timeout(job.options.timeoutMs));
    const signal = signals.length === 1 ? term.controller.signal : AbortSignal.any(signals);
    const { leadership } = this.#options;
    const context: LeaderJobContext = {
      name: job.name,
      signal,
      fencingToken: term.token,
      startedAt: new Date(),
      guardOp: () => leadership.guardOp(),
      verify: () => leadership.verify(),
    };
    const run = (async () => {
      let error: ConfigError | undefined;
      try {
        if (signal.aborted) return;
        await job.fn(context);
      } catch (e) {
        error = toConfigError(e);
      } finally {
        job.runs++;
        job.lastRunAt = Date.now();
        job.lastError = error;
        if (error) job.failures++;
      }
      try {
        this.#options.onRun?.({ name: job.name, ok: !error, durationMs: performance.now() - started, error });
      } catch {
        // a failing reporter must not stop the schedule
      }
    })();
    // Cleared after the run settles (a synchronous job settles before this assignment).
    job.running = run.finally(() => {
      if (job.running === tracked) job.running = undefined;
    });
    const tracked = job.running;
    return tracked;
  }
}
