/**
 * Identity in direct mode (issue 16): the principal is the OS user running the CLI, with its uid as
 * the credential. `--actor` and SUMMIT_ACTOR act under another id only with `actor:impersonate`, and
 * approvals are told apart by credential, not by the id claimed. The finding reproduced: one OS user
 * approving as lead1 (--actor), as lead2 (SUMMIT_ACTOR) and applying as lead3 must not meet a quorum.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness, runIn } from './cli-harness.js';

// mallory: one person (one OS user) with the leads' config-admin role; dev: the requester;
// lead1-3: the ids claimed; bob: a second real person.
const RBAC = (impersonator: boolean) => `roles:
  operator: ['*']
  impersonator: [actor:impersonate]
bindings:
  - users: [alice]
    roles: [operator]
  - users: [dev, bob, lead1, lead2, lead3, mallory]
    roles: [config-admin]
${impersonator ? '  - users: [mallory]\n    roles: [impersonator]\n' : ''}`;

let h: Harness;
let plain: NodeJS.ProcessEnv;
let impersonating: NodeJS.ProcessEnv;

beforeAll(async () => {
  h = await realHarness('identity');
  const without = join(h.dir, 'rbac-plain.yaml');
  const withImpersonation = join(h.dir, 'rbac-impersonate.yaml');
  await writeFile(without, RBAC(false));
  await writeFile(withImpersonation, RBAC(true));
  plain = { ...h.env, SUMMIT_RBAC_FILE: without };
  impersonating = { ...h.env, SUMMIT_RBAC_FILE: withImpersonation };
  const setup = [
    ['set', 'app:billing/database', '--json-value', '{"pool":10}'],
    ['env', 'create', 'production', '--production', '--required-approvals', '2'],
  ];
  for (const args of setup) {
    const r = await runIn(plain, args);
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
});
afterAll(async () => {
  await h?.cleanup();
});

/** A pending production change proposed by dev (needs 2 approvals). */
async function proposal(env: NodeJS.ProcessEnv, pool: number): Promise<string> {
  const r = await runIn(
    env,
    ['propose', 'app:billing/database', '--env', 'production', '--json-value', `{"pool":${pool}}`, '--json'],
    { actor: 'dev' },
  );
  expect(r.code, r.stderr).toBe(0);
  return r.json().id as string;
}

describe('identity bound to a credential', () => {
  it('refuses --actor and SUMMIT_ACTOR without actor:impersonate (ACCESS_DENIED naming it)', async () => {
    const id = await proposal(plain, 20);
    const asLead1 = await runIn(plain, ['approve', id, '--actor', 'lead1', '--json'], { actor: 'mallory' });
    const asLead2 = await runIn(plain, ['approve', id, '--json'], { actor: 'mallory', env: { SUMMIT_ACTOR: 'lead2' } });
    const asLead3 = await runIn(plain, ['apply', id, '--actor', 'lead3', '--json'], { actor: 'mallory' });
    for (const r of [asLead1, asLead2, asLead3]) {
      expect(r.code).not.toBe(0);
      expect(r.error()).toMatchObject({ code: 'ACCESS_DENIED', permission: 'actor:impersonate', actor: 'mallory' });
      expect(r.error().message).toMatch(/actor:impersonate/);
    }
    // `*` does not cover impersonation: it is granted by name.
    const operator = await runIn(plain, ['get', 'app:billing/database', '--actor', 'bob', '--json']);
    expect(operator.error()).toMatchObject({ code: 'ACCESS_DENIED', permission: 'actor:impersonate' });
    // Acting as oneself is no impersonation.
    expect((await runIn(plain, ['get', 'app:billing/database', '--actor', 'alice', '--json'])).code).toBe(0);
    const pending = (await runIn(plain, ['pending', '--json'])).json() as Array<{ id: string }>;
    expect(pending.find((r) => r.id === id)).toMatchObject({ status: 'pending', approvals: [] });
  });

  it('with actor:impersonate, approvals from one credential count once (INSUFFICIENT_APPROVERS)', async () => {
    const id = await proposal(impersonating, 30);
    const asLead1 = await runIn(impersonating, ['approve', id, '--actor', 'lead1', '--json'], { actor: 'mallory' });
    expect(asLead1.code, asLead1.stderr).toBe(0);
    expect(asLead1.json()).toMatchObject({
      status: 'pending',
      approvals: [
        { by: 'lead1', impersonatedBy: 'mallory', credential: expect.stringMatching(/^os-user:test-mallory@/) },
      ],
    });
    const asLead2 = await runIn(impersonating, ['approve', id, '--json'], {
      actor: 'mallory',
      env: { SUMMIT_ACTOR: 'lead2' },
    });
    expect(asLead2.code, asLead2.stderr).toBe(0);
    expect(asLead2.json()).toMatchObject({ status: 'pending' });
    expect(asLead2.json().approvals).toHaveLength(1);
    const asLead3 = await runIn(impersonating, ['apply', id, '--actor', 'lead3', '--json'], { actor: 'mallory' });
    expect(asLead3.code).not.toBe(0);
    expect(asLead3.error().code).toBe('INSUFFICIENT_APPROVERS');

    // The audit records the id acted under and the OS user who impersonated it.
    const events = (await runIn(impersonating, ['audit', '--request', id, '--json'])).json() as Array<{
      actor: string;
      action: string;
      message: string;
    }>;
    const approval = events.find((e) => e.action === 'request.approve');
    expect(approval).toMatchObject({ actor: 'lead1', message: expect.stringMatching(/\[impersonated by mallory\]$/) });

    // A second person completes the quorum.
    const second = await runIn(impersonating, ['approve', id, '--json'], { actor: 'bob' });
    expect(second.json()).toMatchObject({ status: 'approved' });
    const applied = await runIn(impersonating, ['apply', id, '--actor', 'lead3', '--json'], { actor: 'mallory' });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.json()).toMatchObject({ status: 'applied', appliedBy: 'lead3' });
  });

  it('no self-approval compares credentials: the requester may not approve under another id', async () => {
    const r = await runIn(
      impersonating,
      ['propose', 'app:billing/database', '--env', 'production', '--json-value', '{"pool":40}', '--json'],
      { actor: 'mallory' },
    );
    const id = r.json().id as string;
    const self = await runIn(impersonating, ['approve', id, '--actor', 'lead1', '--json'], { actor: 'mallory' });
    expect(self.error()).toMatchObject({ code: 'ACCESS_DENIED', permission: 'approval:approve' });
    expect(self.error().message).toMatch(/no self-approval/);
  });
});
