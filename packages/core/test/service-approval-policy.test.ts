import { describe, expect, it } from 'vitest';
import {
  affectedEnvironments,
  type ChangeContent,
  checkApprovalPolicy,
  effectivePolicy,
  eligibleFor,
  missingApprovals,
  requirementsFor,
} from '../src/approvals/policy.js';
import { type Environment, isConfigError } from '../src/index.js';
import { validateEnvironments } from '../src/internal.js';

const envs = validateEnvironments([
  { name: 'development', production: false },
  { name: 'staging', production: false, approvalPolicy: { requiredApprovals: 1, approvers: ['role:qa'] } },
  { name: 'production', production: true, approvalPolicy: { requiredApprovals: 2, allowEmergency: false } },
  { name: 'production-eu', parent: 'production', production: true },
  { name: 'production-eu-west', parent: 'production-eu', production: true, approvalPolicy: { requiredApprovals: 0 } },
] satisfies Environment[]);

function content(partial: Partial<ChangeContent>): ChangeContent {
  return { config: {}, overrides: {}, rollout: null, deleted: false, ...partial };
}

describe('approval policy', () => {
  it('defaults: one approval for production, none elsewhere, 72 hours, emergencies only outside production', () => {
    expect(effectivePolicy({ name: 'p', production: true })).toEqual({
      requiredApprovals: 1,
      approvers: [],
      allowEmergency: false,
      expiresAfterHours: 72,
    });
    expect(effectivePolicy({ name: 'd', production: false })).toMatchObject({
      requiredApprovals: 0,
      allowEmergency: true,
    });
    expect(
      effectivePolicy({ name: 'p', production: true, approvalPolicy: { requiredApprovals: 1, allowEmergency: true } })
        .allowEmergency,
    ).toBe(true);
  });

  it('counts approvals made with one credential once, whatever ids they claim', () => {
    const reqs = [{ environment: 'production', requiredApprovals: 2, approvers: [] }];
    const approve = (by: string, credential?: string) => ({
      decision: 'approve' as const,
      environments: ['production'],
      by,
      ...(credential === undefined ? {} : { credential }),
    });
    const one = 'os-user:1000@host';
    expect(missingApprovals(reqs, [approve('lead1', one), approve('lead2', one)])).toEqual([
      { environment: 'production', missing: 1 },
    ]);
    expect(missingApprovals(reqs, [approve('lead1', one), approve('bob', 'os-user:1001@host')])).toEqual([]);
    // Without a credential, the id stands for it.
    expect(missingApprovals(reqs, [approve('bob'), approve('carol')])).toEqual([]);
    expect(missingApprovals(reqs, [approve('bob'), approve('bob')])).toEqual([
      { environment: 'production', missing: 1 },
    ]);
  });

  it.each([
    ['creating the ref', undefined, content({ config: { a: 1 } }), [...envs.keys()].sort()],
    ['changing the base config', content({ config: { a: 1 } }), content({ config: { a: 2 } }), [...envs.keys()].sort()],
    ['changing the rollout', content({}), content({ rollout: { rules: [] } }), [...envs.keys()].sort()],
    ['deleting', content({ config: {} }), content({ deleted: true }), [...envs.keys()].sort()],
    ['an override of development', content({}), content({ overrides: { development: { a: 1 } } }), ['development']],
    [
      'an override of production (and its descendants)',
      content({ overrides: { production: { a: 1 } } }),
      content({ overrides: { production: { a: 2 } } }),
      ['production', 'production-eu', 'production-eu-west'],
    ],
    ['removing an override', content({ overrides: { staging: { a: 1 } } }), content({}), ['staging']],
    ['nothing', content({ config: { a: 1 } }), content({ config: { a: 1 } }), []],
  ] as const)('a change %s touches %j', (_name, before, after, expected) => {
    expect(affectedEnvironments(before, after, envs)).toEqual(expected);
  });

  it('requires approvals only in guarded environments', () => {
    expect(requirementsFor([...envs.keys()], envs)).toEqual([
      { environment: 'staging', requiredApprovals: 1, approvers: ['role:qa'] },
      { environment: 'production', requiredApprovals: 2, approvers: [] },
      { environment: 'production-eu', requiredApprovals: 1, approvers: [] },
    ]);
  });

  it('eligibility: users and role:<name>; an empty list admits anyone', () => {
    const r = { environment: 's', requiredApprovals: 1, approvers: ['role:qa', 'carol'] };
    expect(eligibleFor(r, 'carol', new Set())).toBe(true);
    expect(eligibleFor(r, 'dave', new Set(['qa']))).toBe(true);
    expect(eligibleFor(r, 'dave', new Set(['dev']))).toBe(false);
    expect(eligibleFor({ ...r, approvers: [] }, 'anyone', new Set())).toBe(true);
  });

  it('counts approvals per requirement; rejections do not count', () => {
    const reqs = [
      { environment: 'production', requiredApprovals: 2, approvers: [] },
      { environment: 'staging', requiredApprovals: 1, approvers: ['role:qa'] },
    ];
    expect(missingApprovals(reqs, [{ decision: 'approve', environments: ['production'] }])).toEqual([
      { environment: 'production', missing: 1 },
      { environment: 'staging', missing: 1 },
    ]);
    expect(
      missingApprovals(reqs, [
        { decision: 'approve', environments: ['production', 'staging'] },
        { decision: 'reject', environments: ['production'] },
        { decision: 'approve', environments: ['production'] },
      ]),
    ).toEqual([]);
  });

  it.each([
    [{ requiredApprovals: -1 }, /requiredApprovals/],
    [{ requiredApprovals: 1.5 }, /requiredApprovals/],
    [{ requiredApprovals: 101 }, /requiredApprovals/],
    [{ requiredApprovals: 1, approvers: 'me' }, /approvers/],
    [{ requiredApprovals: 1, approvers: ['role:'] }, /approvers/],
    [{ requiredApprovals: 1, allowEmergency: 'no' }, /allowEmergency/],
    [{ requiredApprovals: 1, expiresAfterHours: 0 }, /expiresAfterHours/],
    [{ requiredApprovals: 1, reviewers: [] }, /unknown field "reviewers"/],
    ['strict', /must be an object/],
  ])('refuses the policy %j', (policy, message) => {
    try {
      checkApprovalPolicy(policy, 'environment "x"');
      expect.unreachable();
    } catch (error) {
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});
