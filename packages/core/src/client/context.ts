/**
 * What the parts of a client share: its checked options (app, environment chain, instance, the two
 * scopes it reads), the store, the lifecycle and the error reporter.
 */
import { hostname } from 'node:os';
import { type ConfigError, errors, isConfigError, messageOf } from '../errors/config-error.js';
import { environmentChain, validateEnvironments } from '../model/environment.js';
import { parseEnvironmentName, parseId, parseScope, type Scope } from '../model/ref.js';
import type { ConfigStore } from '../store/config-store.js';
import { Lifecycle } from '../util/lifecycle.js';
import type { ClientOptions } from './types.js';

export interface ClientContext {
  readonly app: string;
  readonly environment: string;
  readonly instance: string;
  /** The environment and its ancestors, root first. */
  readonly chain: string[];
  /** `global` and `app:<app>`. */
  readonly scopes: readonly Scope[];
  readonly store: ConfigStore;
  readonly options: ClientOptions;
  readonly lifecycle: Lifecycle;
  /** Logs a problem the client handled and passes it to `onError` (a throwing `onError` is ignored). */
  report(error: unknown): void;
}

/** Checks the options; `CONSTRAINT_VIOLATION` (or the model's codes) for anything wrong. */
export function createClientContext(options: ClientOptions): ClientContext {
  if (!options || typeof options !== 'object') throw errors.constraint('client options must be an object');
  if (!options.store || typeof options.store.watch !== 'function') {
    throw errors.constraint('client option store must be a ConfigStore');
  }
  const app = parseId(options.app);
  if (app.includes('/')) throw errors.constraint(`client option app must be one segment, got "${options.app}"`);
  const environment = parseEnvironmentName(options.environment);
  const envs = validateEnvironments(options.environments ?? [{ name: environment, production: false }]);
  const chain = environmentChain(environment, envs);
  const instance = options.instance ?? `${hostname()}-${process.pid}`;
  if (options.trust !== undefined && typeof options.trust?.check !== 'function') {
    throw errors.constraint('client option trust must be a TrustRoot (createTrustRoot)');
  }
  if (
    options.loadConcurrency !== undefined &&
    !(Number.isSafeInteger(options.loadConcurrency) && options.loadConcurrency > 0)
  ) {
    throw errors.constraint(`client option loadConcurrency must be a positive integer, got ${options.loadConcurrency}`);
  }
  if (options.startTimeoutMs !== undefined && !(options.startTimeoutMs > 0)) {
    throw errors.constraint(`client option startTimeoutMs must be a positive number, got ${options.startTimeoutMs}`);
  }
  return {
    app,
    environment,
    instance,
    chain,
    scopes: [parseScope('global'), parseScope(`app:${app}`)],
    store: options.store,
    options,
    lifecycle: new Lifecycle('config client'),
    report(error) {
      const e: ConfigError = isConfigError(error) ? error : errors.constraint(messageOf(error), { cause: error });
      options.logger?.warn?.({ err: e.toJSON() }, e.message);
      try {
        options.onError?.(e);
      } catch {
        // a failing reporter must not break the watch
      }
    },
  };
}
