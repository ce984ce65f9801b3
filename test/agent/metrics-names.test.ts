/**
 * The Grafana dashboard (deploy/grafana/summit-config.json) and the alerting rules
 * (deploy/prometheus/alerts.yml) query only metrics that a real agent exposes: every metric name in
 * every panel's PromQL, the dashboard's variables and every rule's expression is checked against a
 * `/metrics` scrape of an agent running on the real Consul and PostgreSQL (a histogram's
 * `_bucket`/`_sum`/`_count` against its family). Every metric the agent exposes is described in
 * docs/metrics.md, and every rule's runbook link names a section there.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@summit-config/test-support/services';
import { until } from '@summit-config/test-support/wait';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../packages/agent/src/agent.js';
import { resolveAgentConfig } from '../../packages/agent/src/config.js';
import { uniqueSuffix } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';
import { exposes, metricNames, parseScrape, type Scrape } from './prom-text.js';

interface Panel {
  title?: string;
  type?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

let cluster: Cluster;
let agent: Agent;
let scrape: Scrape;
const snapshotDir = join(tmpdir(), `summit-metric-names-${uniqueSuffix()}`);
const MASTER_KEY = randomBytes(32).toString('base64');

beforeAll(async () => {
  process.env.SUMMIT_MASTER_KEY = MASTER_KEY;
  cluster = createCluster('names');
  agent = new Agent({
    config: resolveAgentConfig(
      cluster.agentConfig({
        instance: `names-${uniqueSuffix()}`,
        snapshotDir,
        jobs: { rotationsMs: 1000, scheduledAppliesMs: 0, rolloutStepsMs: 0, auditCheckpointsMs: 0 },
      }),
      { SUMMIT_MASTER_KEY: MASTER_KEY },
    ),
  });
  await agent.start();
  const base = `http://127.0.0.1:${agent.address?.port}`;
  await until(async () => (await fetch(`${base}/readyz`)).status === 200, 'the agent to be ready', {
    timeoutMs: 30_000,
  });
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  scrape = parseScrape(await res.text());
}, 60_000);

afterAll(async () => {
  await agent?.close();
  await cluster?.close();
  await rm(snapshotDir, { recursive: true, force: true });
  delete process.env.SUMMIT_MASTER_KEY;
});

const read = (path: string) => readFile(join(repoRoot, path), 'utf8');

/** The panels of a dashboard, rows' nested panels included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** `# Heading` -> its GitHub anchor. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function missing(names: Iterable<string>): string[] {
  return [...new Set(names)].filter((n) => !exposes(scrape, n)).sort();
}

describe('metric names of the dashboard and the alerting rules (a real agent on Consul and PostgreSQL)', () => {
  it('every metric a dashboard panel or variable queries is exposed by the agent', async () => {
    const dashboard = JSON.parse(await read('deploy/grafana/summit-config.json')) as {
      panels: Panel[];
      templating: { list: Array<{ query?: string | { query?: string } }> };
    };
    const queried = new Map<string, string[]>();
    const graphs = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThan(10);
    for (const panel of graphs) {
      const exprs = (panel.targets ?? []).map((t) => t.expr ?? '');
      expect(exprs.length, `panel "${panel.title}" has no query`).toBeGreaterThan(0);
      for (const expr of exprs) {
        const names = metricNames(expr);
        expect(names.length, `panel "${panel.title}": ${expr}`).toBeGreaterThan(0);
        for (const n of names) queried.set(n, [...(queried.get(n) ?? []), panel.title ?? '?']);
      }
    }
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      const m = q ? /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(q) : null;
      if (m) queried.set(m[1] as string, [...(queried.get(m[1] as string) ?? []), 'variables']);
    }
    // Every family the dashboard was built for is queried somewhere (the list).
    for (const required of [
      'summit_agent_config_changes_total',
      'summit_agent_approval_latency_seconds_bucket',
      'summit_agent_approvals_pending',
      'summit_agent_rotations_total',
      'summit_agent_drift_current',
      'summit_agent_http_read_duration_seconds_bucket',
      'summit_agent_cache_hits_total',
      'summit_agent_cache_misses_total',
      'summit_agent_pg_pool_connections',
      'summit_agent_tier_up',
      'summit_agent_failovers_total',
      'summit_agent_divergent_refs',
      'summit_agent_notifications_total',
    ]) {
      expect([...queried.keys()]).toContain(required);
    }
    expect(
      missing(queried.keys()).map((n) => `${n} (${queried.get(n)?.join(', ')})`),
      'queried by the dashboard but not in /metrics',
    ).toEqual([]);
  });

  it('every metric an alerting rule queries is exposed by the agent, and every runbook names a section of docs/metrics.md', async () => {
    const rules = await read('deploy/prometheus/alerts.yml');
    const alerts = [...rules.matchAll(/^\s*- alert:\s*(\S+)\s*$/gm)].map((m) => m[1] as string);
    const exprs = [...rules.matchAll(/^\s*expr:\s*(.+)$/gm)].map((m) => m[1] as string);
    const runbooks = [...rules.matchAll(/^\s*runbook_url:\s*(['"])([^'"]+)\1\s*$/gm)].map((m) => m[2] as string);
    expect(alerts).toEqual(
      expect.arrayContaining([
        'SummitCriticalDriftDetected',
        'SummitSecretRotationFailed',
        'SummitApprovalWorkflowStalled',
        'SummitConsulUnavailable',
      ]),
    );
    // One single-line expression and one runbook per rule (a block scalar would hide its metrics).
    expect(exprs).toHaveLength(alerts.length);
    expect(runbooks).toHaveLength(alerts.length);
    const queried = new Set<string>();
    for (const expr of exprs) {
      const names = metricNames(expr);
      expect(names.length, expr).toBeGreaterThan(0);
      for (const n of names) queried.add(n);
    }
    expect(missing(queried), 'queried by alerts.yml but not in /metrics').toEqual([]);

    const docs = await read('docs/metrics.md');
    const anchors = new Set([...docs.matchAll(/^#+\s+(.+)$/gm)].map((m) => anchor(m[1] as string)));
    for (const [i, url] of runbooks.entries()) {
      const [file, hash] = url.split('#');
      expect(file, url).toBe('docs/metrics.md');
      expect(anchors.has(hash as string), `${url}: no such section`).toBe(true);
      expect(hash).toBe(`runbook-${(alerts[i] as string).toLowerCase()}`);
    }
  });

  it('every summit_agent_* metric the agent exposes is described in docs/metrics.md', async () => {
    const docs = await read('docs/metrics.md');
    // prom-client's default process and Node.js metrics are prefixed too; docs/metrics.md points at them as a group.
    const own = [...scrape.families.keys()].filter(
      (n) => n.startsWith('summit_agent_') && !/^summit_agent_(process_|nodejs_)/.test(n),
    );
    expect(own.length).toBeGreaterThan(20);
    expect(own.filter((n) => !docs.includes(`\`${n}\``)).sort()).toEqual([]);
  });
});
