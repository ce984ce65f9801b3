import { readJson } from '@summit-config/test-support/fixtures';
import { describe, expect, it } from 'vitest';
import type { EvaluationContext } from '../src/index.js';
import { compileTargeting, OPERATORS, type Targeting } from '../src/rollout/targeting.js';
import { rolloutIssues } from '../src/rollout/validate.js';

interface Case {
  name: string;
  when: Targeting;
  context: EvaluationContext;
  match: boolean;
}

const { cases } = readJson(new URL('./fixtures/targeting-cases.json', import.meta.url)) as {
  cases: Case[];
};

describe('targeting', () => {
  it.each(cases)('$name', ({ when, context, match }) => {
    // Every fixture is also valid rollout input.
    expect(rolloutIssues({ rules: [{ id: 'r', strategy: 'immediate', patch: {}, when }] })).toEqual([]);
    expect(compileTargeting(when)(context)).toBe(match);
  });

  it('covers every operator in the fixtures', () => {
    const used = new Set(cases.flatMap((c) => (c.when.constraints ?? []).map((k) => k.operator)));
    expect([...OPERATORS].filter((op) => !used.has(op))).toEqual([]);
  });

  it('compares Date attributes with before / after', () => {
    const before = compileTargeting({
      constraints: [{ attribute: 'signup', operator: 'before', value: '2024-06-01T00:00:00Z' }],
    });
    expect(before({ signup: new Date('2024-05-31T23:59:59.999Z') })).toBe(true);
    expect(before({ signup: new Date('2024-06-01T00:00:00Z') })).toBe(false);
  });

  it('re-evaluates semver per value even with the one-entry memo', () => {
    const gt = compileTargeting({ constraints: [{ attribute: 'v', operator: 'semver_gt', value: '1.0.0' }] });
    expect([gt({ v: '1.0.1' }), gt({ v: '0.9.0' }), gt({ v: '1.0.1' }), gt({ v: 'nope' })]).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });
});
