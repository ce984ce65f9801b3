import { createRequire } from 'node:module';
import type * as Semver from 'semver';
import { checkKeys, checkOneOf, child, type IssueList, isRecord, parseTime } from './issues.js';

// `semver` (CommonJS) is loaded on the first semver constraint compiled or checked, not when the
// package is imported: most processes never use one, and loading it costs ~10 ms of start-up.
const requireCjs = createRequire(import.meta.url);
let semverModule: typeof Semver | undefined;
function semver(): typeof Semver {
  semverModule ??= requireCjs('semver') as typeof Semver;
  return semverModule;
}

/**
 * The context a rollout or flag is evaluated for. `targetingKey` (OpenFeature's name) or `userId`
 * identifies the unit; `groups` lists the unit's groups; every other member is an attribute that
 * constraints can test. Attribute names containing `.` also look into nested objects
 * (`device.os` reads `context.device.os` when there is no flat `"device.os"` member).
 */
export interface EvaluationContext {
  targetingKey?: string;
  userId?: string;
  groups?: readonly string[] | string;
  [attribute: string]: unknown;
}

/** Every operator a constraint may use. */
export const OPERATORS = [
  // membership and strings (`values`: any of)
  'in',
  'not_in',
  'starts_with',
  'ends_with',
  'contains',
  // equality (`value`: string, number or boolean) and numbers (`value`: number)
  'eq',
  'neq',
  'lt',
  'lte',
  'gt',
  'gte',
  // dates (`value`: ISO-8601 date-time, UTC when no zone is given)
  'before',
  'after',
  // semantic versions (`value`: a version; `semver_satisfies` takes a range such as ">=1.2 <2")
  'semver_eq',
  'semver_neq',
  'semver_lt',
  'semver_lte',
  'semver_gt',
  'semver_gte',
  'semver_satisfies',
  // presence (no value)
  'exists',
  'not_exists',
] as const;

export type Operator = (typeof OPERATORS)[number];

/** One attribute test. `values` for the list operators, `value` for the comparisons, neither for presence. */
export interface Constraint {
  attribute: string;
  operator: Operator;
  /** For `in`, `not_in`, `starts_with`, `ends_with`, `contains`: the constraint holds if any value matches. */
  values?: Array<string | number | boolean>;
  /** For `eq`, `neq`, `lt`, `lte`, `gt`, `gte`, `before`, `after` and the `semver_*` operators. */
  value?: string | number | boolean;
  /** String operators (`in`, `not_in`, `starts_with`, `ends_with`, `contains`, `eq`, `neq`) ignore case. */
  caseInsensitive?: boolean;
}

/**
 * Who a rule applies to. A unit matches when (no `users` and no `groups` are given, or its id is in
 * `users`, or one of its groups is in `groups`) and every constraint holds.
 */
export interface Targeting {
  /** Unit ids (`targetingKey`, else `userId`). */
  users?: string[];
  /** Group names matched against `context.groups`. */
  groups?: string[];
  /** Attribute constraints; all must hold. */
  constraints?: Constraint[];
}

export type Predicate = (context: EvaluationContext) => boolean;

const LIST_OPERATORS = new Set<Operator>(['in', 'not_in', 'starts_with', 'ends_with', 'contains']);
const NUMBER_OPERATORS = new Set<Operator>(['lt', 'lte', 'gt', 'gte']);
const EQUALITY_OPERATORS = new Set<Operator>(['eq', 'neq']);
const DATE_OPERATORS = new Set<Operator>(['before', 'after']);
/** The `semver_*` comparisons (`semver_satisfies` takes a range and is handled on its own). */
const SEMVER_OPERATORS = new Set<Operator>(
  OPERATORS.filter((o) => o.startsWith('semver_') && o !== 'semver_satisfies'),
);
const PRESENCE_OPERATORS = new Set<Operator>(['exists', 'not_exists']);

