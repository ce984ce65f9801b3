/**
 * An agent process serving and rendering against the real Consul and PostgreSQL, with changes
 * written by another writer (a failover store in this process): bearer token, ETag/304, a long-poll
 * that receives the change, files rendered atomically with one reload per burst, and /metrics.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendNext } from '@summit-config/core';
import { afterAll, describe, expect, it } from 'vitest';
import { killAllAgents, startAgentProcess, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';

const clusters: Cluster[] = [];
const dirs: string[] = [];
afterAll(async () => {
  killAllAgents();
  await Promise.all(clusters.map((c) => c.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const TOKEN = 'agent-test-token';

/** The value of one sample line (`name{labels} value`) in Prometheus text; 0 when absent. */
function metricValue(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}
const auth = { Authorization: `Bearer ${TOKEN}` };

describe('agent process serving and rendering (real Consul and PostgreSQL)', () => {
  it('long-polls a change made by another writer; 304 on an unchanged ETag; 401 without the token', async () => {
    const cluster = createCluster('poll');
    clusters.push(cluster);
    await appendNext(cluster.chain, { ref: 'app:billing/flags', config: { checkout: false }, createdBy: 'test' });
    const agent = await startAgentProcess({
      label: 'poll',
      config: cluster.agentConfig({ http: { port: 0, token: TOKEN } }),
    });
    await agent.waitForLog((l) => l.msg === 'client ready', 'the client to load');
    const url = `${agent.base}/v1/config/app:billing/flags`;

    const denied = await fetch(url);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ error: { code: 'ACCESS_DENIED' } });

    const first = await fetch(url, { headers: auth });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ checkout: false });
    const etag = first.headers.get('etag') as string;
    expect((await fetch(url, { headers: { ...auth, 'If-None-Match': etag } })).status).toBe(304);

    const before = await (await fetch(`${agent.base}/metrics`, { headers: auth })).text();
    const poll = fetch(`${url}?index=${encodeURIComponent(etag)}&wait=10s`, { headers: auth });
    await until(async () => {
      const s = (await (await fetch(`${agent.base}/v1/status`, { headers: auth })).json()) as {
        http: { longPolls: number };
      };
      return s.http.longPolls === 1;
    }, 'the long-poll to be held');
    await appendNext(cluster.chain, { ref: 'app:billing/flags', config: { checkout: true }, createdBy: 'other' });
    const res = await poll;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ checkout: true });
    expect(res.headers.get('etag')).not.toBe(etag);
    expect(res.headers.get('x-summit-version')).toBe('2');
    expect(res.headers.get('x-summit-source')).toBe('consul');

    const metrics = await fetch(`${agent.base}/metrics`, { headers: auth });
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    for (const name of [
      'summit_agent_config_changes_applied_total',
      'summit_agent_propagation_seconds',
      'summit_agent_drift_total',
      'summit_agent_reconcile_runs_total',
      'summit_agent_reconcile_copied_total',
      'summit_agent_reconcile_conflicts_total',
      'summit_agent_failovers_total',
      'summit_agent_http_read_duration_seconds',
      'summit_agent_leader',
      'summit_agent_rotations_total',
      'summit_agent_approvals_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // The change written by the other writer was applied once, with its propagation time observed.
    const labels = '{app="billing",environment="prod"}';
    const delta = (name: string) => metricValue(text, name + labels) - metricValue(before, name + labels);
    expect(delta('summit_agent_config_changes_applied_total')).toBe(1);
    expect(delta('summit_agent_propagation_seconds_count')).toBe(1);
    expect(text).toMatch(/^summit_agent_http_read_duration_seconds_count\{status="200"\} [1-9]/m);
    expect(text).toMatch(/^summit_agent_tier_up\{tier="consul"\} 1$/m);
  }, 120_000);

  it('renders files atomically and runs the reload command once per burst of changes', async () => {
    const cluster = createCluster('render');
    clusters.push(cluster);
    const dir = await mkdtemp(join(tmpdir(), 'summit-agent-render-'));
    dirs.push(dir);
    const jsonFile = join(dir, 'out', 'database.json');
    const envFile = join(dir, 'out', 'database.env');
    const countFile = join(dir, 'reloads.log');
    await appendNext(cluster.chain, {
      ref: 'global/database',
      config: { host: 'db', port: 5432, password: 'pa"ss $(id)' },
      createdBy: 'test',
    });
    await appendNext(cluster.chain, {
      ref: 'app:billing/database',
      config: { n: 0, pad: 'x'.repeat(100_000) },
      createdBy: 'test',
    });
    const agent = await startAgentProcess({
      label: 'render',
      config: cluster.agentConfig({
        render: [
          {
            app: 'billing',
            id: 'database',
            path: jsonFile,
            reloadCommand: `echo "$SUMMIT_RENDER_ID" >> '${countFile}'`,
            // The burst below writes every few ms; this quiet time is far above that.
            debounceMs: 1500,
          },
          { app: 'billing', id: 'database', path: envFile, envPrefix: 'DB_' },
        ],
      }),
    });
    const reloads = async () => (await readFile(countFile, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
    await until(async () => (await reloads()) === 1, 'the reload after the first render');
    expect(JSON.parse(await readFile(jsonFile, 'utf8'))).toMatchObject({ host: 'db', n: 0 });
    expect(await readFile(envFile, 'utf8')).toContain('DB_PASSWORD="pa\\"ss \\$(id)"\n');

    // A reader checks every state it sees is a whole file while a burst of changes lands.
    let reading = true;
    let reads = 0;
    const seen = new Set<number>();
    const reader = (async () => {
      while (reading) {
        const parsed = JSON.parse(await readFile(jsonFile, 'utf8')) as { n: number; pad: string };
        expect(parsed.pad).toHaveLength(100_000);
        seen.add(parsed.n);
        reads++;
      }
    })();
    for (let n = 1; n <= 10; n++) {
      await appendNext(cluster.chain, {
        ref: 'app:billing/database',
        config: { n, pad: 'x'.repeat(100_000) },
        createdBy: 'burst',
      });
    }
    await until(async () => (JSON.parse(await readFile(jsonFile, 'utf8')) as { n: number }).n === 10, 'the last value');
    await until(async () => (await reloads()) === 2, 'one reload for the burst');
    reading = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect(Math.max(...seen)).toBe(10);
    // Quiet for longer than the debounce: no further reload.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await reloads()).toBe(2);
    expect(agent.logs.filter((l) => l.msg === 'reload command ran')).toHaveLength(2);
    expect(await readFile(envFile, 'utf8')).toMatch(/^DB_N=10$/m);
  }, 120_000);
});
