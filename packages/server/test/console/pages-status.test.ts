/**
 * The console's status page over a failover chain: the real PostgreSQL of scripts/services.sh as
 * the record tier, reached through a TCP proxy this test owns, and a memory cache. Cutting the
 * proxy (every connection dropped, new ones refused) is PostgreSQL becoming unreachable for this
 * server: the page shows its breaker open and the cache serving, then PostgreSQL serving again once
 * the proxy is back, refreshing by itself. The drift report the server is handed (its `drift`
 * option) shows as "No drift run yet", then with its findings, the lagging and rejecting instances
 * in a table of their own. The leader (its `leader` option) shows as nobody, an agent, unknown when it
 * cannot be read, then another agent. axe-core finds no serious or critical violation.
 */
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { createFailoverStore, type FailoverStore } from '@summit-config/backends';
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { type ConfigService, createConfigService, createRbac } from '@summit-config/core';
import { services } from '@summit-config/test-support/services';
import { freshSchema, schemasToDrop } from '@summit-config/test-support/sql';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConfigServer, createMemoryTokenStore, createTokenAuthenticator } from '../../src/index.js';
import type { DriftReportView } from '../../src/routes/operations.js';
import { OPEN_ENVIRONMENTS, SERVER_RBAC } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, listen, openPage, signIn } from './browser.js';

// Chromium shares the machine's cores with the other suites: let a page take a few seconds.
// A real browser on a machine shared with every other suite: generous time per test and hook.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000, expect: { poll: { timeout: 5000 } } });

/** A TCP proxy to PostgreSQL: `cut()` drops every connection and refuses new ones until `start()`. */
function tcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  return {
    get port() {
      return port;
    },
    start: () =>
      new Promise<void>((resolve, reject) => {
        const s = createServer((client) => {
          const upstream = connect(target.port, target.host);
          const end = () => {
            client.destroy();
            upstream.destroy();
            sockets.delete(client);
            sockets.delete(upstream);
          };
          sockets.add(client).add(upstream);
          client.pipe(upstream).pipe(client);
          for (const sock of [client, upstream]) sock.on('error', end).on('close', end);
        });
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => {
          port = (s.address() as AddressInfo).port;
          server = s;
          resolve();
        });
      }),
    cut: () =>
      new Promise<void>((resolve) => {
        for (const sock of sockets) sock.destroy();
        sockets.clear();
        if (server === undefined) return resolve();
        server.close(() => resolve());
        server = undefined;
      }),
  };
}

const schemas = schemasToDrop();
const proxy = (() => {
  const url = new URL(services().databaseUrl);
  return tcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
})();
let chain: FailoverStore;
let service: ConfigService;
let app: FastifyInstance;
let browser: Browser;
let base: string;
let assetsDir: string;
let rig: ConsoleRig | undefined;
let token: string;
const governance = createMemoryGovernance();
/** The latest drift run, as the agent's leader hands it to the server (`drift` option); none at first. */
let driftReport: DriftReportView | undefined;
/** Who leads, as the server's `leader` option reports it: nobody at first, then an agent, then unknown. */
let leader: () => { holder: string; fencingToken?: number } | undefined = () => undefined;

beforeAll(async () => {
  rig = await consoleRig();
  ({ assetsDir, browser } = rig);
  await proxy.start();
  const schema = freshSchema('consolestatus');
  schemas.push(schema);
  const url = new URL(services().databaseUrl);
  url.host = `127.0.0.1:${proxy.port}`;
  chain = createFailoverStore({
    tiers: [
      createPostgresStore({ connectionString: url.toString(), schema, connectTimeoutMs: 500 }),
      createMemoryStore({ name: 'cache' }),
    ],
    probeIntervalMs: 100,
    failureThreshold: 1,
  });
  const rbac = createRbac(SERVER_RBAC);
  service = createConfigService({ store: chain, governance, rbac, environments: OPEN_ENVIRONMENTS });
  const tokens = createMemoryTokenStore();
  token = (await tokens.create({ name: 'alice', owner: 'alice', roles: ['superuser'] })).token;
  app = createConfigServer({
    service,
    store: chain,
    rbac,
    authenticators: [createTokenAuthenticator(tokens)],
    console: { assetsDir },
    drift: () => driftReport,
    leader: () => leader(),
    rateLimit: false,
  });
  base = await listen(app);
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await app?.close();
  await service?.close();
  await chain?.close();
  await governance.close();
  await proxy.cut();
});