/** The unit id of a context: `targetingKey`, else `userId`; undefined when neither is a non-empty string. */
export function unitIdOf(context: EvaluationContext): string | undefined {
  const key = context.targetingKey;
  if (typeof key === 'string' && key !== '') return key;
  const user = context.userId;
  if (typeof user === 'string' && user !== '') return user;
  return undefined;
}

/** Returns a reader for one attribute: the flat member first, then the dotted path into nested objects. */
export function attributeReader(attribute: string): (context: EvaluationContext) => unknown {
  if (!attribute.includes('.')) return (context) => context[attribute];
  const path = attribute.split('.');
  return (context) => {
    const flat = context[attribute];
    if (flat !== undefined) return flat;
    let current: unknown = context;
    for (const segment of path) {
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
    return current;
  };
}

function scalarString(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return Number.isFinite(value) ? String(value) : undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return undefined;
  }
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return Number.NaN;
}

/**
 * Parses semantic versions through a bounded memo shared by every constraint: the versions a fleet
 * reports are few, so after warm-up a comparison costs a map lookup instead of a parse.
 */
const SEMVER_MEMO_LIMIT = 1024;
const semverMemo = new Map<string, Semver.SemVer | null>();
function semverParser(): (value: unknown) => Semver.SemVer | null {
  const { parse } = semver();
  return (value) => {
    if (typeof value !== 'string') return null;
    let parsed = semverMemo.get(value);
    if (parsed === undefined) {
      parsed = parse(value);
      if (semverMemo.size >= SEMVER_MEMO_LIMIT) semverMemo.clear();
      semverMemo.set(value, parsed);
    }
    return parsed;
  };
}

/** Compiles one (already validated) constraint into a predicate. */
export function compileConstraint(constraint: Constraint): Predicate {
  const read = attributeReader(constraint.attribute);
  const op = constraint.operator;
  const fold = constraint.caseInsensitive === true;
  const norm = fold ? (s: string) => s.toLowerCase() : (s: string) => s;

  if (PRESENCE_OPERATORS.has(op)) {
    const want = op === 'exists';
    return (ctx) => {
      const v = read(ctx);
      return (v !== undefined && v !== null) === want;
    };
  }
  if (LIST_OPERATORS.has(op)) {
    const values = (constraint.values ?? []).map((v) => norm(String(v)));
    const attrString = (ctx: EvaluationContext): string | undefined => {
      const s = scalarString(read(ctx));
      return s === undefined ? undefined : norm(s);
    };
    switch (op) {
      case 'in': {
        const set = new Set(values);
        return (ctx) => {
          const s = attrString(ctx);
          return s !== undefined && set.has(s);
        };
      }
      case 'not_in': {
        const set = new Set(values);
        // A missing attribute is "not in" the list.
        return (ctx) => {
          const s = attrString(ctx);
          return s === undefined || !set.has(s);
        };
      }
      case 'starts_with':
        return (ctx) => {
          const s = attrString(ctx);
          return s !== undefined && values.some((v) => s.startsWith(v));
        };
      case 'ends_with':
        return (ctx) => {
          const s = attrString(ctx);
          return s !== undefined && values.some((v) => s.endsWith(v));
        };
      default:
        return (ctx) => {
          const s = attrString(ctx);
          return s !== undefined && values.some((v) => s.includes(v));
        };
    }
  }
  if (EQUALITY_OPERATORS.has(op)) {
    const target = constraint.value;
    const negate = op === 'neq';
    if (typeof target === 'number') {
      return (ctx) => {
        const n = toNumber(read(ctx));
        if (Number.isNaN(n)) return negate;
        return (n === target) !== negate;
      };
    }
    if (typeof target === 'boolean') {
      return (ctx) => {
        const v = read(ctx);
        const b = v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined;
        if (b === undefined) return negate;
        return (b === target) !== negate;
      };
    }
    const want = norm(String(target));
    return (ctx) => {
      const s = scalarString(read(ctx));
      if (s === undefined) return negate;
      return (norm(s) === want) !== negate;
    };
  }
  if (NUMBER_OPERATORS.has(op)) {
    const target = constraint.value as number;
    switch (op) {
      case 'lt':
        return (ctx) => toNumber(read(ctx)) < target;
      case 'lte':
        return (ctx) => toNumber(read(ctx)) <= target;
      case 'gt':
        return (ctx) => toNumber(read(ctx)) > target;
      default:
        return (ctx) => toNumber(read(ctx)) >= target;
    }
  }
  if (DATE_OPERATORS.has(op)) {
    const target = parseTime(constraint.value);
    return op === 'before' ? (ctx) => parseTime(read(ctx)) < target : (ctx) => parseTime(read(ctx)) > target;
  }
  if (op === 'semver_satisfies') {
    const range = new (semver().Range)(String(constraint.value));
    const parse = semverParser();
    return (ctx) => {
      const v = parse(read(ctx));
      return v !== null && range.test(v);
    };
  }
  if (SEMVER_OPERATORS.has(op)) {
    const target = semver().parse(String(constraint.value)) as Semver.SemVer;
    const parse = semverParser();
    const test: (c: number) => boolean =
      op === 'semver_eq'
        ? (c) => c === 0
        : op === 'semver_neq'
          ? (c) => c !== 0
          : op === 'semver_lt'
            ? (c) => c < 0
            : op === 'semver_lte'
              ? (c) => c <= 0
              : op === 'semver_gt'
                ? (c) => c > 0
                : (c) => c >= 0;
    return (ctx) => {
      const v = parse(read(ctx));
      return v !== null && test(v.compare(target));
    };
  }
  // Unreachable for validated input; fail closed.
  return () => false;
}

