/**
 * The clients the agent keeps: one `ConfigClient` per served (app, environment), started in the
 * background and retried with backoff until a store (or the snapshot) answers, so the agent comes
 * up (and `/healthz` answers) even while every store is down.
 */
import { join } from 'node:path';
import type { FailoverStore } from '@summit-config/backends';
import {
  type ClientSecrets,
  type ConfigChange,
  type ConfigClient,
  type ConfigError,
  createConfigClient,
  type Environment,
  refKey,
  type TrustRoot,
} from '@summit-config/core';
import { backoffDelay, delay, errors } from '@summit-config/core/internal';
import type { AgentEvents } from './events.js';
import type { AgentMetrics } from './metrics.js';
import type { ServedSchemas } from './served-schemas.js';
import { timedReads } from './timed-reads.js';
import { type AgentLogger, settleWithin, toConfigError } from './util.js';

export interface ServedClientOptions {
  app: string;
  environment: string;
  environments: readonly Environment[];
  store: FailoverStore;
  instance: string;
  snapshotDir: string | undefined;
  events: AgentEvents;
  metrics: AgentMetrics;
  logger?: AgentLogger;
  /** Verify every version against these keys (`trust` section). */
  trust?: TrustRoot;
  /** The stored schemas: defaults applied, invalid versions rejected (read before the client starts). */
  schemas?: ServedSchemas;
  /** Resolves secret references (apps with `secrets: resolve`); without it they are served as stored. */
  secrets?: ClientSecrets;
}

/** Codes with which a client refuses a version (the last good one stays, the version is acked `rejected`). */
const REJECTION_CODES: ReadonlySet<string> = new Set(['SCHEMA_VALIDATION', 'SIGNATURE_INVALID', 'SECRET_PROVIDER']);

/** A version refused: an invalid or unsigned one, or a secret it references that cannot be read. */
function isRejection(error: ConfigError): boolean {
  return REJECTION_CODES.has(error.code) || (Object.hasOwn(error, 'secret') && Object.hasOwn(error, 'provider'));
}

/** At most this many `createdAt` stamps are kept for the propagation metric. */
const STAMPS_MAX = 10_000;

export class ServedClient {
  readonly app: string;
  readonly environment: string;
  readonly #options: ServedClientOptions;
  #client: ConfigClient | undefined;
  #lastError: ConfigError | undefined;
  #starting: Promise<void> | undefined;
  readonly #stop = new AbortController();
  readonly #readyWaiters = new Set<(client: ConfigClient) => void>();
  /** `<ref>@<version>` -> createdAt (ms) of candidates seen by the client, for the propagation metric. */
  readonly #stamps = new Map<string, number>();

  constructor(options: ServedClientOptions) {
    this.app = options.app;
    this.environment = options.environment;
    this.#options = options;
  }

  /** The client once started. */
  get client(): ConfigClient | undefined {
    return this.#client;
  }

  /** Why the client is not started yet, if a start failed. */
  get lastError(): ConfigError | undefined {
    return this.#lastError;
  }

  get key(): string {
    return `${this.app}/${this.environment}`;
  }

  /** Starts the client in the background (idempotent); retries until it starts or `close()`. */
  start(): void {
    this.#starting ??= this.#startLoop();
  }

