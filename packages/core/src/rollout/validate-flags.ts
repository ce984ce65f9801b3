/**
 * Validation of a rollout's flags (`flags`): keys, variants and their common type, the default and
 * off variants, and the flag's rules (a variant, or a weighted split of variants, for matching units).
 */
import { assertJson, type JsonValue } from '../model/json.js';
import {
  checkBps,
  checkDescribed,
  checkGates,
  checkRuleList,
  checkStickiness,
  checkUniqueName,
  checkWeights,
} from './checks.js';
import { checkKeys, child, type IssueList, isRecord, NAME } from './issues.js';
import type { FlagType } from './rules.js';

const FLAG_KEYS = new Set([
  'description',
  'enabled',
  'type',
  'variants',
  'defaultVariant',
  'offVariant',
  'seed',
  'stickiness',
  'rules',
]);
const FLAG_RULE_KEYS = new Set([
  'id',
  'description',
  'enabled',
  'when',
  'window',
  'variant',
  'bps',
  'split',
  'seed',
  'stickiness',
]);
const SPLIT_KEYS = new Set(['variant', 'weight']);
const FLAG_TYPES: ReadonlySet<string> = new Set(['boolean', 'string', 'number', 'object']);

function jsonType(value: JsonValue): FlagType | 'null' {
  if (value === null) return 'null';
  if (typeof value === 'boolean' || typeof value === 'string' || typeof value === 'number')
    return typeof value as FlagType;
  return 'object';
}

/**
 * Checks one flag; returns its variant names (`on` and `off` for a boolean shorthand), or undefined
 * when they cannot be known.
 */
export function checkFlag(key: string, raw: unknown, pointer: string, issues: IssueList): Set<string> | undefined {
  if (!NAME.test(key)) issues.add(pointer, `flag key must match ${NAME.source}`, 'pattern');
  if (typeof raw === 'boolean') return new Set(['on', 'off']);
  if (!isRecord(raw)) {
    issues.add(pointer, 'a flag must be a boolean or an object { variants, defaultVariant, rules? }', 'type');
    return undefined;
  }
  checkKeys(raw, FLAG_KEYS, pointer, issues, 'a flag');
  checkDescribed(raw, pointer, issues);
  checkStickiness(raw, pointer, issues);
  if (raw.type !== undefined && (typeof raw.type !== 'string' || !FLAG_TYPES.has(raw.type))) {
    issues.add(
      child(pointer, 'type'),
      `unknown flag type ${JSON.stringify(raw.type)}; expected boolean, string, number or object`,
      'enum',
    );
  }
  const vp = child(pointer, 'variants');
  if (!isRecord(raw.variants) || Object.keys(raw.variants).length === 0) {
    issues.add(vp, 'variants must map at least one variant name to a value', 'type');
    return undefined;
  }
  const variants = new Set<string>();
  let firstType: string | undefined = typeof raw.type === 'string' ? raw.type : undefined;
  for (const [name, value] of Object.entries(raw.variants)) {
    const p = child(vp, name);
    if (!NAME.test(name)) issues.add(p, `variant name must match ${NAME.source}`, 'pattern');
    variants.add(name);
    try {
      assertJson(value, p);
    } catch (error) {
      issues.add(p, (error as Error).message, 'type');
      continue;
    }
    const t = jsonType(value as JsonValue);
    if (t === 'null') {
      issues.add(p, 'a variant value must not be null', 'type');
      continue;
    }
    firstType ??= t;
    if (t !== firstType) issues.add(p, `variant "${name}" is a ${t}, but the flag's values are ${firstType}`, 'type');
  }
  for (const k of ['defaultVariant', 'offVariant'] as const) {
    const v = raw[k];
    if (v === undefined && k === 'offVariant') continue;
    if (typeof v !== 'string' || !variants.has(v)) {
      issues.add(child(pointer, k), `${k} must name one of the variants (${[...variants].join(', ')})`, 'required');
    }
  }
  checkRuleList(raw.rules, pointer, issues, (rule, p, ids) => {
    checkFlagRule(rule, p, issues, ids, variants);
  });
  return variants;
}

function checkFlagRule(
  raw: unknown,
  pointer: string,
  issues: IssueList,
  ids: Set<string>,
  variants: Set<string>,
): void {
  if (!isRecord(raw)) {
    issues.add(pointer, 'a flag rule must be an object { id, variant | split, when?, ... }', 'type');
    return;
  }
  checkKeys(raw, FLAG_RULE_KEYS, pointer, issues, 'a flag rule');
  checkUniqueName(raw.id, child(pointer, 'id'), issues, ids, 'rule id');
  checkDescribed(raw, pointer, issues);
  checkStickiness(raw, pointer, issues);
  checkGates(raw, pointer, issues);
  const hasVariant = raw.variant !== undefined;
  const hasSplit = raw.split !== undefined;
  if (hasVariant === hasSplit) {
    issues.add(pointer, 'a flag rule needs exactly one of "variant" and "split"', 'required');
  }
  if (hasVariant && (typeof raw.variant !== 'string' || !variants.has(raw.variant))) {
    issues.add(
      child(pointer, 'variant'),
      `variant ${JSON.stringify(raw.variant)} is not one of the flag's variants`,
      'enum',
    );
  }
  if (raw.bps !== undefined) {
    if (!hasVariant) issues.add(child(pointer, 'bps'), 'bps applies to a rule with "variant"', 'dependencies');
    checkBps(raw.bps, child(pointer, 'bps'), issues);
  }
  if (hasSplit) {
    const sp = child(pointer, 'split');
    if (!Array.isArray(raw.split)) issues.add(sp, 'split must be an array of { variant, weight }', 'type');
    else
      checkWeights(raw.split, sp, issues, 'variant', SPLIT_KEYS, 'split', (item, p) => {
        if (typeof item.variant === 'string' && !variants.has(item.variant)) {
          issues.add(child(p, 'variant'), `variant "${item.variant}" is not one of the flag's variants`, 'enum');
        }
      });
  }
}
