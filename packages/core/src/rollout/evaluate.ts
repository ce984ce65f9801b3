/**
 * Compiling and evaluating rollout rules. `compileRollout` runs once per config version (it validates,
 * precomputes hash prefixes, targeting predicates and every possible outcome); `evaluate` then runs per
 * request and allocates nothing: it returns one of the precomputed, frozen outcomes, so callers can
 * memoise work (such as merging the overlay) by outcome identity.
 */
import { deepFreeze, type JsonObject, type JsonValue } from '../model/json.js';
import { createBucketer, TOTAL_BPS } from './bucketing.js';
import { parseTime } from './issues.js';
import { currentShare } from './progress.js';
import type { FlagRuleSpec, FlagSpec, FlagType, RolloutRule, RolloutSpec, TimeWindow } from './rules.js';
import { attributeReader, compileTargeting, type EvaluationContext, type Predicate, unitIdOf } from './targeting.js';
import { validateRollout } from './validate.js';

/**
 * Why a value was chosen (OpenFeature's standard reasons):
 * - `STATIC`: no dynamic evaluation (no rules, or a rule that applies to everyone);
 * - `TARGETING_MATCH`: a rule's targeting or time window selected it;
 * - `SPLIT`: deterministic bucketing (percentage, canary, A/B, flag split) selected it;
 * - `DEFAULT`: rules exist but none matched, so the base (or the flag's default variant) applies;
 * - `DISABLED`: the rollout or flag is switched off.
 */
export type RolloutReason = 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'DISABLED';

/** The result of evaluating a rollout for one context. Outcomes are frozen and shared: compare by identity. */
export interface RolloutOutcome {
  /** Stable within a compiled rollout: `none`, `default`, `disabled`, `rule:<id>` or `rule:<id>#<variant>`. */
  readonly key: string;
  /** The patch to merge over the resolved config; undefined when no rule applies. */
  readonly overlay: JsonObject | undefined;
  readonly reason: RolloutReason;
  readonly ruleId?: string;
  /** `candidate` for percentage/canary, the variant name for A/B, window and flag rules. */
  readonly variant?: string;
}

/** The result of evaluating one flag. Frozen and shared between calls. */
export interface FlagEvaluation {
  readonly flagKey: string;
  readonly type: FlagType;
  readonly value: JsonValue;
  readonly variant: string;
  readonly reason: RolloutReason;
  readonly ruleId?: string;
}

export interface CompiledFlag {
  readonly key: string;
  readonly type: FlagType;
  /** The flag's normalised definition (boolean shorthand expanded). */
  readonly spec: FlagSpec;
  /** Evaluates the flag; `now` is epoch milliseconds or a Date (default: the current time). */
  evaluate(context?: EvaluationContext, now?: number | Date): FlagEvaluation;
}

/** Flags by key, as the OpenFeature provider reads them. A `Map<string, CompiledFlag>` is one. */
export interface FlagSet {
  get(key: string): CompiledFlag | undefined;
  keys(): IterableIterator<string>;
}

export interface CompiledRollout {
  /** The validated rules this was compiled from (a frozen copy). */
  readonly spec: RolloutSpec;
  readonly flags: ReadonlyMap<string, CompiledFlag>;
  /** Every outcome `evaluate` can return, for precomputing what depends on them. */
  readonly outcomes: readonly RolloutOutcome[];
  /** Whether any rule depends on the clock (time windows); if not, `now` is never read. */
  readonly usesClock: boolean;
  /** Whether the outcome can depend on the context; if not, every context gets the same outcome. */
  readonly usesContext: boolean;
  /** Chooses the outcome for `context` at `now` (epoch milliseconds or Date; default: the current time). */
  evaluate(context?: EvaluationContext, now?: number | Date): RolloutOutcome;
}

const EMPTY_CONTEXT: EvaluationContext = Object.freeze({});

function outcome(
  key: string,
  reason: RolloutReason,
  overlay?: JsonObject,
  ruleId?: string,
  variant?: string,
): RolloutOutcome {
  const o: { -readonly [K in keyof RolloutOutcome]: RolloutOutcome[K] } = { key, overlay, reason };
  if (ruleId !== undefined) o.ruleId = ruleId;
  if (variant !== undefined) o.variant = variant;
  return Object.freeze(o);
}

