/**
 * The console's rollouts and secrets pages in a real browser (Debian's Chromium through
 * playwright-core) against real config servers on 127.0.0.1: memory stores, real API tokens, the
 * local secrets provider with a real master key and a real rotation manager. Every move made on
 * the page is checked through the API (or the provider) as well; no page ever holds a secret value;
 * axe-core finds no serious or critical violation; the controls are reached and used by keyboard.
 */
import { randomBytes } from 'node:crypto';
import { type Actor, createRbac, type RbacDefinition } from '@summit-config/core';
import {
  createLocalProvider,
  createMemoryRotationPolicies,
  createRotationManager,
  generateMasterKey,
  type RotationManager,
  type SecretProvider,
} from '@summit-config/secrets';
import { type Harness, harness } from '@summit-config/test-support/service';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConfigServer, createMemoryTokenStore, createTokenAuthenticator } from '../../src/index.js';
import { GUARDED_ENVIRONMENTS, OPEN_ENVIRONMENTS, SERVER_RBAC } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, listen, openPage, signIn } from './browser.js';

// A real browser on a machine shared with every other suite: generous time per test and hook.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const RBAC: RbacDefinition = {
  ...SERVER_RBAC,
  roles: { ...SERVER_RBAC.roles, deployer: ['config:read', 'config:list', 'config:write', 'approval:request'] },
};
const ROOT: Actor = { id: 'root', roles: ['superuser'] };
const CANARY = {
  id: 'pool',
  strategy: 'canary',
  patch: { pool: 50 },
  schedule: [1000, 2500, 5000, 10000],
  stepIntervalMinutes: 30,
  healthGate: { kind: 'prometheus', query: 'sum(rate(http_errors[5m]))', max: 0.01 },
};
/** Values written in these tests; the generated one is added once rotated. */
const VALUES = ['Sup3r-s3cret-DB-password-71f2', 'api-key-VALUE-0c9d8e7f6a5b4c3d'];

