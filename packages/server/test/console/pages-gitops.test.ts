/**
 * The GitOps section of the console's status page, fed by the server's `gitops` option (the agent's
 * sync loop beside it): `/api/v1/status` serves what the option returns (undefined fields as null),
 * and the page shows it in Chromium, refreshing by itself: synced, then blocked by a force push (an
 * alert naming the commit to accept), then a status that cannot be read (the code, never "synced").
 * axe-core finds no serious or critical violation.
 */
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { type ConfigService, createConfigService, createRbac } from '@summit-config/core';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConfigServer, createMemoryTokenStore, createTokenAuthenticator } from '../../src/index.js';
import type { GitopsStatusView } from '../../src/routes/operations.js';
import { OPEN_ENVIRONMENTS, SERVER_RBAC } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, listen, openPage, signIn } from './browser.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000, expect: { poll: { timeout: 5000 } } });

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const synced: GitopsStatusView = {
  repo: 'https://git.example.test/ops/config.git',
  branch: 'main',
  path: 'deploy',
  state: 'synced',
  appliedCommit: A,
  appliedAt: '2026-01-02T03:04:05.000Z',
  head: A,
  headSeenAt: '2026-01-02T03:04:06.000Z',
  blocked: undefined,
  drift: ['app:shop/cache'],
  conflicts: [],
  requests: ['global/db#r-1'],
  lastRunAt: '2026-01-02T03:04:06.000Z',
  lastError: undefined,
  leading: true,
};
/** What the option returns now (the test changes it). */
let gitops: () => GitopsStatusView | undefined = () => undefined;

let rig: ConsoleRig | undefined;
let browser: Browser;
let app: FastifyInstance;
let service: ConfigService;
let base: string;
let token: string;
const governance = createMemoryGovernance();
const store = createMemoryStore();

beforeAll(async () => {
  rig = await consoleRig();
  browser = rig.browser;
  const rbac = createRbac(SERVER_RBAC);
  service = createConfigService({ store, governance, rbac, environments: OPEN_ENVIRONMENTS });
  const tokens = createMemoryTokenStore();
  token = (await tokens.create({ name: 'alice', owner: 'alice', roles: ['superuser'] })).token;
  app = createConfigServer({
    service,
    store,
    rbac,
    authenticators: [createTokenAuthenticator(tokens)],
    console: { assetsDir: rig.assetsDir },
    gitops: () => gitops(),
    rateLimit: false,
  });
  base = await listen(app);
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await app?.close();
  await service?.close();
  await store.close();
  await governance.close();
});

const status = async () =>
  (await (await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<
    string,
    unknown
  >;

describe('the GitOps section of the status page', () => {
  it('serves and shows the sync loop: none, synced, blocked by a force push, unreadable', async () => {
    // The API: null when the loop reports nothing; undefined fields as null; a failure as its code.
    expect((await status()).gitops).toBeNull();
    gitops = () => synced;
    expect((await status()).gitops).toEqual({ ...synced, blocked: null, lastError: null });

    gitops = () => undefined;
    const { context, page, problems } = await openPage(browser);
    try {
      await page.goto(`${base}/ui/`);
      await signIn(page, token);
      await page.getByRole('link', { name: 'Status' }).click();
      await expect.poll(() => page.locator('#gitops-none').textContent()).toContain('No GitOps sync loop');

      gitops = () => synced;
      await expect.poll(() => page.locator('#gitops-state').textContent(), { timeout: 10_000 }).toBe('✓ synced');
      expect(await page.locator('#gitops-repo').textContent()).toBe(synced.repo);
      expect(await page.locator('#gitops-branch').textContent()).toBe('main (layout in deploy/)');
      expect(await page.locator('#gitops-applied').textContent()).toMatch(/^aaaaaaaaaaaa at /);
      expect(await page.locator('#gitops-applied').getAttribute('title')).toBe(A);
      expect(await page.locator('#gitops-drift').textContent()).toBe('app:shop/cache');
      expect(await page.locator('#gitops-requests').textContent()).toBe('global/db#r-1');
      expect(await page.locator('#gitops-conflicts').textContent()).toBe('none');
      expect(await page.locator('#gitops-blocked').count()).toBe(0);
      expect(await axeViolations(page)).toEqual([]);

      // A force push: the page says blocked and names the commit to accept.
      gitops = () => ({
        ...synced,
        state: 'blocked',
        head: B,
        blocked: { head: B, applied: A, reason: `${B.slice(0, 12)} does not descend from the applied commit` },
        leading: false,
      });
      await expect.poll(() => page.locator('#gitops-state').textContent(), { timeout: 10_000 }).toContain('✗ blocked');
      expect(await page.locator('#gitops-state').textContent()).toContain('does not lead');
      expect(await page.locator('#gitops-blocked').textContent()).toContain(`summit-config gitops accept ${B}`);
      expect(await page.locator('#gitops-head').getAttribute('title')).toBe(B);
      expect(await axeViolations(page)).toEqual([]);

      // The status cannot be read: the code, never a stale "synced".
      gitops = () => {
        throw Object.assign(new Error('database down'), { code: 'BACKEND_UNAVAILABLE' });
      };
      await expect
        .poll(() => page.locator('#gitops-error').textContent(), { timeout: 10_000 })
        .toContain('BACKEND_UNAVAILABLE');
      expect(await page.locator('#gitops-state').count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