/** The outcome of "no rollout at all" (a version whose `rollout` is null). */
export const NO_ROLLOUT: RolloutOutcome = outcome('none', 'STATIC');

type ReadUnit = (context: EvaluationContext) => string | undefined;

function stickinessReader(attribute: string | undefined): ReadUnit {
  if (attribute === undefined) return unitIdOf;
  const read = attributeReader(attribute);
  return (context) => {
    const v = read(context);
    if (typeof v === 'string') return v === '' ? undefined : v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    return undefined;
  };
}

interface Gate {
  /** True when neither targeting nor a window restricts the rule. */
  readonly open: boolean;
  readonly usesClock: boolean;
  test(context: EvaluationContext, now: number): boolean;
}

function compileWindow(window: TimeWindow): { start: number; end: number } {
  return {
    start: window.start === undefined ? Number.NEGATIVE_INFINITY : parseTime(window.start),
    end: window.end === undefined ? Number.POSITIVE_INFINITY : parseTime(window.end),
  };
}

function compileGate(rule: { when?: RolloutRule['when']; window?: TimeWindow }): Gate {
  const when: Predicate | undefined = rule.when === undefined ? undefined : compileTargeting(rule.when);
  const window = rule.window === undefined ? undefined : compileWindow(rule.window);
  if (when === undefined && window === undefined) return { open: true, usesClock: false, test: () => true };
  if (window === undefined) return { open: false, usesClock: false, test: (ctx) => (when as Predicate)(ctx) };
  const { start, end } = window;
  if (when === undefined) return { open: false, usesClock: true, test: (_ctx, now) => now >= start && now < end };
  return { open: false, usesClock: true, test: (ctx, now) => now >= start && now < end && when(ctx) };
}

type RuleEval = (context: EvaluationContext, now: number) => RolloutOutcome | undefined;

interface CompiledRule {
  readonly evaluate: RuleEval;
  readonly outcomes: RolloutOutcome[];
  readonly usesClock: boolean;
  readonly usesContext: boolean;
}

/** Upper bucket bounds of consecutive weights: [1000, 9000] -> [1000, 10000]. */
function cumulative(weights: readonly number[]): number[] {
  const bounds: number[] = [];
  let sum = 0;
  for (const w of weights) {
    sum += w;
    bounds.push(sum);
  }
  return bounds;
}

function seedFor(spec: RolloutSpec, ...parts: string[]): string {
  return spec.seed === undefined ? parts.join('.') : [spec.seed, ...parts].join('.');
}

