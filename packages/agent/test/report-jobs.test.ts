/**
 * `summit-config report` over the events the agent's own jobs write, on the real Consul and
 * PostgreSQL: the drift auditor of the leader (`job-audit.ts`) records findings and repairs of drift
 * runs, the rotation job audits a rotation run, and the report pairs each repair with its finding
 * (mean time to repair from the trail's own times), counts incidents by kind and the rotation
 * success rate.
 */
import { type Actor, type AuditReport, createRbac } from '@summit-config/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../src/config.js';
import type { DriftFinding, DriftReport } from '../src/drift.js';
import { createGovernance } from '../src/governance.js';
import { createDriftAuditor } from '../src/job-audit.js';
import { createLocalRotation } from '../src/local-secrets.js';
import { createAgentMetrics } from '../src/metrics.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { type Harness, realHarness } from './cli-harness.js';

let h: Harness;
let runtime: Runtime;
let governance: Awaited<ReturnType<typeof createGovernance>>;
const alice: Actor = { id: 'alice', roles: ['operator'] };

beforeAll(async () => {
  h = await realHarness('rjobs');
  const config = await loadAgentConfig(undefined, h.env);
  runtime = await openRuntime(config, { role: 'agent' });
  governance = await createGovernance({ config, stores: runtime, metrics: createAgentMetrics(), env: h.env });
}, 120_000);

afterAll(async () => {
  await governance?.close();
  await runtime?.close();
  await h?.cleanup();
});

const finding = (over: Partial<DriftFinding> & Pick<DriftFinding, 'kind' | 'ref'>): DriftFinding => ({
  source: 'scan',
  message: `${over.ref}: drifted`,
  ...over,
});

const run = (findings: DriftFinding[]): DriftReport => ({
  startedAt: new Date().toISOString(),
  durationMs: 1,
  examined: findings.length,
  findings,
  remediated: findings.filter((f) => f.remediated === true).length,
});

describe('report over the agent jobs’ audit events', () => {
  it('drift found and repaired by the leader, and a rotation run: incidents, time to repair, success rate', async () => {
    const { service, actor } = governance as NonNullable<typeof governance>;
    const auditor = createDriftAuditor({ service, actor });
    const lagging = finding({
      kind: 'lagging-instance',
      ref: 'global/db',
      instance: 'web-1',
      environment: 'production',
      message: 'global/db: instance web-1 (production) applied v1, 2 behind the head v3',
    });
    const heads = finding({ kind: 'head-mismatch', ref: 'global/db' });
    const missing = finding({ kind: 'missing', ref: 'app:web/cache', tier: 'postgres' });
    await auditor.record(run([lagging, heads]));
    await new Promise((r) => setTimeout(r, 30));
    await auditor.record(run([lagging, heads, missing])); // lasting findings: not audited again
    await new Promise((r) => setTimeout(r, 30));
    await auditor.record(
      run([lagging, { ...heads, remediated: true, remediation: 'reconciled: postgres took v3 from consul' }, missing]),
    );
    await auditor.record(run([lagging, { ...missing, remediated: true, remediation: 'copied v2 from consul' }]));

    // A rotation run of the agent's rotation job, on a policy due now.
    const rbac = createRbac({ bindings: [{ users: ['alice'], roles: ['config-admin', 'secrets-admin'] }] });
    const people = runtime.service(rbac, { source: 'cli' });
    const local = await createLocalRotation({
      handle: await (runtime.secretSql as NonNullable<typeof runtime.secretSql>)(),
      migrator: runtime.governance as NonNullable<typeof runtime.governance>,
      service: people,
      store: runtime.store,
      rbac,
      actor: { id: 'alice' },
      env: h.env,
    });
    try {
      await local.provider.create('db-password', 'first');
      await local.rotation.putPolicy(
        { id: 'alice' },
        {
          secret: { provider: 'local', name: 'db-password' },
          intervalDays: 30,
          graceMs: 0,
          nextRotationAt: new Date(Date.now() - 1000).toISOString(),
        },
      );
    } finally {
      await local.close();
      await people.close();
    }
    const jobs = new Map<string, (ctx: { signal: AbortSignal }) => Promise<void>>();
    governance?.register((name, _ms, fn) => jobs.set(name, fn));
    await jobs.get('rotations')?.({ signal: new AbortController().signal });

    const r = await h.run(['report', '--json', '--since', '1h'], { actor: alice.id });
    expect(r.code, r.stderr).toBe(0);
    const report = r.json() as AuditReport;
    // The trail's own times of each finding and its repair.
    const trail = (await h.run(['audit', '--action', 'drift.', '--json'])).json() as Array<{
      action: string;
      at: string;
      message: string;
    }>;
    const at = (action: string, prefix: string) =>
      Date.parse(trail.find((e) => e.action === action && e.message.startsWith(prefix))?.at as string);
    const repairs = [
      at('drift.repaired', 'head-mismatch repaired:') - at('drift.found', 'head-mismatch:'),
      at('drift.repaired', 'missing repaired:') - at('drift.found', 'missing:'),
    ];
    expect(trail.map((e) => e.action)).toEqual([
      'drift.found',
      'drift.found',
      'drift.found',
      'drift.repaired',
      'drift.repaired',
    ]);
    expect(report.drift).toEqual({
      incidents: 3,
      byKind: [
        { kind: 'head-mismatch', incidents: 1 },
        { kind: 'lagging-instance', incidents: 1 },
        { kind: 'missing', incidents: 1 },
      ],
      repaired: 2,
      unrepaired: 1,
      meanTimeToRepairMs: (repairs[0] as number) / 2 + (repairs[1] as number) / 2,
      unmatchedRepairs: 0,
    });
    expect(report.rotations).toEqual({ succeeded: 1, failed: 0, successRate: 1 });
    const text = await h.run(['report', '--since', '1h'], { actor: alice.id });
    expect(text.stdout).toMatch(/Secret rotations\nSUCCEEDED +FAILED +SUCCESS RATE\n1 +0 +100\.0%/);
    expect(text.stdout).toMatch(/\nKIND +INCIDENTS\nhead-mismatch +1\nlagging-instance +1\nmissing +1/);
  }, 120_000);
});
