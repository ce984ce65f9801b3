/**
 * Resolution from memory: an applied id's entry evaluated for a context (the rollout outcome, the
 * frozen details per outcome) and explained layer by layer. No I/O.
 */

import type { JsonObject } from '../model/json.js';
import type { Explain } from '../resolve/explain.js';
import { type Resolution, withRollout } from '../resolve/resolver.js';
import { type CompiledRollout, type FlagSet, NO_ROLLOUT, type RolloutOutcome } from '../rollout/evaluate.js';
import type { EvaluationContext } from '../rollout/targeting.js';
import type { ResolveDetails } from './types.js';

/** What the client holds for one applied id. */
export interface Entry {
  /** The resolution without a rollout overlay. */
  base: Resolution;
  /** The rollout of the app document (else the global one), compiled once per version. */
  rollout: CompiledRollout | undefined;
  /** The details for the default context when they do not depend on context or clock. */
  fixed: ResolveDetails | undefined;
  meta: Omit<ResolveDetails, 'value' | 'reason' | 'ruleId' | 'variant'>;
  /** Details per rollout outcome (outcomes are shared singletons), so repeated resolves allocate nothing. */
  byOutcome: WeakMap<RolloutOutcome, ResolveDetails>;
  /** The validated value per outcome, secret references resolved (memory only, never persisted). */
  values: Map<RolloutOutcome, JsonObject>;
}

export const EMPTY_FLAGS: FlagSet = new Map();

/** The details of an id nothing is stored for. */
export const DEFAULT_DETAILS: ResolveDetails = Object.freeze({
  value: undefined,
  versions: Object.freeze({}),
  checksum: '',
  source: 'none',
  stale: false,
  reason: 'DEFAULT',
});

/** Evaluates entries against the client's default context (merged under each call's) and clock. */
export class Resolver {
  readonly #context: EvaluationContext = {};
  readonly #hasContext: boolean;
  readonly #now: () => number = Date.now;

  constructor(context: EvaluationContext | undefined, now: (() => number) | undefined) {
    if (context !== undefined) this.#context = Object.freeze({ ...context });
    this.#hasContext = Object.keys(this.#context).length > 0;
    if (now !== undefined) this.#now = now;
  }

  /** The details of `entry` for `context`, cached per rollout outcome. */
  evaluate(entry: Entry, context: EvaluationContext | undefined): ResolveDetails {
    const outcome = entry.rollout ? this.#outcome(entry.rollout, context) : NO_ROLLOUT;
    const hit = entry.byOutcome.get(outcome);
    if (hit) return hit;
    const details = this.#details(entry, outcome);
    entry.byOutcome.set(outcome, details);
    return details;
  }

  /** For every leaf of the value `evaluate(entry, context)` gives, the layer that set it. */
  explain(entry: Entry, context: EvaluationContext | undefined): Explain {
    const outcome = entry.rollout ? this.#outcome(entry.rollout, context) : NO_ROLLOUT;
    return withRollout(entry.base, this.#rolloutLayer(entry, outcome)).explain;
  }

  #outcome(rollout: CompiledRollout, context: EvaluationContext | undefined): RolloutOutcome {
    // The default context is merged in only when it has members: a plain call allocates nothing.
    const ctx = context === undefined ? this.#context : this.#hasContext ? { ...this.#context, ...context } : context;
    return rollout.evaluate(ctx, rollout.usesClock ? this.#now() : 0);
  }

  #rolloutLayer(entry: Entry, outcome: RolloutOutcome) {
    return outcome.overlay === undefined
      ? undefined
      : {
          overlay: outcome.overlay,
          ruleId: outcome.ruleId,
          variant: outcome.variant,
          version: entry.meta.versions.app ?? entry.meta.versions.global,
        };
  }

  #details(entry: Entry, outcome: RolloutOutcome): ResolveDetails {
    const value = entry.values.get(outcome) ?? withRollout(entry.base, this.#rolloutLayer(entry, outcome)).value;
    const reason = entry.meta.stale
      ? 'STALE'
      : outcome.reason === 'TARGETING_MATCH' || outcome.reason === 'SPLIT' || outcome.reason === 'DISABLED'
        ? outcome.reason
        : 'STATIC';
    return Object.freeze({
      ...entry.meta,
      value,
      reason,
      ruleId: outcome.ruleId,
      variant: outcome.variant,
    });
  }
}