function compileRule(
  rule: RolloutRule,
  spec: RolloutSpec,
  flags: ReadonlyMap<string, CompiledFlag>,
): CompiledRule | undefined {
  if (rule.enabled === false) return undefined;
  const gate = compileGate(rule);
  const gatedReason: RolloutReason = gate.open ? 'STATIC' : 'TARGETING_MATCH';
  const id = rule.id;
  switch (rule.strategy) {
    case 'immediate': {
      const o = outcome(`rule:${id}`, gatedReason, rule.patch, id);
      return {
        evaluate: gate.open ? () => o : (ctx, now) => (gate.test(ctx, now) ? o : undefined),
        outcomes: [o],
        usesClock: gate.usesClock,
        usesContext: rule.when !== undefined,
      };
    }
    case 'percentage':
    case 'canary': {
      const share = currentShare(rule);
      if (share <= 0) return undefined;
      if (share >= TOTAL_BPS) {
        const o = outcome(`rule:${id}#candidate`, gatedReason, rule.patch, id, 'candidate');
        return {
          evaluate: gate.open ? () => o : (ctx, now) => (gate.test(ctx, now) ? o : undefined),
          outcomes: [o],
          usesClock: gate.usesClock,
          usesContext: rule.when !== undefined,
        };
      }
      const o = outcome(`rule:${id}#candidate`, 'SPLIT', rule.patch, id, 'candidate');
      const bucketer = createBucketer(rule.seed ?? seedFor(spec, id));
      const unit = stickinessReader(rule.stickiness ?? spec.stickiness);
      const inShare = (ctx: EvaluationContext): boolean => {
        const u = unit(ctx);
        return u !== undefined && bucketer.bucket(u) < share;
      };
      return {
        evaluate: gate.open
          ? (ctx) => (inShare(ctx) ? o : undefined)
          : (ctx, now) => (gate.test(ctx, now) && inShare(ctx) ? o : undefined),
        outcomes: [o],
        usesClock: gate.usesClock,
        usesContext: true,
      };
    }
    case 'ab': {
      const variants = rule.variants.filter((v) => v.weight > 0);
      const outcomes = variants.map((v) => outcome(`rule:${id}#${v.name}`, 'SPLIT', v.patch, id, v.name));
      const bounds = cumulative(variants.map((v) => v.weight));
      const bucketer = createBucketer(rule.seed ?? seedFor(spec, id));
      const unit = stickinessReader(rule.stickiness ?? spec.stickiness);
      const pick = (ctx: EvaluationContext): RolloutOutcome | undefined => {
        const u = unit(ctx);
        if (u === undefined) return undefined;
        const b = bucketer.bucket(u);
        for (let i = 0; i < bounds.length; i++) if (b < (bounds[i] as number)) return outcomes[i];
        return undefined;
      };
      return {
        evaluate: gate.open ? (ctx) => pick(ctx) : (ctx, now) => (gate.test(ctx, now) ? pick(ctx) : undefined),
        outcomes,
        usesClock: gate.usesClock,
        usesContext: true,
      };
    }
    case 'flag': {
      const flag = flags.get(rule.flag) as CompiledFlag;
      const byVariantAndReason = new Map<string, RolloutOutcome>();
      const outcomes: RolloutOutcome[] = [];
      const reasons: RolloutReason[] = ['SPLIT', 'TARGETING_MATCH', gatedReason];
      for (const [variant, patch] of Object.entries(rule.patches)) {
        for (const reason of new Set(reasons)) {
          const o = outcome(`rule:${id}#${variant}`, reason, patch, id, variant);
          byVariantAndReason.set(`${variant}\u0000${reason}`, o);
          outcomes.push(o);
        }
      }
      const apply = (ctx: EvaluationContext, now: number): RolloutOutcome | undefined => {
        const ev = flag.evaluate(ctx, now);
        const reason = ev.reason === 'SPLIT' || ev.reason === 'TARGETING_MATCH' ? ev.reason : gatedReason;
        return byVariantAndReason.get(`${ev.variant}\u0000${reason}`);
      };
      return {
        evaluate: gate.open ? apply : (ctx, now) => (gate.test(ctx, now) ? apply(ctx, now) : undefined),
        outcomes,
        usesClock: true,
        usesContext: true,
      };
    }
    case 'window': {
      const windows = rule.windows.map((w, i) => {
        const name = w.name ?? `window-${i}`;
        return {
          ...compileWindow(w),
          outcome: outcome(`rule:${id}#${name}`, 'TARGETING_MATCH', w.patch, id, name),
        };
      });
      const when = rule.when === undefined ? undefined : compileTargeting(rule.when);
      const pick = (now: number): RolloutOutcome | undefined => {
        for (const w of windows) if (now >= w.start && now < w.end) return w.outcome;
        return undefined;
      };
      return {
        evaluate: when === undefined ? (_ctx, now) => pick(now) : (ctx, now) => (when(ctx) ? pick(now) : undefined),
        outcomes: windows.map((w) => w.outcome),
        usesClock: true,
        usesContext: when !== undefined,
      };
    }
  }
}

function normaliseFlag(raw: FlagSpec | boolean): FlagSpec {
  if (typeof raw === 'boolean') return { variants: { on: true, off: false }, defaultVariant: raw ? 'on' : 'off' };
  return raw;
}

function flagTypeOf(spec: FlagSpec): FlagType {
  if (spec.type !== undefined) return spec.type;
  const first = Object.values(spec.variants)[0];
  if (typeof first === 'boolean' || typeof first === 'string' || typeof first === 'number')
    return typeof first as FlagType;
  return 'object';
}

type FlagRuleEval = (context: EvaluationContext, now: number) => FlagEvaluation | undefined;