const read = () =>
  fetch(`${base}/api/v1/configs/global/db`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

describe('the status page over a failover chain (PostgreSQL and a cache)', () => {
  it('shows both tiers and the drift report, the cache serving while PostgreSQL is unreachable, and PostgreSQL back', async () => {
    const put = await fetch(`${base}/api/v1/configs/global/db`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ config: { pool: 5 } }),
    });
    expect(put.status).toBe(201);

    const { context, page, problems } = await openPage(browser);
    // Reads keep going while the test runs, as clients would: the breakers learn from them.
    const reads = setInterval(() => void read().catch(() => undefined), 200);
    try {
      await page.goto(`${base}/ui/`);
      await signIn(page, token);
      await expect.poll(() => page.getByText('Signed in as').textContent()).toContain('alice');
      await page.getByRole('link', { name: 'Status' }).click();
      await expect.poll(() => page.locator('#status-serving').textContent()).toBe('postgres');
      const row = (name: string) => page.locator('#tiers tbody tr', { hasText: name }).textContent();
      expect(await page.locator('#tiers tbody tr').count()).toBe(2);
      expect(await row('postgres')).toMatch(/^postgres \(serving\)plainyesclosed✓ healthy/);
      expect(await row('cache')).toMatch(/^cachecachenoclosed✓ healthy/);
      expect(await page.getByText('failover chain').count()).toBe(1);
      expect(await page.locator('#status-divergent').textContent()).toBe('0');
      expect(await page.locator('#status-unsynced').textContent()).toBe('none');
      expect(await page.locator('#drift-none').textContent()).toBe('No drift run yet.');
      expect(await page.locator('#status-leader').textContent()).toBe('✗ no agent leads');
      expect(await axeViolations(page)).toEqual([]);

      // An agent takes the lead: the page names it and its term at the next refresh.
      leader = () => ({ holder: 'agent-a@host:42', fencingToken: 7 });
      await expect
        .poll(() => page.locator('#status-leader').textContent(), { timeout: 10_000 })
        .toBe('agent-a@host:42 (term 7)');
      // The leader cannot be read (Consul down for the server): the page says so, not "no leader".
      leader = () => {
        throw Object.assign(new Error('consul unreachable'), { code: 'BACKEND_UNAVAILABLE' });
      };
      await expect
        .poll(() => page.locator('#status-leader').textContent(), { timeout: 10_000 })
        .toBe('✗ unknown (BACKEND_UNAVAILABLE)');
      leader = () => ({ holder: 'agent-b@host:43' });
      await expect
        .poll(() => page.locator('#status-leader').textContent(), { timeout: 10_000 })
        .toBe('agent-b@host:43');

      // A drift run reports a lagging instance: the page shows it at its next refresh.
      driftReport = {
        startedAt: new Date().toISOString(),
        durationMs: 40,
        examined: 1,
        remediated: 0,
        findings: [
          {
            kind: 'lagging-instance',
            ref: 'global/db',
            message: 'web-1 (production) applied v0 of global/db, head is v1',
            source: 'scan',
            instance: 'web-1',
            environment: 'production',
            ackVersion: 0,
            headVersion: 1,
          },
          {
            kind: 'rejected-instance',
            ref: 'global/db',
            message: 'global/db: instance web-2 (staging) rejected v1: SCHEMA_VIOLATION',
            source: 'scan',
            instance: 'web-2',
            environment: 'staging',
            ackVersion: 1,
            headVersion: 1,
            reason: 'SCHEMA_VIOLATION',
          },
        ],
      };
      const finding = page.getByRole('row', { name: /lagging-instance/ });
      await expect.poll(() => finding.count(), { timeout: 10_000 }).toBe(1);
      expect(await finding.textContent()).toContain('web-1 (production) applied v0 of global/db, head is v1');
      expect(await page.getByText('1 refs examined, 2 findings, 0 remediated').count()).toBe(1);
      // The instances section lists both, one row each, with what they applied and why they refused.
      const instances = page.locator('#instances tbody tr');
      expect(await instances.count()).toBe(2);
      expect(await instances.nth(0).textContent()).toBe('web-1productionglobal/db⚠ laggingv0v1');
      expect(await instances.nth(1).textContent()).toBe('web-2stagingglobal/db✗ rejectedv1v1SCHEMA_VIOLATION');
      expect(await axeViolations(page)).toEqual([]);

      // PostgreSQL becomes unreachable: its breaker opens and the cache serves.
      await proxy.cut();
      await expect.poll(() => page.locator('#status-serving').textContent(), { timeout: 15_000 }).toBe('cache');
      expect(await row('postgres')).toContain('✗ failing');
      expect(await row('postgres')).not.toContain('closed');
      expect(await row('cache (serving)')).toContain('✓ healthy');
      expect(await axeViolations(page)).toEqual([]);

      // Back: the page shows PostgreSQL serving again, by itself (the 5 s refresh).
      await proxy.start();
      await expect.poll(() => page.locator('#status-serving').textContent(), { timeout: 20_000 }).toBe('postgres');
      await expect.poll(() => row('postgres'), { timeout: 10_000 }).toContain('✓ healthy');
      expect(problems).toEqual([]);
    } finally {
      clearInterval(reads);
      await context.close();
    }
  });
});