const ALWAYS: Predicate = () => true;

/** Compiles a (validated) targeting block into one predicate. `undefined` targets everyone. */
export function compileTargeting(targeting: Targeting | undefined): Predicate {
  if (targeting === undefined) return ALWAYS;
  const users = targeting.users && targeting.users.length > 0 ? new Set(targeting.users) : undefined;
  const groups = targeting.groups && targeting.groups.length > 0 ? new Set(targeting.groups) : undefined;
  const constraints = (targeting.constraints ?? []).map(compileConstraint);

  const member: Predicate | undefined =
    users === undefined && groups === undefined
      ? undefined
      : (ctx) => {
          if (users !== undefined) {
            const id = unitIdOf(ctx);
            if (id !== undefined && users.has(id)) return true;
          }
          if (groups !== undefined) {
            const g = ctx.groups;
            if (typeof g === 'string') return groups.has(g);
            if (Array.isArray(g)) {
              for (const name of g) if (groups.has(name)) return true;
            }
          }
          return false;
        };

  if (constraints.length === 0) return member ?? ALWAYS;
  if (constraints.length === 1 && member === undefined) return constraints[0] as Predicate;
  return (ctx) => {
    if (member !== undefined && !member(ctx)) return false;
    for (const c of constraints) if (!c(ctx)) return false;
    return true;
  };
}

const TARGETING_KEYS = new Set(['users', 'groups', 'constraints']);
const CONSTRAINT_KEYS = new Set(['attribute', 'operator', 'values', 'value', 'caseInsensitive']);

function checkStringList(value: unknown, pointer: string, issues: IssueList, what: string): void {
  if (!Array.isArray(value)) {
    issues.add(pointer, `${what} must be an array of strings`, 'type');
    return;
  }
  value.forEach((v, i) => {
    if (typeof v !== 'string' || v === '') issues.add(child(pointer, i), `${what} entries must be non-empty strings`);
  });
}