function compileFlag(key: string, raw: FlagSpec | boolean, spec: RolloutSpec): CompiledFlag {
  const flag = normaliseFlag(raw);
  const type = flagTypeOf(flag);
  const cache = new Map<string, FlagEvaluation>();
  const result = (variant: string, reason: RolloutReason, ruleId?: string): FlagEvaluation => {
    const k = `${variant}\u0000${reason}\u0000${ruleId ?? ''}`;
    let r = cache.get(k);
    if (r === undefined) {
      const value = deepFreeze(structuredClone(flag.variants[variant] as JsonValue));
      const o: { -readonly [K in keyof FlagEvaluation]: FlagEvaluation[K] } = {
        flagKey: key,
        type,
        value,
        variant,
        reason,
      };
      if (ruleId !== undefined) o.ruleId = ruleId;
      r = Object.freeze(o);
      cache.set(k, r);
    }
    return r;
  };
  const rules: FlagRuleEval[] = [];
  for (const rule of flag.rules ?? []) {
    const compiled = compileFlagRule(key, flag, rule, spec, result);
    if (compiled) rules.push(compiled);
  }
  let evaluate: CompiledFlag['evaluate'];
  if (flag.enabled === false) {
    const off = result(flag.offVariant ?? flag.defaultVariant, 'DISABLED');
    evaluate = () => off;
  } else if ((flag.rules ?? []).length === 0) {
    const fixed = result(flag.defaultVariant, 'STATIC');
    evaluate = () => fixed;
  } else {
    const fallback = result(flag.defaultVariant, 'DEFAULT');
    evaluate = (context = EMPTY_CONTEXT, now) => {
      const t = now === undefined ? Date.now() : typeof now === 'number' ? now : now.getTime();
      for (const rule of rules) {
        const r = rule(context, t);
        if (r !== undefined) return r;
      }
      return fallback;
    };
  }
  return Object.freeze({ key, type, spec: flag, evaluate });
}

function compileFlagRule(
  key: string,
  flag: FlagSpec,
  rule: FlagRuleSpec,
  spec: RolloutSpec,
  result: (variant: string, reason: RolloutReason, ruleId?: string) => FlagEvaluation,
): FlagRuleEval | undefined {
  if (rule.enabled === false) return undefined;
  const gate = compileGate(rule);
  const gatedReason: RolloutReason = gate.open ? 'STATIC' : 'TARGETING_MATCH';
  const seed = rule.seed ?? flag.seed ?? seedFor(spec, key, rule.id);
  const unit = stickinessReader(rule.stickiness ?? flag.stickiness ?? spec.stickiness);
  if (rule.variant !== undefined) {
    const bps = rule.bps ?? TOTAL_BPS;
    if (bps <= 0) return undefined;
    if (bps >= TOTAL_BPS) {
      const r = result(rule.variant, gatedReason, rule.id);
      return gate.open ? () => r : (ctx, now) => (gate.test(ctx, now) ? r : undefined);
    }
    const r = result(rule.variant, 'SPLIT', rule.id);
    const bucketer = createBucketer(seed);
    return (ctx, now) => {
      if (!gate.test(ctx, now)) return undefined;
      const u = unit(ctx);
      return u !== undefined && bucketer.bucket(u) < bps ? r : undefined;
    };
  }
  const split = (rule.split ?? []).filter((s) => s.weight > 0);
  const results = split.map((s) => result(s.variant, 'SPLIT', rule.id));
  const bounds = cumulative(split.map((s) => s.weight));
  const bucketer = createBucketer(seed);
  return (ctx, now) => {
    if (!gate.test(ctx, now)) return undefined;
    const u = unit(ctx);
    if (u === undefined) return undefined;
    const b = bucketer.bucket(u);
    for (let i = 0; i < bounds.length; i++) if (b < (bounds[i] as number)) return results[i];
    return undefined;
  };
}

const compiledCache = new WeakMap<object, CompiledRollout>();

/**
 * Validates (throws `SCHEMA_VALIDATION` with every issue) and compiles rollout rules. Compile once per
 * config version and evaluate many times. Frozen inputs (such as `ConfigVersion.rollout`) are compiled
 * once per object and the compiled form is reused.
 */
