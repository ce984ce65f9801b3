/**
 * Reproduction 2 of issue 16 against the real Consul and PostgreSQL: a version forged straight into
 * Consul KV (its checksum recomputed, by a holder of Consul credentials using the store's own code)
 * must never be served by an agent that trusts the writer key, never be copied into the PostgreSQL
 * record by the leader's reconciliation, and be reported as drift under its code and repaired.
 *
 * Before signed versions the agent served the forged value at once and, within one reconcile pass,
 * the record held it as an ordinary append by the forged author.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConsulStore } from '@summit-config/backends/consul';
import { createPostgresGovernance, createPostgresStore } from '@summit-config/backends/postgres';
import {
  checkVersionTrust,
  createConfigService,
  createRbac,
  createSigner,
  createTrustRoot,
  generateSigningKey,
  parseRef,
} from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import { afterAll, describe, expect, it } from 'vitest';
import { killAllAgents, type LogLine, startAgentProcess, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';

let cluster: Cluster | undefined;
const dirs: string[] = [];
afterAll(async () => {
  killAllAgents();
  await cluster?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type Finding = { kind: string; ref: string; remediated?: boolean; tier?: string; version?: number; reason?: string };
const drift = (l: LogLine) => l.drift as Finding | undefined;

describe('a version forged into Consul (real Consul and PostgreSQL)', () => {
  it('is never served nor copied into the record, is reported as drift by code, and is repaired from the record', async () => {
    cluster = createCluster('signed');
    const { prefix } = cluster;
    const dir = await mkdtemp(join(tmpdir(), 'summit-signed-'));
    dirs.push(dir);
    const key = generateSigningKey();
    const keyFile = join(dir, 'writer.key');
    await writeFile(keyFile, key.privateKeyPem, { mode: 0o600 });
    const signer = createSigner(key.privateKeyPem);
    const trust = createTrustRoot([{ publicKey: key.publicKey }]);

    // The legitimate writer: the change service with the writer key.
    const governance = createPostgresGovernance({ connectionString: cluster.databaseUrl, schema: cluster.schema });
    const rbac = createRbac({ bindings: [{ users: ['ops'], roles: ['config-admin'] }] });
    const service = createConfigService({ store: cluster.chain, governance, rbac, signer });
    const ref = parseRef('app:billing/database');
    await service.set({ id: 'ops' }, { ref, config: { host: 'db', port: 5432 } });

    const agent = await startAgentProcess({
      label: 'signed',
      config: cluster.agentConfig({
        trust: { signingKeyFile: keyFile },
        drift: { enabled: true, intervalMs: 300, remediate: true, lagGraceMs: 0 },
        reconcile: { intervalMs: 300 },
      }),
    });
    await agent.waitForLog((l) => l.msg === 'leadership acquired', 'leadership');
    const url = `${agent.base}/v1/config/app:billing/database`;
    const served = async () => ((await (await fetch(url)).json()) as { host?: string }).host;
    await until(async () => (await served()) === 'db', 'the agent to serve v1');

    // The attack: a holder of Consul credentials appends v2 with the store's own code (a valid
    // checksum, no signature), and then v3 carrying v1's signature copied over.
    const attacker = createConsulStore({ address: cluster.consulAddr, prefix });
    const postgres = createPostgresStore({ connectionString: cluster.databaseUrl, schema: cluster.schema });
    try {
      await attacker.append(createVersion({ ref, config: { host: 'evil', port: 1 }, createdBy: 'mallory' }, 2));
      const unsigned = await agent.waitForLog(
        (l) => drift(l)?.kind === 'unsigned-version' && drift(l)?.tier === 'consul',
        'the unsigned version to be reported as drift',
      );
      expect(drift(unsigned)).toMatchObject({ ref: 'app:billing/database', version: 2, reason: 'UNSIGNED_VERSION' });
      await agent.waitForLog(
        (l) => drift(l)?.kind === 'unsigned-version' && drift(l)?.remediated === true,
        'the unsigned version to be repaired from the record',
      );

      // The record holds v2 now: the head's content re-signed by the agent's key, never the forgery.
      const v2 = await postgres.getVersion(ref, 2);
      expect(v2?.config).toEqual({ host: 'db', port: 5432 });
      expect(checkVersionTrust(v2 as never, trust)).toBeUndefined();
      expect(await attacker.getVersion(ref, 2, { consistent: true })).toEqual(v2);

      const v1 = await postgres.getVersion(ref, 1);
      await attacker.append(
        createVersion(
          {
            ref,
            config: { host: 'evil', port: 2 },
            createdBy: 'mallory',
            metadata: { signature: v1?.metadata.signature ?? null },
          },
          3,
        ),
      );
      await agent.waitForLog(
        (l) => drift(l)?.kind === 'forged-version' && drift(l)?.version === 3 && drift(l)?.remediated === true,
        'the replayed signature to be reported as forged and repaired',
      );

      // Never served, at any time: every log line of a served change names a trusted version only,
      // and the agent still serves the legitimate host.
      expect(await served()).toBe('db');
      expect(agent.logs.some((l) => JSON.stringify(l).includes('"evil"'))).toBe(false);
      // Never copied: no version of the record carries the forged content or author, and the record's
      // audit never shows an append by the forger.
      const head = (await postgres.getHead(ref, { consistent: true }))?.version ?? 0;
      for (let v = 1; v <= head; v++) {
        const doc = await postgres.getVersion(ref, v);
        expect(doc?.createdBy).not.toBe('mallory');
        expect(checkVersionTrust(doc as never, trust)).toBeUndefined();
      }
      const trail = await governance.queryAudit({ actor: 'mallory' });
      expect(trail).toEqual([]);

      // The metrics count the findings by kind.
      const metrics = await (await fetch(`${agent.base}/metrics`)).text();
      expect(metrics).toMatch(/^summit_agent_drift_total\{kind="unsigned-version"\} [1-9]/m);
      expect(metrics).toMatch(/^summit_agent_drift_total\{kind="forged-version"\} [1-9]/m);

      // A legitimate write after the repair is served.
      await service.set({ id: 'ops' }, { ref, config: { host: 'db-new', port: 5432 } }, { expectedVersion: head });
      await until(async () => (await served()) === 'db-new', 'the next signed write to be served');
    } finally {
      await attacker.close();
      await postgres.close();
      await service.close();
      await governance.close();
    }
  });
});
