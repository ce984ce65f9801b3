/**
 * The pure JSON transforms of a progressive (`percentage` or `canary`) rule that the agent uses to
 * step, promote and abort a rollout, and the share such a rule currently serves. Each returns a
 * validated copy; the input is never modified.
 */
import { errors } from '../errors/config-error.js';
import { TOTAL_BPS } from './bucketing.js';
import type { ProgressiveRule, RolloutSpec } from './rules.js';
import { validateRollout } from './validate.js';

/** The share (basis points) a progressive rule currently serves: 10 000 once promoted, 0 once aborted. */
export function currentShare(rule: ProgressiveRule): number {
  const state = rule.state ?? 'running';
  if (state === 'promoted') return TOTAL_BPS;
  if (state === 'aborted') return 0;
  if (rule.schedule !== undefined) return rule.schedule[rule.step ?? 0] ?? 0;
  return rule.bps ?? 0;
}

function progressiveRule(spec: RolloutSpec, ruleId: string): { copy: RolloutSpec; rule: ProgressiveRule } {
  const copy = structuredClone(validateRollout(spec));
  const rule = copy.rules?.find((r) => r.id === ruleId);
  if (!rule) throw errors.notFound(`rollout has no rule "${ruleId}"`);
  if (rule.strategy !== 'percentage' && rule.strategy !== 'canary') {
    throw errors.constraint(`rule "${ruleId}" is a ${rule.strategy} rule, not a percentage or canary rule`);
  }
  return { copy, rule };
}

/**
 * Returns a copy of `spec` with the progressive rule `ruleId` moved to its next schedule step (the
 * seed is kept, so every unit already in stays in). Throws `CONSTRAINT_VIOLATION` when the rule has no
 * schedule, is at its last step, or is promoted or aborted; `NOT_FOUND` for an unknown rule.
 */
export function advanceRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  const state = rule.state ?? 'running';
  if (state === 'promoted' || state === 'aborted') throw errors.constraint(`rule "${ruleId}" is already ${state}`);
  if (rule.schedule === undefined) throw errors.constraint(`rule "${ruleId}" has no schedule to step through`);
  const step = rule.step ?? 0;
  if (step + 1 >= rule.schedule.length) throw errors.constraint(`rule "${ruleId}" is at its last step; promote it`);
  rule.step = step + 1;
  return copy;
}

/** Returns a copy of `spec` with rule `ruleId` promoted: its candidate patch serves every matching unit. */
export function promoteRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  if (rule.state === 'aborted') throw errors.constraint(`rule "${ruleId}" was aborted; start a new rollout`);
  rule.state = 'promoted';
  return copy;
}

/** Returns a copy of `spec` with rule `ruleId` aborted: no unit gets its candidate patch any more. */
export function abortRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  if (rule.state === 'promoted') throw errors.constraint(`rule "${ruleId}" was promoted; roll back instead`);
  rule.state = 'aborted';
  return copy;
}

/**
 * Returns a copy of `spec` with rule `ruleId` paused: it keeps serving its current share and the
 * agent's stepping leaves it alone (a step by hand still moves it). `CONSTRAINT_VIOLATION` when it is
 * promoted, aborted or already paused.
 */
export function pauseRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  const state = rule.state ?? 'running';
  if (state !== 'running') throw errors.constraint(`rule "${ruleId}" is ${state}, not running`);
  rule.state = 'paused';
  return copy;
}

/** Returns a copy of `spec` with the paused rule `ruleId` running again; `CONSTRAINT_VIOLATION` unless paused. */
export function resumeRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  const state = rule.state ?? 'running';
  if (state !== 'paused') throw errors.constraint(`rule "${ruleId}" is ${state}, not paused`);
  rule.state = 'running';
  return copy;
}