  /** Calls `fn` with the client when it is started (at once if it already is). Returns a remover. */
  onReady(fn: (client: ConfigClient) => void): () => void {
    if (this.#client) {
      fn(this.#client);
      return () => {};
    }
    this.#readyWaiters.add(fn);
    return () => this.#readyWaiters.delete(fn);
  }

  async #startLoop(): Promise<void> {
    const o = this.#options;
    const signal = this.#stop.signal;
    // The schemas first: a client built before them would serve without defaults (never rejects).
    await o.schemas?.ready();
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        const client = await createConfigClient({
          store: timedReads(o.store, o.metrics),
          app: o.app,
          environment: o.environment,
          environments: o.environments,
          instance: o.instance,
          snapshotFile: o.snapshotDir ? join(o.snapshotDir, `${o.app}.${o.environment}.json`) : undefined,
          logger: o.logger,
          ...(o.trust ? { trust: o.trust } : {}),
          ...(o.schemas ? { schemas: o.schemas.registry } : {}),
          ...(o.secrets ? { secrets: o.secrets } : {}),
          onError: (error) => this.#onClientError(error),
          validate: ({ docs }) => {
            for (const d of docs) {
              const stamp = `${refKey(d.ref)}@${d.version}`;
              if (this.#stamps.has(stamp)) continue;
              if (this.#stamps.size >= STAMPS_MAX) this.#stamps.delete(this.#stamps.keys().next().value as string);
              this.#stamps.set(stamp, Date.parse(d.createdAt));
            }
          },
        });
        if (signal.aborted) {
          await client.close();
          return;
        }
        this.#client = client;
        this.#lastError = undefined;
        client.watch('**', (change) => this.#onChange(change));
        o.logger?.info?.({ app: o.app, environment: o.environment, ids: client.ids().length }, 'client ready');
        for (const fn of this.#readyWaiters) {
          try {
            fn(client);
          } catch (error) {
            o.events.emit('error', { where: `client ${this.key} ready listener`, error: toConfigError(error) });
          }
        }
        this.#readyWaiters.clear();
        return;
      } catch (error) {
        if (signal.aborted) return;
        const e = toConfigError(error);
        this.#lastError = e;
        o.logger?.warn?.({ app: o.app, environment: o.environment, err: e.toJSON(), attempt }, 'client start failed');
        o.events.emit('error', { where: `client ${this.key} start`, error: e });
        // A configuration problem (an unknown environment...) will not fix itself: keep retrying slowly.
        await delay(backoffDelay(attempt, 250, 5000), signal).catch(() => {});
      }
    }
  }

  #onClientError(error: ConfigError): void {
    const o = this.#options;
    o.metrics.clientErrors.inc({ app: o.app, environment: o.environment, code: error.code });
    o.events.emit('error', { where: `client ${this.key}`, error });
    if (isRejection(error)) {
      o.metrics.versionsRejected.inc({ app: o.app, environment: o.environment, code: error.code });
      // A secret that cannot be read names its provider and secret (names, never values).
      const secret = error as ConfigError & { provider?: unknown; secret?: unknown };
      o.logger?.warn?.(
        {
          app: o.app,
          environment: o.environment,
          ref: error.ref,
          code: error.code,
          ...(typeof secret.secret === 'string' ? { provider: secret.provider, secret: secret.secret } : {}),
        },
        'version rejected: the last good value stays',
      );
      o.events.emit('rejected', {
        app: o.app,
        environment: o.environment,
        ref: error.ref,
        code: error.code,
        message: error.message,
      });
    }
  }

  #onChange(change: ConfigChange): void {
    const o = this.#options;
    const labels = { app: o.app, environment: o.environment };
    o.metrics.changesApplied.inc(labels);
    const stamp = `${refKey(change.ref)}@${change.version}`;
    const createdAt = this.#stamps.get(stamp);
    this.#stamps.delete(stamp);
    let propagationMs: number | undefined;
    if (createdAt !== undefined && !Number.isNaN(createdAt)) {
      propagationMs = Math.max(0, Date.now() - createdAt);
      o.metrics.propagation.observe(labels, propagationMs / 1000);
    }
    o.events.emit('applied', {
      app: o.app,
      environment: o.environment,
      id: change.id,
      ref: refKey(change.ref),
      version: change.version,
      ...(propagationMs === undefined ? {} : { propagationMs }),
    });
  }

  async close(): Promise<void> {
    this.#stop.abort(errors.closed('agent'));
    this.#readyWaiters.clear();
    // A start under way may wait for a store for seconds: do not hold shutdown for it (the loop
    // closes the client it gets once it sees the abort).
    if (this.#starting) await settleWithin(this.#starting, 200);
    await this.#client?.close();
  }
}
