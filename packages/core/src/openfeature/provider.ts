/**
 * An OpenFeature server provider over Summit Config flags (the `flags` of rollout rules).
 *
 * It reads flags through a small {@link FlagSource} (the client implements it, or use
 * {@link MutableFlagSource}), evaluates them in-process with the rollout engine, and reports the
 * standard reasons: STATIC, TARGETING_MATCH, SPLIT, DEFAULT, DISABLED, STALE (the source is serving
 * possibly out-of-date flags) and ERROR (unknown flag, wrong type). Changes are emitted as
 * `PROVIDER_CONFIGURATION_CHANGED` with the keys that changed; a source turning stale emits
 * `PROVIDER_STALE` and recovering emits `PROVIDER_READY`.
 *
 * `@openfeature/server-sdk` is an optional peer dependency: import this module only through its own
 * subpath, never from the core index.
 */
import {
  ErrorCode,
  type EvaluationContext as OpenFeatureContext,
  OpenFeatureEventEmitter,
  type JsonValue as OpenFeatureJson,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
} from '@openfeature/server-sdk';
import { messageOf } from '../errors/config-error.js';
import { canonicalJson } from '../model/json.js';
import type { CompiledFlag, FlagSet } from '../rollout/evaluate.js';
import type { FlagType } from '../rollout/rules.js';
import type { EvaluationContext } from '../rollout/targeting.js';
import { ListenerSet } from '../util/listeners.js';

/** What changed in a {@link FlagSource}. */
export interface FlagSourceChange {
  /** Keys of the flags that changed; when omitted the provider diffs the previous and current sets. */
  readonly flagsChanged?: readonly string[];
}

/**
 * Where the provider reads flags from. Every member must be cheap and must not do I/O: `getFlags()` is
 * called on every evaluation.
 */
export interface FlagSource {
  /** The current flags (e.g. `flagSetOf(compileRollout(a), compileRollout(b))`). */
  getFlags(): FlagSet;
  /** True while the flags may be out of date (served from a snapshot or a lagging tier). */
  readonly stale: boolean;
  /**
   * Calls `listener` after the flags or `stale` changed; returns the function that removes it.
   * A listener that throws must not stop the source.
   */
  onChange(listener: (change?: FlagSourceChange) => void): () => void;
  /** Resolves once the first flags are loaded; the provider's `initialize` awaits it. Optional. */
  ready?(): Promise<void>;
}

export interface SummitProviderOptions {
  /** `metadata.name`. Default `summit-config`. */
  name?: string;
  /** Clock for time-window rules, epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

const TYPE_NAMES: Record<FlagType, string> = {
  boolean: 'boolean',
  string: 'string',
  number: 'number',
  object: 'object',
};

function changedKeys(before: FlagSet, after: FlagSet): string[] {
  const out = new Set<string>();
  for (const key of after.keys()) {
    const a = before.get(key);
    const b = after.get(key) as CompiledFlag;
    if (a === undefined || (a !== b && canonicalJson(a.spec) !== canonicalJson(b.spec))) out.add(key);
  }
  for (const key of before.keys()) if (after.get(key) === undefined) out.add(key);
  return [...out].sort();
}

/** The OpenFeature server provider for Summit Config flags. */
export class SummitFlagProvider implements Provider {
  readonly metadata: { readonly name: string };
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly hooks = [];
  readonly #source: FlagSource;
  readonly #now: () => number;
  #last: FlagSet;
  #stale: boolean;
  #unsubscribe: (() => void) | undefined;

  constructor(source: FlagSource, options: SummitProviderOptions = {}) {
    if (source === null || typeof source !== 'object' || typeof source.getFlags !== 'function') {
      throw new TypeError('SummitFlagProvider needs a FlagSource with getFlags(), stale and onChange()');
    }
    if (typeof source.onChange !== 'function') throw new TypeError('FlagSource.onChange must be a function');
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new TypeError('SummitFlagProvider option "now" must be a function');
    }
    this.metadata = Object.freeze({ name: options.name ?? 'summit-config' });
    this.#source = source;
    this.#now = options.now ?? Date.now;
    this.#last = source.getFlags();
    this.#stale = source.stale;
    this.#unsubscribe = source.onChange((change) => this.#onChange(change));
  }

  async initialize(): Promise<void> {
    await this.#source.ready?.();
    this.#last = this.#source.getFlags();
    this.#stale = this.#source.stale;
  }

