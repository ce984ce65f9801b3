/**
 * The web console end to end, over a real agent process (the main job's shape: the agent and the
 * config server in one process) on the real Consul and PostgreSQL, in Debian's Chromium:
 *
 * - a staging edit made in the console's editor is served by the agent's HTTP API, and the status
 *   page names the agent as the leader (the holder of the Consul lock);
 * - Consul is killed: the status page switches to PostgreSQL serving (Consul's breaker open, the
 *   leader unknown), a write made in the console meanwhile lands and the agent serves it; Consul
 *   comes back (empty: a dev agent keeps nothing): the page shows Consul serving again and the
 *   agent leading again, by itself.
 *
 * A fault suite (it kills and restarts the shared Consul): it runs alone, after the others.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, serviceCtl, services } from '@summit-config/test-support/services';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AgentProcess, killAllAgents, startAgentProcess } from '../../../../test/agent/agent-process.js';
import { type Harness, realHarness } from '../../../agent/test/cli-harness.js';
import { axeViolations, chromiumPath, editDocument, openPage, signIn } from './browser.js';

vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

const REF = 'app:shop/banner';
const poll = <T>(fn: () => T | Promise<T>, timeout = 30_000) => expect.poll(fn, { timeout, interval: 250 });

/** A fresh Consul prefix and PostgreSQL schema, with the CLI harness's RBAC file (alice: operator). */
let stores: Harness;
let token = '';
let agent: AgentProcess;
let api = '';
let browser: Browser;

/** What the agent serves for the shop app in staging (its own HTTP API, no credential on loopback). */
async function served(): Promise<unknown> {
  const res = await fetch(`${agent.base}/v1/config/${REF}?environment=staging`);
  return res.ok ? res.json() : `HTTP ${res.status}`;
}

const edit = (page: Page, text: string) => editDocument(page, text, poll);

async function openConfig(): Promise<Awaited<ReturnType<typeof openPage>>> {
  const opened = await openPage(browser);
  await opened.page.goto(`${api}/ui/`);
  await signIn(opened.page, token);
  await poll(() => opened.page.getByText('Signed in as').count()).toBe(1);
  await opened.page.goto(`${api}/ui/configs/${REF}`);
  await poll(() => opened.page.getByRole('heading', { level: 1 }).textContent()).toBe(REF);
  return opened;
}

