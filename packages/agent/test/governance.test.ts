import { type Actor, createRbac, parseRef } from '@summit-config/core';
import { tempDirs } from '@summit-config/test-support/temp';
import { describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../src/config.js';
import { createGovernance } from '../src/governance.js';
import { createAgentMetrics } from '../src/metrics.js';
import { openRuntime } from '../src/runtime.js';

const tempDir = tempDirs();

describe('agent governance jobs', () => {
  it('applies an approved change request when its applyAt comes, as the agent, on the shared record', async () => {
    const dataDir = await tempDir('summit-gov-');
    const stores = await openRuntime(
      resolveAgentConfig({ stores: { embedded: { dataDir } }, jobs: { rotationsMs: 0 } }, {}),
      { role: 'agent' },
    );
    const { store } = stores;
    const config = resolveAgentConfig({ jobs: { rotationsMs: 0 } }, {});
    const metrics = createAgentMetrics();
    const governance = await createGovernance({ config, stores, metrics, env: {} });
    expect(governance).toBeDefined();
    const jobs = new Map<string, (ctx: { signal: AbortSignal }) => Promise<void>>();
    governance?.register((name, _ms, fn) => jobs.set(name, fn));
    // The embedded default generates a signing key, so audit checkpoints run too.
    expect([...jobs.keys()].sort()).toEqual(['audit-checkpoints', 'rollout-steps', 'scheduled-applies']);

    // People use their own service over the same governance storage.
    const people = stores.service(createRbac({ bindings: [{ users: ['alice', 'bob'], roles: ['config-admin'] }] }), {
      source: 'cli',
    });
    const alice: Actor = { id: 'alice' };
    const bob: Actor = { id: 'bob' };
    await people.createEnvironment(alice, {
      name: 'production',
      production: true,
      approvalPolicy: { requiredApprovals: 1 },
    });
    const ref = parseRef('app:shop/limits');
    const request = await people.propose(alice, {
      ref,
      config: { rps: 100 },
      applyAt: new Date(Date.now() + 300).toISOString(),
      message: 'raise the limit tonight',
    });
    await people.approve(bob, request.id);
    const tick = jobs.get('scheduled-applies') as (ctx: { signal: AbortSignal }) => Promise<void>;
    await tick({ signal: new AbortController().signal });
    expect(await store.getHead(ref)).toBeUndefined(); // not yet due
    await new Promise((r) => setTimeout(r, 400));
    await tick({ signal: new AbortController().signal });
    const applied = await people.getRequest(alice, request.id);
    expect(applied.status).toBe('applied');
    expect((await store.getVersion(ref))?.config).toEqual({ rps: 100 });
    const audit = await people.audit(alice, { ref: 'app:shop/limits' });
    expect(audit.some((e) => e.actor === `summit-agent:${config.instance}`)).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('summit_agent_scheduled_applies_total')).toMatch(
      /result="applied"} 1/,
    );
    await people.close();
    await governance?.close();
    await stores.close();
  }, 60_000);

  it('the audit checkpoint job logs what it did or why not, and never throws', async () => {
    const dataDir = await tempDir('summit-gov-');
    const stores = await openRuntime(
      resolveAgentConfig({ stores: { embedded: { dataDir } }, jobs: { rotationsMs: 0 } }, {}),
      { role: 'agent' },
    );
    const logged: Array<{ level: string; msg: string }> = [];
    const log = (level: string) => (_obj: object, msg?: string) => logged.push({ level, msg: msg ?? '' });
    const logger = { info: log('info'), warn: log('warn'), error: log('error') };
    const config = resolveAgentConfig({ jobs: { rotationsMs: 0, auditCheckpointsMs: 1000 } }, {});
    const governance = await createGovernance({ config, stores, metrics: createAgentMetrics(), env: {}, logger });
    const jobs = new Map<string, (ctx: { signal: AbortSignal }) => Promise<void>>();
    governance?.register((name, _ms, fn) => jobs.set(name, fn));
    const job = jobs.get('audit-checkpoints') as (ctx: { signal: AbortSignal }) => Promise<void>;
    expect(job).toBeDefined();
    await expect(job({ signal: new AbortController().signal })).resolves.toBeUndefined();
    expect(logged.filter((l) => /audit (checkpoint|trail)/.test(l.msg))).toHaveLength(1);
    await governance?.close();
    await stores.close();
  }, 60_000);

  it('no audit checkpoint job when it is off', async () => {
    const dataDir = await tempDir('summit-gov-');
    const stores = await openRuntime(
      resolveAgentConfig({ stores: { embedded: { dataDir } }, jobs: { rotationsMs: 0 } }, {}),
      { role: 'agent' },
    );
    const config = resolveAgentConfig({ jobs: { rotationsMs: 0, auditCheckpointsMs: 0 } }, {});
    const governance = await createGovernance({ config, stores, metrics: createAgentMetrics(), env: {} });
    const jobs: string[] = [];
    governance?.register((name) => jobs.push(name));
    expect(jobs).not.toContain('audit-checkpoints');
    await governance?.close();
    await stores.close();
  }, 60_000);

  it('runs due rotations of the local provider when a master key is configured', async () => {
    const dataDir = await tempDir('summit-gov-');
    const stores = await openRuntime(resolveAgentConfig({ stores: { embedded: { dataDir } } }, {}), { role: 'agent' });
    const config = resolveAgentConfig({}, {});
    const env = { SUMMIT_MASTER_KEY: Buffer.alloc(32, 3).toString('base64') };
    const governance = await createGovernance({ config, stores, metrics: createAgentMetrics(), env });
    const jobs = new Map<string, (ctx: { signal: AbortSignal }) => Promise<void>>();
    governance?.register((name, _ms, fn) => jobs.set(name, fn));
    expect([...jobs.keys()].sort()).toEqual(['audit-checkpoints', 'rollout-steps', 'rotations', 'scheduled-applies']);
    // No policy is due: the run does nothing and does not fail.
    await jobs.get('rotations')?.({ signal: new AbortController().signal });
    await governance?.close();
    await stores.close();
  }, 60_000);
});