  async onClose(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #onChange(change?: FlagSourceChange): void {
    const current = this.#source.getFlags();
    const flagsChanged = change?.flagsChanged ? [...change.flagsChanged] : changedKeys(this.#last, current);
    this.#last = current;
    const stale = this.#source.stale;
    if (stale !== this.#stale) {
      this.#stale = stale;
      this.events.emit(stale ? ProviderEvents.Stale : ProviderEvents.Ready, {
        message: stale ? 'flags may be out of date' : 'flags are current again',
      });
    }
    if (flagsChanged.length > 0) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged });
  }

  #resolve<T>(key: string, defaultValue: T, context: OpenFeatureContext, type: FlagType): ResolutionDetails<T> {
    try {
      const flag = this.#source.getFlags().get(key);
      if (flag === undefined) {
        return {
          value: defaultValue,
          reason: StandardResolutionReasons.ERROR,
          errorCode: ErrorCode.FLAG_NOT_FOUND,
          errorMessage: `flag "${key}" is not defined`,
        };
      }
      if (flag.type !== type) {
        return {
          value: defaultValue,
          reason: StandardResolutionReasons.ERROR,
          errorCode: ErrorCode.TYPE_MISMATCH,
          errorMessage: `flag "${key}" is a ${TYPE_NAMES[flag.type]} flag, not ${TYPE_NAMES[type]}`,
        };
      }
      const result = flag.evaluate(context as EvaluationContext, this.#now());
      const stale = this.#source.stale;
      const flagMetadata: Record<string, string | boolean> = { ruleReason: result.reason };
      if (result.ruleId !== undefined) flagMetadata.ruleId = result.ruleId;
      if (stale) flagMetadata.stale = true;
      return {
        value: result.value as T,
        variant: result.variant,
        reason: stale ? StandardResolutionReasons.STALE : result.reason,
        flagMetadata,
      };
    } catch (error) {
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.GENERAL,
        errorMessage: messageOf(error),
      };
    }
  }

  async resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<boolean>> {
    return this.#resolve(flagKey, defaultValue, context, 'boolean');
  }

  async resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<string>> {
    return this.#resolve(flagKey, defaultValue, context, 'string');
  }

  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<number>> {
    return this.#resolve(flagKey, defaultValue, context, 'number');
  }

  async resolveObjectEvaluation<T extends OpenFeatureJson>(
    flagKey: string,
    defaultValue: T,
    context: OpenFeatureContext,
  ): Promise<ResolutionDetails<T>> {
    return this.#resolve(flagKey, defaultValue, context, 'object');
  }
}

/** Creates the provider: `await OpenFeature.setProviderAndWait(createSummitFlagProvider(source))`. */
export function createSummitFlagProvider(source: FlagSource, options?: SummitProviderOptions): SummitFlagProvider {
  return new SummitFlagProvider(source, options);
}

/**
 * A {@link FlagSource} you push flags into: `update(flags)` on every new config version,
 * `setStale(true|false)` when the client's source tier changes. Listeners that throw are isolated.
 */
export class MutableFlagSource implements FlagSource {
  #flags: FlagSet;
  #stale = false;
  readonly #listeners = new ListenerSet<FlagSourceChange | undefined>();

  constructor(flags: FlagSet = new Map()) {
    this.#flags = flags;
  }

  get stale(): boolean {
    return this.#stale;
  }

  getFlags(): FlagSet {
    return this.#flags;
  }

  onChange(listener: (change?: FlagSourceChange) => void): () => void {
    return this.#listeners.add(listener);
  }

  /** Replaces the flags and notifies listeners (the provider diffs the sets unless `flagsChanged` is given). */
  update(flags: FlagSet, change?: FlagSourceChange): void {
    this.#flags = flags;
    this.#listeners.emit(change);
  }

  /** Marks the flags stale (or current again) and notifies listeners when that changes. */
  setStale(stale: boolean): void {
    if (this.#stale === stale) return;
    this.#stale = stale;
    this.#listeners.emit({ flagsChanged: [] });
  }
}

/** The part of a `ConfigClient` a flag source needs (kept structural so this module stays standalone). */
export interface FlagClient {
  flags(id: string): FlagSet;
  resolve(id: string): { readonly stale: boolean };
  watch(pattern: string, callback: () => void): () => void;
  ready(): Promise<void>;
}

/**
 * Flags read from a running config client: the `flags` of the rollout of config `id`
 * (e.g. `features`). Stale when the client serves that id from a snapshot or the cache; every applied
 * change of `id` is a provider `ConfigurationChanged` event.
 *
 *   await OpenFeature.setProviderAndWait(createSummitFlagProvider(clientFlagSource(client, 'features')));
 */
export function clientFlagSource(client: FlagClient, id: string): FlagSource {
  return {
    getFlags: () => client.flags(id),
    get stale() {
      return client.resolve(id).stale;
    },
    onChange: (listener) => client.watch(id, () => listener()),
    ready: () => client.ready(),
  };
}