beforeAll(async () => {
  const executablePath = chromiumPath();
  // The agent process serves the console from packages/server/dist/ui: build it there, fresh.
  execFileSync(join(repoRoot, 'node_modules/.bin/vite'), ['build', join(repoRoot, 'packages/console')], {
    stdio: 'pipe',
  });
  stores = await realHarness('console');
  const cli = async (args: string[], stdin?: string) => {
    const r = await stores.run(args, { actor: 'alice', ...(stdin !== undefined ? { stdin } : {}) });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  await cli(['env', 'create', 'staging']);
  await cli(['set', REF, '-'], JSON.stringify({ text: 'hello', color: 'blue' }));
  // Production guarded after the first write: a base-config edit now needs an approval.
  await cli(['env', 'create', 'production', '--production']);
  token = (
    await cli(['token', 'create', '--name', 'alice', '--owner', 'alice', '--roles', 'operator', '--json'])
  ).json().token as string;

  const { consulAddr, databaseUrl } = services();
  agent = await startAgentProcess({
    label: 'console',
    config: {
      http: { port: 0 },
      stores: {
        consul: { address: consulAddr, prefix: stores.prefix },
        postgres: { url: databaseUrl, schema: stores.schema },
      },
      apps: [{ app: 'shop', environment: 'staging', environments: ['staging', 'production'] }],
      drift: { enabled: false },
      reconcile: { intervalMs: 1000 },
      leader: { name: 'agents', ttlMs: 10_000, lockDelayMs: 0 },
      snapshotDir: join(stores.dir, 'snapshots'),
      server: { host: '127.0.0.1', port: 0, rbacFile: join(stores.dir, 'rbac.yaml') },
    },
    startTimeoutMs: 120_000,
  });
  const listening = await agent.waitForLog((l) => l.msg === 'config server listening', 'the config server');
  api = listening.url as string;
  await agent.waitForLog((l) => l.msg === 'leadership acquired', 'leadership', 60_000);
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  killAllAgents();
  // Consul back whatever happened, for the suites after this one.
  await serviceCtl('consul', 'start').catch(() => undefined);
  await stores?.cleanup();
});

describe('the console over a real agent, Consul and PostgreSQL', () => {
  it('a staging edit in the editor is served by the agent; the status page names the leading agent', async () => {
    await poll(served).toEqual({ text: 'hello', color: 'blue' });
    const { context, page, problems } = await openConfig();
    try {
      // A staging override only: no guarded environment is touched, the write applies.
      await edit(
        page,
        JSON.stringify({ config: { text: 'hello', color: 'blue' }, overrides: { staging: { text: 'staging v2' } } }),
      );
      await poll(() => page.locator('#config-status').textContent()).toBe('Saved as version 2.');
      // The agent's watch brings it to its HTTP API.
      await poll(served).toEqual({ text: 'staging v2', color: 'blue' });

      await page.getByRole('link', { name: 'Status' }).click();
      await poll(() => page.locator('#status-serving').textContent()).toBe('consul');
      const holder = (await page.locator('#status-leader').textContent()) ?? '';
      // `<instance>@<host>:<pid> (term N)`: the agent process that logged `leadership acquired`.
      expect(holder).toMatch(new RegExp(`@[^:]+:${agent.pid} \\(term \\d+\\)$`));
      expect(await page.locator('#instances-none, #instances').count()).toBe(0); // drift is off: no report
      expect(await axeViolations(page)).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('Consul killed: the status page shows PostgreSQL serving, an edit still lands and is served; Consul back', async () => {
    const { context, page, problems } = await openConfig();
    try {
      await page.getByRole('link', { name: 'Status' }).click();
      await poll(() => page.locator('#status-serving').textContent()).toBe('consul');
      const row = (name: string) => page.locator('#tiers tbody tr', { hasText: name }).first().textContent();

      await serviceCtl('consul', 'kill');
      // The agent's watch and the page's own refreshes find Consul gone: its breaker opens.
      await poll(() => page.locator('#status-serving').textContent(), 60_000).toBe('postgres');
      expect(await row('consul')).toContain('✗ failing');
      await poll(() => page.locator('#status-leader').textContent()).toBe('✗ unknown (BACKEND_UNAVAILABLE)');
      expect(await axeViolations(page)).toEqual([]);

      // A staging edit while Consul is down: it lands in PostgreSQL and the agent serves it.
      await page.goto(`${api}/ui/configs/${REF}`);
      await poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(REF);
      await edit(
        page,
        JSON.stringify({
          config: { text: 'hello', color: 'blue' },
          overrides: { staging: { text: 'while consul was down' } },
        }),
      );
      await poll(() => page.locator('#config-status').textContent()).toBe('Saved as version 3.');
      await poll(served, 60_000).toEqual({ text: 'while consul was down', color: 'blue' });

      // Consul back (empty): the mirror is rebuilt from the record, its breaker closes, the agent leads again.
      await serviceCtl('consul', 'start');
      await page.getByRole('link', { name: 'Status' }).click();
      await poll(() => page.locator('#status-serving').textContent(), 90_000).toBe('consul');
      await poll(() => row('consul'), 30_000).toContain('✓ healthy');
      await poll(() => page.locator('#status-leader').textContent(), 60_000).toMatch(
        new RegExp(`@[^:]+:${agent.pid} \\(term \\d+\\)$`),
      );
      // Nothing acknowledged was lost: version 3 is the head, served as written.
      await poll(served).toEqual({ text: 'while consul was down', color: 'blue' });
      const head = await fetch(`${api}/api/v1/configs/${REF}`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await head.json()) as { version: number }).version).toBe(3);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
