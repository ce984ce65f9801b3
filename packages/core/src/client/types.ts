/** The client's public shapes: its options, what it resolves, and the changes it reports. */
import type { ConfigError } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import type { JsonObject } from '../model/json.js';
import type { ConfigRef } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import type { LayerSource } from '../resolve/sources.js';
import type { EvaluationContext } from '../rollout/targeting.js';
import type { SchemaRegistry } from '../schema/registry.js';
import type { ConfigStore } from '../store/config-store.js';
import type { TrustRoot } from '../trust/keys.js';

export interface ClientLogger {
  debug?(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

/**
 * Checks a candidate before it is swapped in. Throw (ideally a `SCHEMA_VALIDATION` ConfigError) to
 * reject it: the last good value stays and the version is acknowledged as `rejected`.
 */
export type CandidateValidator = (candidate: { id: string; value: JsonObject; docs: readonly ConfigVersion[] }) => void;

export interface ClientOptions {
  /** Where configuration comes from: usually `createFailoverStore([...])`. The client does not close it. */
  store: ConfigStore;
  /** The application: the client reads the `global` and `app:<app>` scopes. */
  app: string;
  /** The environment this process runs in; its overrides (and its parents') apply. */
  environment: string;
  /**
   * Environment definitions for parent chains. Default: just `environment`, without a parent.
   * An `environment` not defined here is `ENVIRONMENT_NOT_FOUND`.
   */
  environments?: readonly Environment[];
  /** This process's name in applied-state acknowledgements. Default `<hostname>-<pid>`. */
  instance?: string;
  /**
   * JSON Schemas by config id: defaults are the lowest layer, and every candidate (with each rollout
   * overlay it can produce) must validate before it is applied. Ids without a schema are not checked.
   */
  schemas?: SchemaRegistry;
  /** An extra check of every candidate before it is applied, after the schema. */
  validate?: CandidateValidator;
  /**
   * Secret references in config values are resolved through this when a version is applied; a
   * version whose secrets cannot be resolved is rejected like an invalid one (last good value kept).
   */
  secrets?: ClientSecrets;
  /** Layers from environment variables and local files (`envSource`, `loadFileSource`). */
  sources?: readonly LayerSource[];
  /** The evaluation context `get()` uses for rollouts (e.g. this instance's region). Default `{}`. */
  context?: EvaluationContext;
  /** Clock for time windows, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * Last-known-good snapshot file. Written after every applied change; read at start-up when no
   * store answers. Default: none.
   */
  snapshotFile?: string;
  /** Documents fetched at once during the initial load. Default 32. */
  loadConcurrency?: number;
  /** Milliseconds to wait for the store at start-up before falling back to the snapshot. Default 5000. */
  startTimeoutMs?: number;
  /** A pino-compatible logger. The client never writes to the console. */
  logger?: ClientLogger;
  /** Called for problems the client handled (a rejected version, a failed ack, a watch error). */
  onError?: (error: ConfigError) => void;
  /**
   * The public keys of the writers (`createTrustRoot`). When set, every version (tombstones
   * included, from any tier or the snapshot) must carry a valid signature by one of them; one that
   * does not is rejected like an invalid version (`SIGNATURE_INVALID`, the last good one kept).
   */
  trust?: TrustRoot;
}

export interface ResolveDetails<T = JsonObject> {
  /** The merged value, deeply frozen; undefined when no document exists for the id. */
  readonly value: T | undefined;
  /** The rollout rule that chose the overlay, and the variant (`candidate`, an A/B variant ...). */
  readonly ruleId?: string;
  readonly variant?: string;
  /** Versions of the documents merged, by scope. */
  readonly versions: { readonly global?: number; readonly app?: number };
  /** Checksums of the documents merged, joined `global:app`. */
  readonly checksum: string;
  /** The tier that answered when this value was loaded: `consul`, `postgres`, `memory`, `snapshot` ... */
  readonly source: string;
  /** True when the value came from the cache tier or a snapshot rather than a durable tier. */
  readonly stale: boolean;
  /**
   * Why this value: `STATIC` (documents merged, no rollout rule applied), `TARGETING_MATCH` / `SPLIT`
   * (a rollout rule chose an overlay), `DEFAULT` (nothing stored), `STALE` (from a snapshot or the cache).
   */
  readonly reason: 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'DISABLED' | 'STALE';
}

export interface ConfigChange {
  readonly id: string;
  /** The document that changed. */
  readonly ref: ConfigRef;
  readonly version: number;
  readonly previous: JsonObject | undefined;
  readonly value: JsonObject | undefined;
  readonly details: ResolveDetails;
}

/**
 * Resolves `{"$secret": {...}}` references just in time (a `SecretResolver` from
 * `@summit-config/secrets` is one). Values stay in this process's memory only.
 */
export interface ClientSecrets {
  /** A copy of `json` with every secret reference replaced by its value. */
  resolveRefs<T>(json: T, options?: { signal?: AbortSignal }): Promise<T>;
  /** Drops cached values of a secret, so the next resolve reads the provider again. */
  invalidate(provider: string, name?: string): number;
}