/** Validates one constraint, adding an issue (with its pointer) for every problem. */
export function checkConstraint(raw: unknown, pointer: string, issues: IssueList): void {
  if (!isRecord(raw)) {
    issues.add(pointer, 'a constraint must be an object { attribute, operator, value | values }', 'type');
    return;
  }
  checkKeys(raw, CONSTRAINT_KEYS, pointer, issues, 'a constraint');
  if (typeof raw.attribute !== 'string' || raw.attribute === '') {
    issues.add(child(pointer, 'attribute'), 'attribute must be a non-empty string', 'required');
  }
  const operator = raw.operator;
  if (!checkOneOf(operator, OPERATORS, child(pointer, 'operator'), issues, 'operator')) return;
  if (raw.caseInsensitive !== undefined && typeof raw.caseInsensitive !== 'boolean') {
    issues.add(child(pointer, 'caseInsensitive'), 'caseInsensitive must be a boolean', 'type');
  }
  const vp = child(pointer, 'value');
  const vsp = child(pointer, 'values');
  if (LIST_OPERATORS.has(operator)) {
    if (raw.value !== undefined) issues.add(vp, `operator "${operator}" takes "values" (a list), not "value"`);
    const values = raw.values;
    if (!Array.isArray(values) || values.length === 0) {
      issues.add(vsp, `operator "${operator}" needs a non-empty "values" array`, 'required');
      return;
    }
    values.forEach((v, i) => {
      const ok =
        typeof v === 'string' ||
        typeof v === 'boolean' ||
        (typeof v === 'number' && Number.isFinite(v) && operator !== 'starts_with' && operator !== 'ends_with');
      if (!ok || (operator !== 'in' && operator !== 'not_in' && typeof v !== 'string')) {
        issues.add(
          child(vsp, i),
          operator === 'in' || operator === 'not_in'
            ? 'values must be strings, numbers or booleans'
            : `operator "${operator}" compares strings; values must be strings`,
        );
      }
    });
    return;
  }
  if (raw.values !== undefined) issues.add(vsp, `operator "${operator}" takes "value", not "values"`);
  if (PRESENCE_OPERATORS.has(operator)) {
    if (raw.value !== undefined) issues.add(vp, `operator "${operator}" takes no value`);
    return;
  }
  const value = raw.value;
  if (value === undefined) {
    issues.add(vp, `operator "${operator}" needs a "value"`, 'required');
    return;
  }
  if (EQUALITY_OPERATORS.has(operator)) {
    if (
      !(
        typeof value === 'string' ||
        typeof value === 'boolean' ||
        (typeof value === 'number' && Number.isFinite(value))
      )
    ) {
      issues.add(vp, `operator "${operator}" needs a string, number or boolean value`, 'type');
    }
  } else if (NUMBER_OPERATORS.has(operator)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      issues.add(vp, `operator "${operator}" compares numbers; value must be a finite number`, 'type');
    }
  } else if (DATE_OPERATORS.has(operator)) {
    if (typeof value !== 'string' || Number.isNaN(parseTime(value))) {
      issues.add(
        vp,
        `operator "${operator}" needs an ISO-8601 date-time value, got ${JSON.stringify(value)}`,
        'format',
      );
    }
  } else if (operator === 'semver_satisfies') {
    if (typeof value !== 'string' || semver().validRange(value) === null) {
      issues.add(vp, `operator "semver_satisfies" needs a semver range, got ${JSON.stringify(value)}`, 'format');
    }
  } else if (SEMVER_OPERATORS.has(operator)) {
    if (typeof value !== 'string' || semver().parse(value) === null) {
      issues.add(vp, `operator "${operator}" needs a semantic version, got ${JSON.stringify(value)}`, 'format');
    }
  }
}

/** Validates a targeting block (`when`), adding an issue for every problem. */
export function checkTargeting(raw: unknown, pointer: string, issues: IssueList): void {
  if (!isRecord(raw)) {
    issues.add(pointer, 'targeting must be an object { users?, groups?, constraints? }', 'type');
    return;
  }
  checkKeys(raw, TARGETING_KEYS, pointer, issues, 'targeting');
  if (raw.users !== undefined) checkStringList(raw.users, child(pointer, 'users'), issues, 'users');
  if (raw.groups !== undefined) checkStringList(raw.groups, child(pointer, 'groups'), issues, 'groups');
  if (raw.constraints !== undefined) {
    const cp = child(pointer, 'constraints');
    if (!Array.isArray(raw.constraints)) issues.add(cp, 'constraints must be an array', 'type');
    else
      raw.constraints.forEach((c, i) => {
        checkConstraint(c, child(cp, i), issues);
      });
  }
}
