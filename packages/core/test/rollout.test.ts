import { abRule, evenSplit, groupThenRampFlag } from '@summit-config/test-support/builders';
import { thrown, throwsCode } from '@summit-config/test-support/errors';
import { readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import {
  abortRollout,
  advanceRollout,
  compileRollout,
  evaluateFlag,
  evaluateFlags,
  isConfigError,
  pauseRollout,
  promoteRollout,
  type RolloutSpec,
  resumeRollout,
  SchemaValidationError,
  validateRollout,
} from '../src/index.js';
import { createVersion } from '../src/internal.js';
import { evaluateRollout, NO_ROLLOUT } from '../src/rollout/evaluate.js';
import { currentShare } from '../src/rollout/progress.js';
import type { ProgressiveRule } from '../src/rollout/rules.js';

interface InvalidCase {
  name: string;
  rollout: unknown;
  issues: Array<{ pointer: string; keyword: string }>;
}

const invalid = readJson(new URL('./fixtures/invalid-rollouts.json', import.meta.url)) as {
  cases: InvalidCase[];
};

/** Targets units whose country is FR. */
const inFrance = { constraints: [{ attribute: 'country', operator: 'in', values: ['FR'] }] };

const users = Array.from({ length: 20_000 }, (_, i) => ({
  userId: `user-${i}`,
  country: i % 4 === 0 ? 'FR' : 'GB',
}));

describe('validateRollout: bad input is refused with typed errors', () => {
  it.each(invalid.cases)('$name', ({ rollout, issues }) => {
    for (const fn of [() => validateRollout(rollout), () => compileRollout(rollout)]) {
      const error = thrown(fn);
      expect(error).toBeInstanceOf(SchemaValidationError);
      expect(isConfigError(error, 'SCHEMA_VALIDATION')).toBe(true);
      const reported = (error as SchemaValidationError).issues.map((i) => ({ pointer: i.pointer, keyword: i.keyword }));
      for (const expected of issues) expect(reported).toContainEqual(expected);
      expect((error as Error).message).toContain(issues[0]?.pointer || '/');
    }
  });

  it('prefixes pointers when validating inside a version', () => {
    const error = thrown(() =>
      validateRollout({ rules: [{ id: 'r', strategy: 'x' }] }, { pointer: '/rollout', ref: 'app:a/b' }),
    ) as SchemaValidationError;
    expect(error.issues[0]?.pointer).toBe('/rollout/rules/0/strategy');
    expect(error.ref).toBe('app:a/b');
  });

  it('accepts a document using every strategy', () => {
    const spec = {
      version: 1,
      seed: 'checkout',
      stickiness: 'userId',
      rules: [
        { id: 'staff', strategy: 'immediate', patch: { debug: true }, when: { groups: ['staff'] } },
        {
          id: 'pool',
          strategy: 'canary',
          patch: { pool: { max: 50 } },
          schedule: [1000, 2500, 5000, 10000],
          step: 1,
          state: 'running',
          stepIntervalMinutes: 30,
          healthGate: { kind: 'prometheus', query: 'rate(errors[5m])', max: 0.01 },
        },
        abRule('colour', [
          ['blue', 5000, { colour: 'blue' }],
          ['green', 5000, { colour: 'green' }],
        ]),
        {
          id: 'sale',
          strategy: 'window',
          windows: [
            { name: 'bf', start: '2025-11-28T00:00:00Z', end: '2025-12-01T00:00:00Z', patch: { discount: 20 } },
          ],
        },
        { id: 'ui', strategy: 'flag', flag: 'new-ui', patches: { on: { ui: 'v2' } } },
      ],
      flags: {
        'new-ui': {
          variants: { on: true, off: false },
          defaultVariant: 'off',
          rules: [{ id: 'beta', when: { groups: ['beta'] }, variant: 'on' }],
        },
        'dark-mode': true,
      },
    };
    expect(validateRollout(spec)).toBe(spec);
  });
});

describe('evaluateRollout', () => {
  it('no rollout: no overlay, STATIC', () => {
    expect(evaluateRollout(null, { userId: 'u' })).toBe(NO_ROLLOUT);
    expect(evaluateRollout(undefined)).toMatchObject({ overlay: undefined, reason: 'STATIC' });
    expect(evaluateRollout({ rules: [] }, { userId: 'u' })).toMatchObject({ overlay: undefined, reason: 'STATIC' });
  });

  it('a disabled rollout applies nothing: DISABLED', () => {
    const o = evaluateRollout({ enabled: false, rules: [{ id: 'r', strategy: 'immediate', patch: { a: 1 } }] });
    expect(o).toMatchObject({ overlay: undefined, reason: 'DISABLED', key: 'disabled' });
  });

  it('immediate: everyone, STATIC; a disabled rule is skipped', () => {
    const c = compileRollout({
      rules: [
        { id: 'off', strategy: 'immediate', patch: { a: 0 }, enabled: false },
        { id: 'all', strategy: 'immediate', patch: { a: 1 } },
      ],
    });
    expect(c.evaluate({})).toMatchObject({ overlay: { a: 1 }, reason: 'STATIC', ruleId: 'all', key: 'rule:all' });
    expect(c.usesContext).toBe(false);
    expect(c.usesClock).toBe(false);
  });

  it('targeting: TARGETING_MATCH when it matches, DEFAULT otherwise', () => {
    const c = compileRollout({ rules: [{ id: 'fr', strategy: 'immediate', patch: { lang: 'fr' }, when: inFrance }] });
    expect(c.evaluate({ country: 'FR' })).toMatchObject({
      overlay: { lang: 'fr' },
      reason: 'TARGETING_MATCH',
      ruleId: 'fr',
    });
    expect(c.evaluate({ country: 'GB' })).toMatchObject({ overlay: undefined, reason: 'DEFAULT', key: 'default' });
    expect(c.evaluate()).toMatchObject({ reason: 'DEFAULT' });
  });

  it('returns shared frozen outcomes, listed in outcomes', () => {
    const c = compileRollout({ rules: [{ id: 'p', strategy: 'percentage', bps: 5000, patch: { x: 1 } }] });
    const a = users.map((u) => c.evaluate(u));
    const distinct = new Set(a);
    expect(distinct.size).toBe(2);
    for (const o of distinct) {
      expect(Object.isFrozen(o)).toBe(true);
      expect(c.outcomes).toContain(o);
    }
  });

  it('percentage gated by targeting: only matching units, about the share of them, SPLIT', () => {
    const c = compileRollout({
      rules: [{ id: 'fr-ramp', strategy: 'percentage', bps: 2000, patch: { pool: 50 }, when: inFrance }],
    });
    const fr = users.filter((u) => u.country === 'FR');
    const gb = users.filter((u) => u.country === 'GB');
    expect(gb.filter((u) => c.evaluate(u).overlay !== undefined)).toEqual([]);
    const inside = fr.filter((u) => c.evaluate(u).overlay !== undefined);
    expect(Math.abs(inside.length / fr.length - 0.2)).toBeLessThan(0.02);
    expect(c.evaluate(inside[0])).toMatchObject({ reason: 'SPLIT', variant: 'candidate', ruleId: 'fr-ramp' });
  });

  it('units without a stickiness value are never in a partial share', () => {
    const c = compileRollout({ rules: [{ id: 'p', strategy: 'percentage', bps: 9999, patch: { x: 1 } }] });
    expect(c.evaluate({})).toMatchObject({ reason: 'DEFAULT' });
    expect(c.evaluate({ userId: '' })).toMatchObject({ reason: 'DEFAULT' });
  });

  it('a custom stickiness attribute keeps a whole tenant together', () => {
    const c = compileRollout({
      rules: [{ id: 't', strategy: 'percentage', bps: 5000, stickiness: 'tenant', patch: { x: 1 } }],
    });
    for (let t = 0; t < 50; t++) {
      const keys = new Set(Array.from({ length: 20 }, (_, i) => c.evaluate({ userId: `u${i}`, tenant: `t${t}` }).key));
      expect(keys.size).toBe(1);
    }
  });

  it('percentage at 100%, promoted and aborted', () => {
    const base = { id: 'c', strategy: 'canary', schedule: [1000, 10000], patch: { v: 2 } } as const;
    const full = compileRollout({ rules: [{ ...base, step: 1 }] });
    expect(users.every((u) => full.evaluate(u).overlay !== undefined)).toBe(true);
    expect(full.evaluate({})).toMatchObject({ reason: 'STATIC', variant: 'candidate' });
    const promoted = compileRollout({ rules: [{ ...base, state: 'promoted' }] });
    expect(promoted.evaluate({ userId: 'anyone' })).toMatchObject({ overlay: { v: 2 }, reason: 'STATIC' });
    const aborted = compileRollout({ rules: [{ ...base, step: 1, state: 'aborted' }] });
    expect(users.filter((u) => aborted.evaluate(u).overlay !== undefined)).toEqual([]);
  });

  it('the first matching rule wins', () => {
    const c = compileRollout({
      rules: [
        { id: 'vip', strategy: 'immediate', patch: { tier: 'vip' }, when: { users: ['user-1'] } },
        { id: 'everyone', strategy: 'immediate', patch: { tier: 'std' } },
      ],
    });
    expect(c.evaluate({ userId: 'user-1' })).toMatchObject({ ruleId: 'vip', overlay: { tier: 'vip' } });
    expect(c.evaluate({ userId: 'user-2' })).toMatchObject({ ruleId: 'everyone', overlay: { tier: 'std' } });
  });

  it('A/B: each unit gets one variant patch, SPLIT with the variant name', () => {
    const c = compileRollout({
      rules: [
        abRule('colour', [
          ['control', 5000],
          ['green', 5000, { colour: 'green' }],
        ]),
      ],
    });
    const seen = new Map<string, unknown>();
    for (const u of users.slice(0, 200)) {
      const o = c.evaluate(u);
      expect(o.reason).toBe('SPLIT');
      seen.set(o.variant as string, o.overlay);
    }
    expect(seen.get('control')).toEqual({});
    expect(seen.get('green')).toEqual({ colour: 'green' });
  });

  it('compiles a frozen rollout (as stored in a ConfigVersion) once', () => {
    const version = createVersion(
      {
        ref: 'app:shop/checkout',
        config: { colour: 'red' },
        rollout: { rules: [{ id: 'r', strategy: 'percentage', bps: 100, patch: { colour: 'blue' } }] },
        createdBy: 'test',
      },
      1,
    );
    expect(compileRollout(version.rollout)).toBe(compileRollout(version.rollout));
    const mutable = { rules: [] };
    expect(compileRollout(mutable)).not.toBe(compileRollout(mutable));
  });
});

describe('time windows (injected clock)', () => {
  const start = Date.parse('2025-03-01T00:00:00Z');
  const end = Date.parse('2025-03-08T00:00:00Z');

  it('a rule window is active from start (inclusive) to end (exclusive)', () => {
    const c = compileRollout({
      rules: [
        {
          id: 'w',
          strategy: 'immediate',
          patch: { promo: true },
          window: { start: '2025-03-01T00:00:00Z', end: '2025-03-08T00:00:00Z' },
        },
      ],
    });
    expect(c.usesClock).toBe(true);
    expect(c.evaluate({}, start - 1).reason).toBe('DEFAULT');
    expect(c.evaluate({}, start)).toMatchObject({ reason: 'TARGETING_MATCH', overlay: { promo: true } });
    expect(c.evaluate({}, new Date(end - 1)).reason).toBe('TARGETING_MATCH');
    expect(c.evaluate({}, end).reason).toBe('DEFAULT');
  });

  it('open-ended windows and zone offsets', () => {
    const from = compileRollout({
      rules: [{ id: 'w', strategy: 'immediate', patch: {}, window: { start: '2025-03-01T01:00:00+01:00' } }],
    });
    expect(from.evaluate({}, start - 1).reason).toBe('DEFAULT');
    expect(from.evaluate({}, start + 10 * 365 * 86_400_000).reason).toBe('TARGETING_MATCH');
    const until = compileRollout({
      rules: [{ id: 'w', strategy: 'immediate', patch: {}, window: { end: '2025-03-08' } }],
    });
    expect(until.evaluate({}, 0).reason).toBe('TARGETING_MATCH');
    expect(until.evaluate({}, end).reason).toBe('DEFAULT');
  });

  it('a window strategy serves the patch of the window containing now', () => {
    const c = compileRollout({
      rules: [
        {
          id: 'sched',
          strategy: 'window',
          windows: [
            { name: 'week1', start: '2025-03-01T00:00:00Z', end: '2025-03-08T00:00:00Z', patch: { theme: 'spring' } },
            { name: 'week2', start: '2025-03-08T00:00:00Z', end: '2025-03-15T00:00:00Z', patch: { theme: 'easter' } },
          ],
        },
      ],
    });
    expect(c.evaluate({}, start - 1).reason).toBe('DEFAULT');
    expect(c.evaluate({}, start)).toMatchObject({ variant: 'week1', overlay: { theme: 'spring' } });
    expect(c.evaluate({}, end - 1)).toMatchObject({ variant: 'week1' });
    expect(c.evaluate({}, end)).toMatchObject({ variant: 'week2', overlay: { theme: 'easter' } });
    expect(c.evaluate({}, Date.parse('2025-03-15T00:00:00Z')).reason).toBe('DEFAULT');
  });

  it('a window gating a percentage: both must hold', () => {
    const c = compileRollout({
      rules: [
        {
          id: 'p',
          strategy: 'percentage',
          bps: 10_000 - 1,
          patch: { x: 1 },
          window: { start: '2025-03-01T00:00:00Z' },
        },
      ],
    });
    const inside = users.filter((u) => c.evaluate(u, start).reason === 'SPLIT').length;
    expect(inside).toBeGreaterThan(users.length * 0.99);
    expect(users.filter((u) => c.evaluate(u, start - 1).overlay !== undefined)).toEqual([]);
  });
});

describe('stepping, promoting and aborting', () => {
  const spec: RolloutSpec = {
    rules: [
      { id: 'ramp', strategy: 'canary', schedule: [1000, 2500, 5000, 10000], patch: { v: 2 } },
      { id: 'fixed', strategy: 'immediate', patch: {} },
    ],
  };

  const ramp = (s: RolloutSpec): ProgressiveRule => (s.rules ?? [])[0] as ProgressiveRule;

  it('advances one step at a time, keeping the seed, and leaves the input untouched', () => {
    const next = advanceRollout(spec, 'ramp');
    expect(ramp(next).step).toBe(1);
    expect(currentShare(ramp(next))).toBe(2500);
    expect(ramp(spec).step).toBeUndefined();
    const before = compileRollout(spec);
    const after = compileRollout(next);
    const dropped = users.filter(
      (u) => before.evaluate(u).overlay !== undefined && after.evaluate(u).overlay === undefined,
    );
    expect(dropped).toEqual([]);
  });

  it('refuses to step past the last step, and to step a non-progressive or unknown rule', () => {
    const last = advanceRollout(advanceRollout(advanceRollout(spec, 'ramp'), 'ramp'), 'ramp');
    expect(currentShare(ramp(last))).toBe(10000);
    expect(throwsCode(() => advanceRollout(last, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
    expect(throwsCode(() => advanceRollout(spec, 'fixed'), 'CONSTRAINT_VIOLATION')).toBe(true);
    expect(throwsCode(() => advanceRollout(spec, 'nope'), 'NOT_FOUND')).toBe(true);
  });

  it('promote serves everyone; abort serves no one; neither can follow the other', () => {
    const promoted = promoteRollout(spec, 'ramp');
    expect(compileRollout(promoted).evaluate({ userId: 'x' })).toMatchObject({ ruleId: 'ramp', reason: 'STATIC' });
    const aborted = abortRollout(spec, 'ramp');
    expect(compileRollout(aborted).evaluate({ userId: 'x' })).toMatchObject({ ruleId: 'fixed' });
    expect(throwsCode(() => abortRollout(promoted, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
    expect(throwsCode(() => promoteRollout(aborted, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
    expect(throwsCode(() => advanceRollout(aborted, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
  });

  it('pause keeps the share and serves the same units; resume runs again; neither applies to a finished rule', () => {
    const paused = pauseRollout(spec, 'ramp');
    const rule = (s: RolloutSpec) => s.rules?.find((r) => r.id === 'ramp') as ProgressiveRule;
    expect(rule(paused).state).toBe('paused');
    expect(currentShare(rule(paused))).toBe(currentShare(rule(spec)));
    const units = Array.from({ length: 200 }, (_, i) => ({ userId: `u${i}` }));
    const served = (s: RolloutSpec) => units.map((u) => compileRollout(s).evaluate(u).ruleId);
    expect(served(paused)).toEqual(served(spec));
    expect(throwsCode(() => pauseRollout(paused, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
    const resumed = resumeRollout(paused, 'ramp');
    expect(rule(resumed).state).toBe('running');
    expect(throwsCode(() => resumeRollout(resumed, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
    for (const done of [promoteRollout(spec, 'ramp'), abortRollout(spec, 'ramp')]) {
      expect(throwsCode(() => pauseRollout(done, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
      expect(throwsCode(() => resumeRollout(done, 'ramp'), 'CONSTRAINT_VIOLATION')).toBe(true);
    }
    expect(throwsCode(() => pauseRollout(spec, 'fixed'), 'CONSTRAINT_VIOLATION')).toBe(true);
    expect(throwsCode(() => pauseRollout(spec, 'nope'), 'NOT_FOUND')).toBe(true);
    // The input is never modified.
    expect(rule(spec).state ?? 'running').toBe('running');
  });
});

describe('flags', () => {
  const c = compileRollout({
    seed: 'shop',
    flags: {
      'dark-mode': true,
      'new-ui': groupThenRampFlag('beta', 2000),
      theme: {
        variants: { light: 'light', dark: 'dark', solar: 'solar' },
        defaultVariant: 'light',
        rules: [
          {
            id: 'split',
            split: evenSplit('dark', 'solar'),
            when: { constraints: [{ attribute: 'plan', operator: 'eq', value: 'pro' }] },
          },
        ],
      },
      retired: { enabled: false, variants: { a: 1, b: 2 }, defaultVariant: 'a', offVariant: 'b' },
      limits: { variants: { small: { max: 10 }, large: { max: 100 } }, defaultVariant: 'small' },
    },
    rules: [{ id: 'ui', strategy: 'flag', flag: 'new-ui', patches: { on: { ui: 'v2' } } }],
  });

  it('a static flag: STATIC', () => {
    expect(evaluateFlag(c, 'dark-mode', {})).toMatchObject({
      value: true,
      variant: 'on',
      reason: 'STATIC',
      type: 'boolean',
    });
  });

  it('targeting, split share and default', () => {
    expect(evaluateFlag(c, 'new-ui', { userId: 'x', groups: ['beta'] })).toMatchObject({
      value: true,
      reason: 'TARGETING_MATCH',
      ruleId: 'beta',
    });
    const results = users.map((u) => evaluateFlag(c, 'new-ui', u));
    const on = results.filter((r) => r?.value === true);
    expect(Math.abs(on.length / users.length - 0.2)).toBeLessThan(0.02);
    expect(on[0]).toMatchObject({ reason: 'SPLIT', ruleId: 'ramp', variant: 'on' });
    expect(results.find((r) => r?.value === false)).toMatchObject({ reason: 'DEFAULT', variant: 'off' });
  });

  it('a weighted split of string variants behind targeting', () => {
    const pro = users.map((u) => evaluateFlag(c, 'theme', { ...u, plan: 'pro' })?.value);
    expect(new Set(pro)).toEqual(new Set(['dark', 'solar']));
    expect(evaluateFlag(c, 'theme', { userId: 'u', plan: 'free' })).toMatchObject({
      value: 'light',
      reason: 'DEFAULT',
    });
  });

  it('a disabled flag serves its off variant: DISABLED', () => {
    expect(evaluateFlag(c, 'retired', { userId: 'u' })).toMatchObject({
      value: 2,
      variant: 'b',
      reason: 'DISABLED',
      type: 'number',
    });
  });

  it('object flags and unknown flags', () => {
    expect(evaluateFlag(c, 'limits')).toMatchObject({ value: { max: 10 }, type: 'object' });
    expect(evaluateFlag(c, 'nope')).toBeUndefined();
    expect(Object.keys(evaluateFlags(c, { userId: 'u' })).sort()).toEqual([
      'dark-mode',
      'limits',
      'new-ui',
      'retired',
      'theme',
    ]);
  });

  it('a flag rule applies the patch of the flag variant, with the flag reason', () => {
    expect(c.evaluate({ userId: 'x', groups: ['beta'] })).toMatchObject({
      overlay: { ui: 'v2' },
      reason: 'TARGETING_MATCH',
      variant: 'on',
      ruleId: 'ui',
    });
    const off = users.find((u) => evaluateFlag(c, 'new-ui', u)?.value === false);
    expect(c.evaluate(off)).toMatchObject({ overlay: undefined, reason: 'DEFAULT' });
  });
});
