/**
 * The console's config pages over the real PostgreSQL (the config service and its governance in
 * it), with the guarded environments of the test harness (`production` needs 2 approvals,
 * `production-eu` inherits from it): explain through the environment chain, a staging-only edit
 * saved directly while a `config` edit becomes a change request, a rollback that touches staging
 * only, a write by a second service on the same database (another replica) between load and save,
 * which the page shows and does not overwrite, and a guarded rollback turned into a change request.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GUARDED_ENVIRONMENTS, type ServerHarness, serverHarness } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, editDocument, listen, openPage, signIn } from './browser.js';

// A real browser on a machine shared with every other suite: generous time per test and hook.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const ROOT = { id: 'root', roles: ['superuser'] };
/** Waits for a condition of the page: generous, as the machine's two cores are shared. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });

let s: ServerHarness;
let browser: Browser;
let base: string;
let token: string;
let rig: ConsoleRig | undefined;

beforeAll(async () => {
  rig = await consoleRig();
  ({ browser } = rig);
  token = rig.rootToken;
  s = await serverHarness('postgres', rig.serverOptions, GUARDED_ENVIRONMENTS);
  // Seeded as emergency changes (the guarded environments would otherwise need approvals).
  const emergency = { emergency: true };
  await s.h.service.set(
    ROOT,
    { ref: 'global/cache', config: { ttl: 60, size: 100 }, overrides: { production: { ttl: 300 } } },
    emergency,
  );
  await s.h.service.set(ROOT, { ref: 'app:shop/cache', config: { size: 500 } }, emergency);
  await s.h.service.set(ROOT, { ref: 'global/flags', config: { beta: false } }, emergency);
  base = await listen(s.app);
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await s?.close();
});

const head = async (ref: string) => {
  const res = await fetch(`${base}/api/v1/configs/${ref}`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as { version: number; config: Record<string, unknown>; overrides: Record<string, unknown> };
};

async function openConfig(ref: string) {
  const opened = await openPage(browser);
  await opened.page.goto(`${base}/ui/`);
  await signIn(opened.page, token);
  await poll(() => opened.page.getByText('Signed in as').count()).toBe(1);
  await opened.page.goto(`${base}/ui/configs/${ref}`);
  await poll(() => opened.page.getByRole('heading', { level: 1 }).textContent()).toBe(ref);
  return opened;
}

const edit = (page: Page, text: string) => editDocument(page, text, poll);

describe('the config pages in Chromium, over PostgreSQL', () => {
  it('explains a value through the environment chain (production-eu inherits production)', async () => {
    const { context, page, problems } = await openConfig('app:shop/cache');
    try {
      await page.getByLabel('Environment').selectOption('production-eu');
      await poll(() => page.locator('#resolved-summary').textContent()).toContain('in production-eu');
      expect(JSON.parse((await page.locator('#resolved-value').textContent()) ?? '')).toEqual({ ttl: 300, size: 500 });
      const leaf = (p: string) => page.locator(`#explain li[data-pointer="${p}"]`).textContent();
      expect(await leaf('/ttl')).toMatch(/set by override · global · environment production · v1/);
      expect(await leaf('/size')).toMatch(/set by app · app:shop · v1/);
      expect(await axeViolations(page)).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('saves a staging-only edit, proposes a config edit, and rolls back the staging change', async () => {
    const { context, page, problems } = await openConfig('global/cache');
    try {
      // Only staging changes: no guarded environment is touched, the write applies.
      await edit(
        page,
        '{ "config": { "ttl": 60, "size": 100 }, "overrides": { "production": { "ttl": 300 }, "staging": { "ttl": 5 } } }',
      );
      await poll(() => page.locator('#config-status').textContent()).toBe('Saved as version 2.');
      expect((await head('global/cache')).overrides).toEqual({ production: { ttl: 300 }, staging: { ttl: 5 } });

      // The base config changes every environment, production included: a change request.
      await edit(
        page,
        '{ "config": { "ttl": 90, "size": 100 }, "overrides": { "production": { "ttl": 300 }, "staging": { "ttl": 5 } } }',
      );
      await poll(() => page.locator('#edit-outcome').textContent()).toContain('production, production-eu');
      await page.getByRole('button', { name: 'Create change request' }).click();
      await poll(() => page.locator('#change-request-id').count()).toBe(1);
      const id = (await page.locator('#change-request-id').textContent()) ?? '';
      expect(await s.h.service.getRequest(ROOT, id)).toMatchObject({ id, status: 'pending', baseVersion: 2 });
      expect((await head('global/cache')).version).toBe(2);

      // Back on the page, roll back to v1: it undoes the staging override only, so it applies.
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: 'Roll back to v1' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Roll back to v1' }).click();
      await poll(() => page.locator('#config-status').textContent()).toBe(
        'Rolled back: version 3 has the content of version 1.',
      );
      expect(await head('global/cache')).toMatchObject({ version: 3, overrides: { production: { ttl: 300 } } });
      await page.getByLabel('From version').selectOption('1');
      await page.getByLabel('To version').selectOption('3');
      await page.getByRole('button', { name: 'Compare' }).click();
      await poll(() => page.locator('#version-diff').textContent()).toContain('No differences.');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a write by another replica between load and save is shown, not overwritten', async () => {
    const { context, page, problems } = await openConfig('global/flags');
    const twin = await s.h.twin();
    try {
      await page.getByRole('button', { name: 'Edit' }).click();
      await poll(() => page.locator('.cm-content').textContent()).toContain('"beta": false');
      // Another service on the same PostgreSQL (a second replica) writes v2 meanwhile.
      await twin.service.set(ROOT, { ref: 'global/flags', config: { beta: false, gamma: true } }, { emergency: true });
      await page.locator('.cm-content').click();
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText('{ "config": { "beta": true } }');
      await page.getByRole('button', { name: 'Save' }).click();
      await poll(() => page.locator('#conflict-diff-right-title').textContent()).toBe('Current head: version 2');
      expect(await page.locator('#conflict-diff-right').textContent()).toContain('"gamma": true');
      expect(await page.locator('#conflict-diff-left').textContent()).toContain('"beta": true');
      expect(await head('global/flags')).toMatchObject({ version: 2, config: { beta: false, gamma: true } });
      // Discarding loads the head into the editor; still nothing written.
      await page.getByRole('button', { name: 'Discard my edits, load version 2' }).click();
      await poll(() => page.locator('.cm-content').textContent()).toContain('"gamma": true');
      expect(await page.locator('#edit-title').textContent()).toContain('based on version 2');
      expect((await head('global/flags')).version).toBe(2);

      // A rollback that touches the guarded environments: the dialog offers a change request.
      await page.getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: 'Roll back to v1' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Roll back to v1' }).click();
      const dialog = page.getByRole('dialog', { name: 'Approval required' });
      await poll(() => dialog.textContent()).toContain('production, production-eu');
      expect(await axeViolations(page)).toEqual([]);
      await dialog.getByRole('button', { name: 'Create change request' }).click();
      await poll(() => page.locator('#config-status').textContent()).toMatch(/^Change request \S+ created/);
      const id = /^Change request (\S+) created/.exec((await page.locator('#config-status').textContent()) ?? '')?.[1];
      expect(await s.h.service.getRequest(ROOT, id ?? '')).toMatchObject({
        kind: 'rollback',
        status: 'pending',
        baseVersion: 2,
      });
      expect((await head('global/flags')).version).toBe(2);
      expect(problems).toEqual([]);
    } finally {
      await twin.close();
      await context.close();
    }
  });
});
