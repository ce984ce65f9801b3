/**
 * The leader jobs' audit events on the embedded store (PGlite): a rotation run of the agent's
 * rotation job is audited as `secret.rotation.succeeded`, signed by the writer key, without the
 * secret's value; the drift auditor writes `drift.found` once for a lasting finding and
 * `drift.repaired` for a repair.
 */
import { type Actor, createRbac } from '@summit-config/core';
import { tempDirs } from '@summit-config/test-support/temp';
import { describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../src/config.js';
import type { DriftFinding, DriftReport } from '../src/drift.js';
import { createGovernance } from '../src/governance.js';
import { auditRotations, createDriftAuditor, JOB_AUDIT_ACTIONS } from '../src/job-audit.js';
import { createLocalRotation } from '../src/local-secrets.js';
import { createAgentMetrics } from '../src/metrics.js';
import { openRuntime } from '../src/runtime.js';

const tempDir = tempDirs();
const admin: Actor = { id: 'alice' };
const adminRbac = () => createRbac({ bindings: [{ users: ['alice'], roles: ['config-admin', 'secrets-admin'] }] });

describe('the agent jobs audit what they did', () => {
  it('a rotation run of the agent is audited as secret.rotation.succeeded, signed, without the value', async () => {
    const dataDir = await tempDir('summit-jobaudit-');
    const env = { SUMMIT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
    // The master key in the environment adds the local provider to the rotation job.
    const config = resolveAgentConfig({ stores: { embedded: { dataDir } } }, env);
    const stores = await openRuntime(config, { role: 'agent' });
    const governance = await createGovernance({ config, stores, metrics: createAgentMetrics(), env });
    const jobs = new Map<string, (ctx: { signal: AbortSignal }) => Promise<void>>();
    governance?.register((name, _ms, fn) => jobs.set(name, fn));
    const people = stores.service(adminRbac(), { source: 'cli' });
    // A person creates the secret and a policy due now, as the CLI does.
    const local = await createLocalRotation({
      handle: await (stores.secretSql as NonNullable<typeof stores.secretSql>)(),
      migrator: stores.governance as NonNullable<typeof stores.governance>,
      service: people,
      store: stores.store,
      rbac: adminRbac(),
      actor: admin,
      env,
    });
    try {
      const created = await local.provider.create('db-password', 'first-value-never-audited');
      await local.rotation.putPolicy(admin, {
        secret: { provider: 'local', name: 'db-password' },
        intervalDays: 30,
        graceMs: 0,
        nextRotationAt: new Date(Date.now() - 1000).toISOString(),
      });
      const before = await people.audit(admin, { action: 'secret.' });
      await jobs.get('rotations')?.({ signal: new AbortController().signal });
      const events = (await people.audit(admin, { action: 'secret.' })).slice(before.length);
      const succeeded = events.filter((e) => e.action === JOB_AUDIT_ACTIONS.rotationSucceeded);
      expect(succeeded).toHaveLength(1);
      const event = succeeded[0];
      expect(event?.actor).toBe(`summit-agent:${config.instance}`);
      expect(event?.source).toBe('agent');
      expect(event?.message).toContain('local/db-password');
      expect(event?.message).toContain(`from ${created.version}`);
      // Signed by the writer key (the embedded default generates one).
      expect(event?.signature).toMatch(new RegExp(`^${stores.keys.signer?.keyId}:`));
      const current = await local.provider.read('db-password');
      for (const e of events) {
        expect(e.message).not.toContain('first-value-never-audited');
        expect(e.message).not.toContain(current.value);
      }
      expect((await people.verifyAudit(admin)).ok).toBe(true);
    } finally {
      await local.close();
      await people.close();
      await governance?.close();
      await stores.close();
    }
  }, 90_000);

  it('a rotation run that fails is audited as secret.rotation.failed with the step and the error code', async () => {
    const dataDir = await tempDir('summit-jobaudit-');
    const config = resolveAgentConfig({ stores: { embedded: { dataDir } } }, {});
    const stores = await openRuntime(config, { role: 'agent' });
    const governance = await createGovernance({ config, stores, metrics: createAgentMetrics(), env: {} });
    const people = stores.service(adminRbac(), { source: 'cli' });
    const handle = await (stores.secretSql as NonNullable<typeof stores.secretSql>)();
    const s = await import('@summit-config/secrets');
    const env = { SUMMIT_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') };
    const provider = s.createLocalProvider({
      storage: s.createSqlSecretStorage({ sql: handle.sql, kind: handle.kind, schema: handle.schema }),
      env,
    });
    const manager = s.createRotationManager({
      policies: s.createSqlRotationPolicies({
        sql: handle.sql,
        kind: handle.kind,
        schema: handle.schema,
        migrator: stores.governance as NonNullable<typeof stores.governance>,
      }),
      providers: [provider],
      service: people,
      store: stores.store,
      rbac: adminRbac(),
      actor: admin,
      retry: { maxAttempts: 1, baseMs: 1 },
      handlers: {
        broken: {
          generate: () => {
            throw new Error('the generator is broken');
          },
        },
      },
    });
    const { service, actor } = governance as NonNullable<typeof governance>;
    const audited = auditRotations(manager, { service, actor });
    try {
      await provider.create('api-key', 'value-before-never-audited');
      await manager.putPolicy(admin, {
        secret: { provider: 'local', name: 'api-key' },
        intervalDays: 30,
        generator: { type: 'handler', name: 'broken' },
      });
      const policy = await manager.rotate(admin, { provider: 'local', name: 'api-key' }, { wait: true });
      expect(policy.state).toBe('failed');
      await audited.flush();
      const events = await people.audit(admin, { action: JOB_AUDIT_ACTIONS.rotationFailed });
      expect(events).toHaveLength(1);
      expect(events[0]?.message).toMatch(
        /^secret local\/api-key rotation failed at step generate after 1 attempt\(s\): /,
      );
      expect(events[0]?.message).not.toContain('value-before-never-audited');
      expect(events[0]?.signature).not.toBeNull();
      expect(await people.audit(admin, { action: JOB_AUDIT_ACTIONS.rotationSucceeded })).toEqual([]);
    } finally {
      audited.stop();
      await manager.close();
      await provider.close();
      await handle.close();
      await people.close();
      await governance?.close();
      await stores.close();
    }
  }, 90_000);

  it('drift: a lasting finding is audited once, a repair once, a finding that comes back again', async () => {
    const dataDir = await tempDir('summit-jobaudit-');
    const config = resolveAgentConfig({ stores: { embedded: { dataDir } } }, {});
    const stores = await openRuntime(config, { role: 'agent' });
    const governance = await createGovernance({ config, stores, metrics: createAgentMetrics(), env: {} });
    const people = stores.service(adminRbac(), { source: 'cli' });
    try {
      const { service, actor } = governance as NonNullable<typeof governance>;
      const auditor = createDriftAuditor({ service, actor });
      const finding = (over: Partial<DriftFinding> = {}): DriftFinding => ({
        kind: 'lagging-instance',
        ref: 'global/database',
        source: 'scan',
        instance: 'web-1',
        environment: 'prod',
        message: 'web-1 is at v1, the head is v3',
        ...over,
      });
      const report = (findings: DriftFinding[]): DriftReport => ({
        startedAt: new Date().toISOString(),
        durationMs: 1,
        examined: 1,
        findings,
        remediated: findings.filter((f) => f.remediated).length,
      });
      const repaired = finding({
        kind: 'checksum-mismatch',
        tier: 'consul',
        instance: undefined,
        environment: undefined,
        message: 'bad document',
        remediated: true,
        remediation: 'rewritten from postgres',
      });
      await auditor.record(report([finding()]));
      await auditor.record(report([finding()])); // still there: not audited again
      await auditor.record(report([finding(), repaired]));
      await auditor.record(report([])); // gone
      await auditor.record(report([finding()])); // back: a new finding
      await auditor.record(report([finding({ source: 'read' })])); // reads are not the scan's
      const events = await people.audit(admin, { action: 'drift.' });
      expect(events.map((e) => [e.action, e.message.split(':')[0]])).toEqual([
        ['drift.found', 'lagging-instance'],
        ['drift.found', 'checksum-mismatch'],
        ['drift.repaired', 'checksum-mismatch repaired'],
        ['drift.found', 'lagging-instance'],
      ]);
      expect(events[0]).toMatchObject({ ref: 'global/database', environment: 'prod', source: 'agent' });
      for (const e of events) expect(e.signature).not.toBeNull();
      expect((await people.verifyAudit(admin)).ok).toBe(true);
    } finally {
      await people.close();
      await governance?.close();
      await stores.close();
    }
  }, 90_000);
});
