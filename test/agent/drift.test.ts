/**
 * Drift against the real Consul and PostgreSQL, detected by a leading agent process: a document
 * tampered with a raw Consul PUT is reported (CHECKSUM_MISMATCH) and, with remediation on,
 * rewritten from the PostgreSQL record; an instance whose acknowledgement lags is reported.
 */
import { createConsulStore } from '@summit-config/backends/consul';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { appendNext, parseRef } from '@summit-config/core';
import { afterAll, describe, expect, it } from 'vitest';
import { killAllAgents, type LogLine, startAgentProcess, uniqueSuffix } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';

let cluster: Cluster | undefined;
afterAll(async () => {
  killAllAgents();
  await cluster?.close();
});

type Finding = { kind: string; ref: string; remediated?: boolean; instance?: string; source: string; tier?: string };
const drift = (l: LogLine) => l.drift as Finding | undefined;

describe('agent drift detection (real Consul and PostgreSQL)', () => {
  it('repairs a document tampered in Consul from the PostgreSQL record, and reports a lagging instance', async () => {
    cluster = createCluster('drift');
    const { chain, prefix } = cluster;
    const ref = parseRef('global/database');
    await appendNext(chain, { ref, config: { host: 'db', port: 5432 }, createdBy: 'test' });
    const v2 = await appendNext(chain, { ref, config: { host: 'db2', port: 5432 }, createdBy: 'test' });

    const agent = await startAgentProcess({
      label: 'drift',
      config: cluster.agentConfig({ drift: { enabled: true, intervalMs: 300, remediate: true, lagGraceMs: 0 } }),
    });
    await agent.waitForLog((l) => l.msg === 'leadership acquired', 'leadership');
    await agent.waitForLog((l) => l.msg === 'drift run', 'a first, clean drift run');

    // Tamper: same version and checksum field, other content, written behind the store's back.
    const key = `${prefix}docs/global/database/v/2`;
    const raw = (await (await cluster.consulKv('GET', `${key}?raw`)).json()) as Record<string, unknown>;
    const put = await cluster.consulKv('PUT', key, JSON.stringify({ ...raw, config: { host: 'evil', port: 1 } }));
    expect(await put.json()).toBe(true);

    const found = await agent.waitForLog(
      (l) => drift(l)?.kind === 'checksum-mismatch' && drift(l)?.source === 'scan' && drift(l)?.remediated === true,
      'the tampered document to be found and repaired',
    );
    expect(drift(found)).toMatchObject({ ref: 'global/database', tier: 'consul' });

    // Consul holds the record's content again and it verifies.
    const consul = createConsulStore({ address: cluster.consulAddr, prefix });
    const postgres = createPostgresStore({ connectionString: cluster.databaseUrl, schema: cluster.schema });
    try {
      expect(await consul.getVersion(ref, 2, { consistent: true })).toEqual(await postgres.getVersion(ref, 2));
      expect((await consul.getVersion(ref, 2))?.checksum).toBe(v2.checksum);

      // An instance that applied v1 while the head is v2.
      const instance = `lagger-${uniqueSuffix()}`;
      await consul.ack?.({
        ref,
        environment: 'prod',
        instance,
        version: 1,
        checksum: (await postgres.getVersion(ref, 1))?.checksum as string,
        status: 'applied',
        at: new Date().toISOString(),
      });
      const lag = await agent.waitForLog(
        (l) => drift(l)?.kind === 'lagging-instance' && drift(l)?.instance === instance,
        'the lagging instance to be reported',
      );
      expect(lag.drift).toMatchObject({ ref: 'global/database', ackVersion: 1, headVersion: 2 });
    } finally {
      await consul.close();
      await postgres.close();
    }

    const metrics = await (await fetch(`${agent.base}/metrics`)).text();
    expect(metrics).toMatch(/^summit_agent_drift_total\{kind="checksum-mismatch"\} [1-9]/m);
    expect(metrics).toMatch(/^summit_agent_drift_remediated_total\{kind="checksum-mismatch"\} [1-9]/m);
    expect(metrics).toMatch(/^summit_agent_drift_total\{kind="lagging-instance"\} [1-9]/m);
    expect(metrics).toMatch(/^summit_agent_drift_runs_total\{result="ok"\} [1-9]/m);
    expect(metrics).toMatch(/^summit_agent_leader 1$/m);
  }, 120_000);
});