interface Server {
  h: Harness;
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

let browser: Browser;
let assetsDir: string;
let rig: ConsoleRig | undefined;
let main: Server;
let guarded: Server;
let bare: Server;
let provider: SecretProvider;
let rotation: RotationManager;
const tokens = createMemoryTokenStore();
/** The `flaky` rotation handler refuses every pending value while this is true. */
let verifyFails = false;
let rootToken: string;
let deployerToken: string;

async function server(
  environments = OPEN_ENVIRONMENTS,
  withSecrets?: (h: Harness) => Parameters<typeof createConfigServer>[0]['secrets'],
): Promise<Server> {
  const h = await harness('memory', { rbac: RBAC, environments });
  const app = createConfigServer({
    service: h.service,
    store: h.store,
    authenticators: [createTokenAuthenticator(tokens)],
    rbac: createRbac(RBAC),
    console: { assetsDir },
    ...(withSecrets ? { secrets: withSecrets(h) } : {}),
  });
  const url = await listen(app);
  return {
    h,
    app,
    url,
    async close() {
      await app.close();
      await h.service.close();
      await h.close();
    },
  };
}

beforeAll(async () => {
  rig = await consoleRig();
  ({ assetsDir, browser } = rig);
  rootToken = (await tokens.create({ name: 'console', owner: 'root', roles: ['superuser'] })).token;
  deployerToken = (await tokens.create({ name: 'deploy', owner: 'dana', roles: ['deployer'] })).token;
  provider = createLocalProvider({ key: generateMasterKey() });
  const names = ['db-password', 'api-key'];
  main = await server(OPEN_ENVIRONMENTS, (h) => {
    rotation = createRotationManager({
      policies: createMemoryRotationPolicies(),
      providers: [provider],
      service: h.service,
      store: h.store,
      rbac: createRbac(RBAC),
      actor: ROOT,
      // A run fails at its first refused attempt (no backoff to wait through in the page).
      retry: { maxAttempts: 1 },
      handlers: {
        flaky: {
          generate: () => randomBytes(18).toString('base64url'),
          verify: async () => {
            if (verifyFails) throw new Error('the new login was refused');
          },
        },
      },
    });
    return { provider, rotation, listNames: async () => names };
  });
  guarded = await server(GUARDED_ENVIRONMENTS);
  bare = await server();
  for (const [i, name] of names.entries()) {
    await provider.create(name, VALUES[i] as string, { labels: { team: 'payments' } });
  }
  await rotation.putPolicy(ROOT, { secret: { provider: 'local', name: 'db-password' }, intervalDays: 30, graceMs: 0 });
  const s = main.h.service;
  await s.set(ROOT, { ref: 'global/db', config: { pool: 10 }, rollout: { rules: [CANARY] } } as never);
  await s.set(ROOT, {
    ref: 'app:web/cache',
    config: { ttl: 60 },
    rollout: { rules: [{ id: 'ttl', strategy: 'percentage', patch: { ttl: 5 }, bps: 500 }] },
  } as never);
  await s.set(ROOT, { ref: 'global/plain', config: { a: 1 } });
  await s.set(ROOT, {
    ref: 'app:billing/database',
    config: { password: { $secret: { provider: 'local', name: 'db-password' } } },
  } as never);
  await guarded.h.service.set(
    ROOT,
    { ref: 'global/pay', config: { limit: 1 }, rollout: { rules: [CANARY] } } as never,
    {
      emergency: true,
    },
  );
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await rotation?.close();
  await provider?.close();
  for (const s of [main, guarded, bare]) await s?.close();
});

async function openAt(url: string, path: string, token = rootToken) {
  const opened = await openPage(browser);
  await opened.page.goto(`${url}/ui/`);
  await signIn(opened.page, token);
  await expect.poll(() => opened.page.getByText('Signed in as').count()).toBe(1);
  await opened.page.goto(`${url}/ui${path}`);
  return opened;
}

const rule = (page: Page, ref: string, id: string) => page.locator(`section[data-ref="${ref}"] tr[data-rule="${id}"]`);
const statusText = (page: Page) => page.getByRole('status').first().textContent();
const ruleOf = async (s: Server, ref: string) => {
  const doc = await s.h.service.get(ROOT, ref);
  return {
    version: doc?.version,
    rule: (doc?.rollout as unknown as { rules: Array<Record<string, unknown>> } | undefined)?.rules[0],
  };
};

describe('the rollouts page in Chromium', () => {
  it('shows each rule with its share, step and health gate; advances, pauses, resumes, promotes and aborts behind a confirmation', async () => {
    const { context, page, problems } = await openAt(main.url, '/rollouts');
    try {
      await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Rollouts');
      const pool = rule(page, 'global/db', 'pool');
      await expect.poll(() => pool.count()).toBe(1);
      expect(
        await page.locator('section[data-ref]').evaluateAll((s) => s.map((e) => e.getAttribute('data-ref'))),
      ).toEqual(['app:web/cache', 'global/db']);
      const text = await pool.textContent();
      expect(text).toContain('▶ running');
      expect(text).toContain('10 % (1000 bps)');
      expect(text).toContain('step 1 of 4');
      expect(text).toContain('Prometheus: sum(rate(http_errors[5m])) ≤ 0.01');
      expect(text).toContain('Last check: ○ not checked yet');
      expect(text).toContain('Next step due:');
      expect(await axeViolations(page)).toEqual([]);

      // Escape cancels: nothing written, focus back on the button.
      await page.getByRole('button', { name: 'Advance pool of global/db' }).click();
      await expect.poll(() => page.getByRole('dialog').count()).toBe(1);
      expect(await page.getByRole('dialog').textContent()).toContain('moves to its next step: 25 % (2500 bps)');
      expect(await axeViolations(page)).toEqual([]);
      await page.keyboard.press('Escape');
      await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
      expect(await page.evaluate<string>('document.activeElement?.getAttribute("aria-label") ?? ""')).toBe(
        'Advance pool of global/db',
      );
      expect((await ruleOf(main, 'global/db')).version).toBe(1);

      // By keyboard: Enter opens the dialog (focus on Cancel), Tab to Advance, Enter.
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByRole('dialog').count()).toBe(1);
      expect(await page.evaluate<string>('document.activeElement?.textContent ?? ""')).toBe('Cancel');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await expect.poll(() => statusText(page)).toBe('Rule pool of global/db advanced: version 2 written.');
      expect(await ruleOf(main, 'global/db')).toMatchObject({ version: 2, rule: { step: 1 } });
      await expect.poll(() => pool.textContent()).toContain('25 % (2500 bps)');
      expect(await pool.textContent()).toContain('step 2 of 4');

      // Paused: the share stays and no step is due; resumed: running again.
      await page.getByRole('button', { name: 'Pause pool of global/db' }).click();
      expect(await page.getByRole('dialog').textContent()).toContain('is paused: it keeps serving 25 % (2500 bps)');
      await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
      await expect.poll(() => statusText(page)).toBe('Rule pool of global/db paused: version 3 written.');
      expect(await ruleOf(main, 'global/db')).toMatchObject({ version: 3, rule: { state: 'paused', step: 1 } });
      await expect.poll(() => pool.textContent()).toContain('⏸ paused');
      expect(await pool.textContent()).toContain('25 % (2500 bps)');
      expect(await pool.textContent()).not.toContain('Next step due:');
      expect(await axeViolations(page)).toEqual([]);
      await page.getByRole('button', { name: 'Resume pool of global/db' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();
      await expect.poll(() => statusText(page)).toBe('Rule pool of global/db resumed: version 4 written.');
      await expect.poll(() => pool.textContent()).toContain('▶ running');
      expect(await ruleOf(main, 'global/db')).toMatchObject({ version: 4, rule: { state: 'running', step: 1 } });

      await page.getByRole('button', { name: 'Promote pool of global/db' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Promote' }).click();
      await expect.poll(() => statusText(page)).toBe('Rule pool of global/db promoted: version 5 written.');
      expect(await ruleOf(main, 'global/db')).toMatchObject({ version: 5, rule: { state: 'promoted' } });
      await expect.poll(() => pool.textContent()).toContain('✓ promoted');
      expect(await pool.textContent()).toContain('100 % (10000 bps)');
      expect(await pool.getByRole('button').count()).toBe(0);

      // A percentage rule (a fixed share) is aborted: no unit gets it any more.
      const ttl = rule(page, 'app:web/cache', 'ttl');
      expect(await ttl.getByRole('button', { name: /Advance/ }).count()).toBe(0);
      await page.getByRole('button', { name: 'Abort ttl of app:web/cache' }).click();
      expect(await page.getByRole('dialog').textContent()).toContain('no unit gets its patch any more');
      await page.getByRole('dialog').getByRole('button', { name: 'Abort' }).click();
      await expect.poll(() => statusText(page)).toBe('Rule ttl of app:web/cache aborted: version 2 written.');
      expect(await ruleOf(main, 'app:web/cache')).toMatchObject({ version: 2, rule: { state: 'aborted' } });
      await expect.poll(() => ttl.textContent()).toContain('✗ aborted');
      expect(await ttl.textContent()).toContain('0 % (0 bps)');
      expect(await axeViolations(page)).toEqual([]);

      // The head moves behind the page's back: the compare-and-set refuses, nothing is written.
      const restart = { ref: 'global/db', config: { pool: 10 }, rollout: { rules: [CANARY] } } as never;
      await main.h.service.set(ROOT, restart);
      await page.reload();
      await page.getByRole('button', { name: 'Abort pool of global/db' }).click();
      await main.h.service.set(ROOT, restart);
      await page.getByRole('dialog').getByRole('button', { name: 'Abort' }).click();
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe('Not aborted: global/db moved past version 6. Nothing was written; the list is reloaded.');
      expect(await ruleOf(main, 'global/db')).toMatchObject({ version: 7 });
      expect((await ruleOf(main, 'global/db')).rule?.state).toBeUndefined();
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a move refused for approval offers a change request', async () => {
    const { context, page, problems } = await openAt(guarded.url, '/rollouts', deployerToken);
    try {
      await page.getByRole('button', { name: 'Advance pool of global/pay' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Advance' }).click();
      await expect.poll(() => page.getByRole('dialog').getByRole('heading').textContent()).toBe('Approval required');
      expect(await page.getByRole('dialog').textContent()).toContain('guarded in production, production-eu');
      expect(await axeViolations(page)).toEqual([]);
      await page.getByRole('dialog').getByRole('button', { name: 'Propose a change request' }).click();
      await expect.poll(() => statusText(page)).toMatch(/^Change request \S+ created: rule pool of global\/pay/);
      const requests = await guarded.h.service.listRequests(ROOT, { status: ['pending'] });
      expect(requests).toHaveLength(1);
      const [request] = requests;
      expect(request).toMatchObject({ requestedBy: 'dana', baseVersion: 1 });
      const proposed = request?.proposed.rollout as unknown as { rules: Array<{ step: number }> } | undefined;
      expect(proposed?.rules[0]?.step).toBe(1);
      expect((await ruleOf(guarded, 'global/pay')).version).toBe(1);
      const link = page.getByRole('link', { name: 'Open the change request' });
      expect(await link.getAttribute('href')).toBe(`/ui/approvals/${encodeURIComponent(requests[0]?.id ?? '')}`);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('the secrets page in Chromium', () => {
  it('shows versions, policy and state, the history, and rotates behind a confirmation; never a value', async () => {
    const { context, page, problems } = await openAt(main.url, '/secrets');
    try {
      await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Secrets');
      const row = page.locator('tr[data-secret="db-password"]');
      await expect.poll(() => row.count()).toBe(1);
      const cells = await row.locator('th, td').allTextContents();
      expect(cells.slice(0, 7)).toEqual([
        'db-password',
        '1',
        '—',
        '—',
        '1',
        'every 30 d, grace none, password',
        '● idle',
      ]);
      expect(await page.locator('tr[data-secret="api-key"] td').nth(4).textContent()).toBe('no rotation policy');
      expect(await page.getByRole('button', { name: 'Rotate now: api-key' }).count()).toBe(0);
      expect(await page.getByText('Provider local (local), 2 secrets.').count()).toBe(1);

      const history = page.getByRole('button', { name: 'History of db-password' });
      await history.focus();
      await page.keyboard.press('Enter');
      await expect.poll(() => history.getAttribute('aria-expanded')).toBe('true');
      const versions = page.getByRole('table', { name: 'Versions of db-password' });
      expect(await versions.locator('tbody tr').allTextContents()).toHaveLength(1);
      expect(await versions.textContent()).toContain('team=payments');
      expect(await page.getByText('No completed rotation yet.').count()).toBe(1);
      expect(await axeViolations(page)).toEqual([]);

      // By keyboard: Tab to Rotate now, Enter, Tab from Cancel to the confirm button, Enter.
      await page.keyboard.press('Tab');
      expect(await page.evaluate<string>('document.activeElement?.getAttribute("aria-label") ?? ""')).toBe(
        'Rotate now: db-password',
      );
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByRole('dialog').count()).toBe(1);
      expect(await axeViolations(page)).toEqual([]);
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await expect.poll(() => statusText(page)).toBe('Rotation of db-password done: the current version is 2.');
      const listed = await provider.listVersions('db-password');
      expect(listed.find((v) => v.stage === 'current')?.version).toBe('2');
      await expect.poll(() => row.locator('td.current').textContent()).toBe('2');
      // With no grace period the run went to its end: version 1 is revoked, as the provider says.
      const old = listed.find((v) => v.version === '1');
      expect(await versions.locator('tbody tr').filter({ hasText: /^1/ }).locator('td').nth(1).textContent()).toBe(
        old?.state,
      );
      await expect.poll(() => versions.locator('tbody tr').count()).toBe(2);
      expect(await page.locator('.secret-history').textContent()).toMatch(
        /Last rotation: version 2 \(previously 1\).*configs bumped: app:billing\/database v2\./,
      );
      // The config referencing the secret was bumped.
      expect((await main.h.service.get(ROOT, 'app:billing/database'))?.version).toBe(2);

      const generated = (await provider.read('db-password')).value;
      const html = await page.content();
      for (const value of [...VALUES, generated]) {
        expect(html.includes(value), 'the page holds a secret value').toBe(false);
        expect(html.includes(JSON.stringify(value).slice(1, -1))).toBe(false);
      }
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('sets, edits and deletes a rotation policy in a dialog; a failed run is retried at its failed step', async () => {
    const { context, page, problems } = await openAt(main.url, '/secrets');
    const secret = { provider: 'local', name: 'api-key' };
    const row = page.locator('tr[data-secret="api-key"]');
    const dialog = page.getByRole('dialog');
    try {
      await expect.poll(() => row.count()).toBe(1);
      // Set: a bad interval is refused in the dialog before any request; then every 7 days, 2 days of grace.
      await page.getByRole('button', { name: 'Set policy of api-key' }).click();
      await expect.poll(() => dialog.getByRole('heading').textContent()).toBe('Rotation policy of api-key');
      expect(await axeViolations(page)).toEqual([]);
      await dialog.getByLabel('Rotate every (days)').fill('0');
      await dialog.getByRole('button', { name: 'Save policy' }).click();
      await expect
        .poll(() => dialog.locator('#policy-problem').textContent())
        .toBe('Rotate every: a whole number of days, 1 or more.');
      expect(await rotation.getPolicy(ROOT, secret)).toBeUndefined();
      await dialog.getByLabel('Rotate every (days)').fill('7');
      await dialog.getByLabel('Grace period (days)').fill('2');
      await dialog.getByRole('button', { name: 'Save policy' }).click();
      await expect
        .poll(() => statusText(page))
        .toBe('The rotation policy of api-key is saved: every 7 d, grace 2 d, password.');
      expect(await rotation.getPolicy(ROOT, secret)).toMatchObject({
        intervalDays: 7,
        graceMs: 2 * 86_400_000,
        enabled: true,
      });
      await expect.poll(() => row.locator('td').nth(4).textContent()).toBe('every 7 d, grace 2 d, password');

      // Edit: the fields start from the policy; a cron schedule, disabled.
      await page.getByRole('button', { name: 'Edit policy of api-key' }).click();
      expect(await dialog.getByLabel('Rotate every (days)').inputValue()).toBe('7');
      expect(await dialog.getByLabel('Grace period (days)').inputValue()).toBe('2');
      await dialog.getByLabel('Cron expression').check();
      await dialog.getByRole('textbox', { name: 'Cron expression' }).fill('0 4 * * 1');
      await dialog.getByLabel('Enabled (scheduled rotations run)').uncheck();
      await dialog.getByRole('button', { name: 'Save policy' }).click();
      await expect
        .poll(() => row.locator('td').nth(4).textContent())
        .toBe('cron 0 4 * * 1, grace 2 d, password (disabled)');
      const edited = await rotation.getPolicy(ROOT, secret);
      expect(edited).toMatchObject({ cron: '0 4 * * 1', enabled: false });
      expect(edited?.intervalDays).toBeUndefined();
      // A cron expression the server refuses: said so, the policy unchanged.
      await page.getByRole('button', { name: 'Edit policy of api-key' }).click();
      await dialog.getByRole('textbox', { name: 'Cron expression' }).fill('every tuesday');
      await dialog.getByRole('button', { name: 'Save policy' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^Not saved: /);
      expect((await rotation.getPolicy(ROOT, secret))?.cron).toBe('0 4 * * 1');

      // A run refused at verify fails; Retry resumes it once the cause is gone.
      await rotation.putPolicy(ROOT, {
        secret,
        intervalDays: 7,
        graceMs: 0,
        generator: { type: 'handler', name: 'flaky' },
      });
      await page.reload();
      verifyFails = true;
      await page.getByRole('button', { name: 'Rotate now: api-key' }).click();
      await dialog.getByRole('button', { name: 'Rotate now' }).click();
      await expect
        .poll(() => statusText(page))
        .toMatch(/^Rotation of api-key failed at step verify: .*the new login was refused/);
      await expect.poll(() => row.textContent()).toContain('✗ failed at verify');
      expect((await provider.listVersions('api-key')).find((v) => v.stage === 'current')?.version).toBe('1');
      verifyFails = false;
      await page.getByRole('button', { name: 'Retry rotation: api-key' }).click();
      expect(await dialog.textContent()).toContain('resumes at the step that failed');
      await dialog.getByRole('button', { name: 'Retry' }).click();
      await expect.poll(() => statusText(page)).toBe('Rotation of api-key done: the current version is 2.');
      expect((await provider.listVersions('api-key')).find((v) => v.stage === 'current')?.version).toBe('2');
      await expect.poll(() => page.getByRole('button', { name: 'Retry rotation: api-key' }).count()).toBe(0);

      // Delete: no policy any more; the secret and its versions stay.
      await page.getByRole('button', { name: 'Delete policy of api-key' }).click();
      await dialog.getByRole('button', { name: 'Delete policy' }).click();
      await expect
        .poll(() => statusText(page))
        .toBe('The rotation policy of api-key is deleted: it is no longer rotated on a schedule.');
      expect(await rotation.getPolicy(ROOT, secret)).toBeUndefined();
      await expect.poll(() => row.locator('td').nth(4).textContent()).toBe('no rotation policy');
      expect((await provider.listVersions('api-key')).length).toBeGreaterThanOrEqual(2);
      expect(await axeViolations(page)).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('says so on a server without secrets', async () => {
    const { context, page, problems } = await openAt(bare.url, '/secrets');
    try {
      await expect
        .poll(() => page.locator('#no-secrets').textContent())
        .toBe('This server has no secrets: it was started without a secrets provider.');
      expect(await page.getByRole('alert').count()).toBe(0);
      expect(await axeViolations(page)).toEqual([]);
      // The nav marks the current page in words and style, not colour alone.
      expect(await page.getByRole('link', { name: 'Secrets' }).getAttribute('aria-current')).toBe('page');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