export function compileRollout(raw: unknown, options: { ref?: string } = {}): CompiledRollout {
  const frozen = raw !== null && typeof raw === 'object' && Object.isFrozen(raw);
  if (frozen) {
    const hit = compiledCache.get(raw as object);
    if (hit) return hit;
  }
  const spec = deepFreeze(structuredClone(validateRollout(raw, options)));
  const flags = new Map<string, CompiledFlag>();
  for (const [key, f] of Object.entries(spec.flags ?? {})) flags.set(key, compileFlag(key, f, spec));

  const rules: CompiledRule[] = [];
  for (const rule of spec.rules ?? []) {
    const compiled = compileRule(rule, spec, flags);
    if (compiled) rules.push(compiled);
  }
  const hasRules = (spec.rules ?? []).length > 0;
  const fallback =
    spec.enabled === false
      ? outcome('disabled', 'DISABLED')
      : hasRules
        ? outcome('default', 'DEFAULT')
        : outcome('none', 'STATIC');
  const outcomes = [fallback, ...rules.flatMap((r) => r.outcomes)];
  const usesClock = rules.some((r) => r.usesClock);
  const usesContext = rules.some((r) => r.usesContext);
  const evals = rules.map((r) => r.evaluate);

  let evaluate: CompiledRollout['evaluate'];
  if (spec.enabled === false || evals.length === 0) {
    evaluate = () => fallback;
  } else if (evals.length === 1) {
    const only = evals[0] as RuleEval;
    evaluate = usesClock
      ? (context = EMPTY_CONTEXT, now) =>
          only(context, now === undefined ? Date.now() : typeof now === 'number' ? now : now.getTime()) ?? fallback
      : (context = EMPTY_CONTEXT) => only(context, 0) ?? fallback;
  } else {
    evaluate = (context = EMPTY_CONTEXT, now) => {
      const t = !usesClock ? 0 : now === undefined ? Date.now() : typeof now === 'number' ? now : now.getTime();
      for (let i = 0; i < evals.length; i++) {
        const o = (evals[i] as RuleEval)(context, t);
        if (o !== undefined) return o;
      }
      return fallback;
    };
  }
  const compiled: CompiledRollout = Object.freeze({
    spec,
    flags,
    outcomes: Object.freeze(outcomes),
    usesClock,
    usesContext,
    evaluate,
  });
  if (frozen) compiledCache.set(raw as object, compiled);
  return compiled;
}

function isCompiled(value: unknown): value is CompiledRollout {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as CompiledRollout).evaluate === 'function' &&
    (value as CompiledRollout).flags instanceof Map
  );
}

/**
 * Chooses the rollout outcome for a context: the overlay to merge over the resolved config, with its
 * reason, rule and variant. `rollout` may be the stored JSON (compiled and cached when frozen), a
 * compiled rollout, or null/undefined (no rollout: overlay undefined, reason STATIC).
 */
export function evaluateRollout(
  rollout: RolloutSpec | CompiledRollout | JsonObject | null | undefined,
  context: EvaluationContext = EMPTY_CONTEXT,
  now?: number | Date,
): RolloutOutcome {
  if (rollout === null || rollout === undefined) return NO_ROLLOUT;
  const compiled = isCompiled(rollout) ? rollout : compileRollout(rollout);
  return compiled.evaluate(context, now);
}

/** Evaluates one flag of a compiled rollout; undefined when the rollout has no such flag. */
export function evaluateFlag(
  rollout: CompiledRollout,
  key: string,
  context: EvaluationContext = EMPTY_CONTEXT,
  now?: number | Date,
): FlagEvaluation | undefined {
  return rollout.flags.get(key)?.evaluate(context, now);
}

/** Evaluates every flag of a compiled rollout, by key. */
export function evaluateFlags(
  rollout: CompiledRollout,
  context: EvaluationContext = EMPTY_CONTEXT,
  now?: number | Date,
): Record<string, FlagEvaluation> {
  const out: Record<string, FlagEvaluation> = {};
  const t = now ?? Date.now();
  for (const [key, flag] of rollout.flags) out[key] = flag.evaluate(context, t);
  return out;
}

/** Combines the flags of several compiled rollouts into one set; a later rollout's flag wins a key clash. */
export function flagSetOf(...rollouts: Array<CompiledRollout | undefined>): Map<string, CompiledFlag> {
  const out = new Map<string, CompiledFlag>();
  for (const r of rollouts) {
    if (r) for (const [key, flag] of r.flags) out.set(key, flag);
  }
  return out;
}
