/**
 * The console's config pages in a real browser (Debian's Chromium through playwright-core) against
 * real config servers on 127.0.0.1 (memory stores, real API tokens): the resolved value per
 * environment with explain, the side-by-side diff of two versions, rollback behind a confirmation
 * dialog, editing with schema validation as you type (CodeMirror, loaded lazily), a save to a
 * guarded environment turned into a change request, a lost compare-and-set showing both versions,
 * and an axe-core scan of each view. Every outcome is checked through the API as well.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GUARDED_ENVIRONMENTS, type ServerHarness, serverHarness } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, listen, openPage, signIn } from './browser.js';

// A real browser on a machine shared with every other suite: generous time per test and hook.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const ROOT = { id: 'root', roles: ['superuser'] };
/** Waits for a condition of the page: generous, as the machine's two cores are shared. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });
const SVC_SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
  required: ['name', 'port'],
  additionalProperties: false,
};

let open: ServerHarness;
let guarded: ServerHarness;
let browser: Browser;
let base: string;
let guardedBase: string;
let token: string;
let assetsDir: string;
let rig: ConsoleRig | undefined;

beforeAll(async () => {
  rig = await consoleRig();
  ({ assetsDir, browser } = rig);
  token = rig.rootToken;
  const options = rig.serverOptions;
  open = await serverHarness('memory', options);
  guarded = await serverHarness('memory', options, GUARDED_ENVIRONMENTS);
  const set = (s: ServerHarness, input: Record<string, unknown>, emergency = false) =>
    s.h.service.set(ROOT, input as never, { emergency });
  await set(open, { ref: 'global/db', config: { host: 'db.internal', pool: 5 }, message: 'first' });
  await set(open, {
    ref: 'global/db',
    config: { host: 'db.internal', pool: 20 },
    overrides: { staging: { pool: 25 } },
    message: 'bigger pool',
  });
  await set(open, { ref: 'app:web/db', config: { timeoutMs: 500 } });
  for (const n of [1, 2, 3]) await set(open, { ref: 'global/rb', config: { n }, message: `n=${n}` });
  await open.h.service.registerSchema(ROOT, 'svc', SVC_SCHEMA);
  await set(open, { ref: 'global/svc', config: { name: 'api', port: 8080 } });
  await set(open, { ref: 'global/race', config: { a: 1 } });
  await set(guarded, { ref: 'global/pay', config: { limit: 1 } }, true);
  await set(open, { ref: 'global/old', config: { legacy: true } });
  await set(guarded, { ref: 'global/old-pay', config: { legacy: true } }, true);
  base = await listen(open.app);
  guardedBase = await listen(guarded.app);
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await open?.close();
  await guarded?.close();
});

/** A call to the API with the real token (not through the page). */
async function call<T>(url: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
  });
  return { status: res.status, body: (await res.json()) as T };
}

const head = async (url: string, ref: string) =>
  (await call<{ version: number; config: Record<string, unknown> }>(url, `/api/v1/configs/${ref}`)).body;

/** Signs in and opens the page of `ref`. */
async function openConfig(ref: string, url = base) {
  const opened = await openPage(browser);
  await opened.page.goto(`${url}/ui/`);
  await signIn(opened.page, token);
  await poll(() => opened.page.getByText('Signed in as').count()).toBe(1);
  await opened.page.goto(`${url}/ui/configs/${ref}`);
  await poll(() => opened.page.getByRole('heading', { level: 1 }).textContent()).toBe(ref);
  return opened;
}

/** Replaces the editor's whole text (CodeMirror: select all, then one input). */
async function replaceText(page: Page, text: string) {
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
}

const activeText = (page: Page) => page.evaluate<string>('document.activeElement?.textContent ?? ""');

describe('the config pages in Chromium', () => {
  it('shows the resolved value per environment, with the layer that set each leaf', async () => {
    const { context, page, problems } = await openConfig('app:web/db');
    try {
      await poll(() => page.locator('#resolved-summary').textContent()).toContain('in development');
      await page.getByLabel('Environment').selectOption('staging');
      await poll(() => page.locator('#resolved-summary').textContent()).toContain('in staging');
      const value = JSON.parse((await page.locator('#resolved-value').textContent()) ?? '') as unknown;
      expect(value).toEqual({ host: 'db.internal', pool: 25, timeoutMs: 500 });
      const leaf = (p: string) => page.locator(`#explain li[data-pointer="${p}"]`).textContent();
      expect(await leaf('/pool')).toMatch(/= 25 set by override · global · environment staging · v2/);
      expect(await leaf('/host')).toMatch(/set by global · v2/);
      expect(await leaf('/timeoutMs')).toMatch(/set by app · app:web · v1/);
      expect(await page.getByLabel('App', { exact: true }).isDisabled()).toBe(true);
      expect(await axeViolations(page)).toEqual([]);

      // A global ref: the app is picked among the app scopes.
      await page.goto(`${base}/ui/configs/global/db`);
      await poll(() => page.locator('#resolved-summary').textContent()).toContain('for app web in development');
      expect(await page.getByLabel('App', { exact: true }).locator('option').allTextContents()).toEqual(['web']);
      expect(await page.locator('#resolved-value').textContent()).toContain('"pool": 20');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('compares two versions side by side, the changed paths marked by sign and word', async () => {
    const { context, page, problems } = await openConfig('global/db');
    try {
      await page.getByLabel('From version').selectOption('1');
      await page.getByLabel('To version').selectOption('2');
      await page.getByRole('button', { name: 'Compare' }).click();
      const changes = page.getByRole('list', { name: 'Changed paths' });
      await poll(() => changes.textContent()).toContain('/config/pool');
      expect((await changes.locator('li').allTextContents()).sort()).toEqual([
        '+ added /overrides/staging',
        '~ changed /config/pool',
      ]);
      const line = (side: string, p: string) => page.locator(`#version-diff-${side} [data-pointer="${p}"]`).first();
      expect(await line('left', '/config/pool').textContent()).toBe('~changed:     "pool": 5\n');
      expect(await line('right', '/config/pool').textContent()).toBe('~changed:     "pool": 20\n');
      expect(await line('right', '/overrides/staging/pool').textContent()).toContain('+added:');
      expect(await line('left', '/config/host').textContent()).not.toMatch(/changed|added|removed/);
      expect(await page.locator('#version-diff-left').textContent()).toContain('"overrides": {}');
      expect(await axeViolations(page)).toEqual([]);

      // The diff is in the URL: a reload (or a shared link) shows it again; so is the editor.
      expect(page.url()).toBe(`${base}/ui/configs/global/db?from=1&to=2`);
      await page.reload();
      await poll(() => changes.locator('li').count()).toBe(2);
      expect(await page.locator('#version-diff-right-title').textContent()).toBe('Version 2');
      await page.goto(`${base}/ui/configs/global/db?edit`);
      await poll(() => page.locator('.cm-content').textContent()).toContain('"pool": 20');
      await page.getByRole('button', { name: 'Cancel' }).click();
      await poll(() => page.url()).toBe(`${base}/ui/configs/global/db`);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('rolls back behind a confirmation dialog: Escape and Cancel change nothing, confirming writes', async () => {
    const { context, page, problems } = await openConfig('global/rb');
    try {
      const opener = page.getByRole('button', { name: 'Roll back to v1' });
      await opener.click();
      const dialog = page.getByRole('dialog', { name: 'Roll back to version 1?' });
      await poll(() => dialog.isVisible()).toBe(true);
      expect(await dialog.textContent()).toContain('This writes version 4 of global/rb with the content of version 1');
      // Focus starts on Cancel and stays in the dialog (Tab and Shift+Tab wrap).
      await poll(() => activeText(page)).toBe('Cancel');
      await page.keyboard.press('Tab');
      expect(await activeText(page)).toBe('Roll back to v1');
      await page.keyboard.press('Tab');
      expect(await activeText(page)).toBe('Cancel');
      await page.keyboard.press('Shift+Tab');
      expect(await activeText(page)).toBe('Roll back to v1');
      expect(await axeViolations(page)).toEqual([]);
      // Escape cancels; focus returns to the button that opened the dialog.
      await page.keyboard.press('Escape');
      await poll(() => dialog.count()).toBe(0);
      expect(await activeText(page)).toBe('Roll back to v1');
      expect((await head(base, 'global/rb')).version).toBe(3);
      // Cancel changes nothing either.
      await page.keyboard.press('Enter');
      await poll(() => dialog.isVisible()).toBe(true);
      await page.getByRole('button', { name: 'Cancel' }).click();
      await poll(() => dialog.count()).toBe(0);
      expect((await head(base, 'global/rb')).version).toBe(3);
      // Confirmed: a new version with the content of v1 (If-Match of the head, v3).
      await opener.click();
      await dialog.getByRole('button', { name: 'Roll back to v1' }).click();
      await poll(() => page.locator('#config-status').textContent()).toBe(
        'Rolled back: version 4 has the content of version 1.',
      );
      expect(await head(base, 'global/rb')).toMatchObject({ version: 4, config: { n: 1 } });
      await poll(() => page.locator('#raw').textContent()).toContain('"n": 1');
      expect(await page.getByRole('row').count()).toBe(5); // the header and four versions
      // The resolved value follows, in the environment picked before.
      await page.getByLabel('Environment').selectOption('staging');
      await poll(() => page.locator('#resolved-value').textContent()).toContain('"n": 1');

      // The rollback's own metadata (rollbackOf) is the service's: the editor leaves it out, so a
      // save after a rollback is accepted.
      await page.getByRole('button', { name: 'Edit' }).click();
      await poll(() => page.locator('.cm-content').textContent()).toContain('"n": 1');
      expect(await page.locator('.cm-content').textContent()).not.toContain('rollbackOf');
      await replaceText(page, '{ "config": { "n": 7 } }');
      await page.getByRole('button', { name: 'Save' }).click();
      await poll(() => page.locator('#config-status').textContent()).toBe('Saved as version 5.');
      expect(await head(base, 'global/rb')).toMatchObject({ version: 5, config: { n: 7 } });
      await poll(() => page.locator('#resolved-summary').textContent()).toContain('in staging');
      await poll(() => page.locator('#resolved-value').textContent()).toContain('"n": 7');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('validates against the schema as you type, then saves with If-Match; CodeMirror loads lazily', async () => {
    const { context, page, problems } = await openConfig('global/svc');
    try {
      const scripts: string[] = [];
      page.on('response', (r) => {
        if (r.request().resourceType() === 'script') scripts.push(new URL(r.url()).pathname);
      });
      expect(await page.locator('.cm-content').count()).toBe(0);
      // By keyboard: Enter on Edit, focus moves to the editor's heading; Tab enters the editor and
      // Tab leaves it (no keyboard trap), its focus visible.
      await page.getByRole('button', { name: 'Edit' }).focus();
      await page.keyboard.press('Enter');
      await poll(() => page.locator('.cm-content').count()).toBe(1);
      expect(scripts.some((s) => /\/assets\/codemirror-[\w-]+\.js$/.test(s))).toBe(true);
      await poll(() => page.evaluate<string>('document.activeElement.id')).toBe('edit-title');
      const inEditor = `(() => { const a = document.activeElement.shadowRoot?.activeElement;
        return a ? { cls: a.className, described: (a.ariaDescribedByElements ?? []).map((e) => e.id),
          outline: getComputedStyle(a.closest('.cm-editor')).outlineStyle } : null; })()`;
      await page.keyboard.press('Tab');
      await poll(() => page.evaluate(inEditor)).toEqual({
        cls: expect.stringContaining('cm-content'),
        described: ['editor-help', 'editor-issues'],
        outline: 'solid',
      });
      await page.keyboard.press('Tab');
      expect(await page.evaluate<string>('document.activeElement.id')).toBe('edit-message');
      const issues = page.locator('#editor-issues');
      await poll(() => issues.textContent()).toBe('✔ Valid against schema svc v1.');
      expect(await page.locator('.cm-content').getAttribute('aria-label')).toBe('Document of global/svc (JSON)');

      await replaceText(page, '{\n  "config": { "name": "api", "port": 0, "extra": true }\n}\n');
      await poll(() => issues.textContent()).toContain('2 schema issues');
      const items = await issues.locator('li').allTextContents();
      expect(items).toContain('/port must be >= 1 (in base, development, staging)');
      expect(items).toContain('/extra must not have additional property "extra" (in base, development, staging)');
      const save = page.getByRole('button', { name: 'Save' });
      expect(await save.isDisabled()).toBe(true);
      expect(await axeViolations(page)).toEqual([]);

      // Typed key by key: invalid JSON on the way, then valid.
      await page.keyboard.press('Control+A');
      await page.keyboard.type('{"config": {"name": "api", "port": 8081');
      await poll(() => issues.textContent()).toContain('Invalid: not valid JSON');
      await page.keyboard.type('}}');
      await poll(() => issues.textContent()).toBe('✔ Valid against schema svc v1.');
      await page.getByLabel('Change message').fill('port 8081');
      await save.click();
      await poll(() => page.locator('#config-status').textContent()).toBe('Saved as version 2.');
      await poll(() => activeText(page)).toBe('Edit');
      expect(await head(base, 'global/svc')).toMatchObject({ version: 2, config: { name: 'api', port: 8081 } });
      const versions = await call<{ items: Array<{ version: number; message?: string }> }>(
        base,
        '/api/v1/versions/global/svc',
      );
      expect(versions.body.items[0]).toMatchObject({ version: 2, message: 'port 8081' });
      await poll(() => page.locator('#raw').textContent()).toContain('"port": 8081');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('offers a change request when the save touches a guarded environment', async () => {
    const { context, page, problems } = await openConfig('global/pay', guardedBase);
    try {
      // No app scope exists on this server: the app to resolve for is typed.
      const appName = page.getByLabel('App', { exact: true });
      await poll(() => page.locator('#resolved-app-help').textContent()).toContain('type the name of the app');
      await appName.fill('billing');
      await appName.press('Enter');
      await poll(() => page.locator('#resolved-summary').textContent()).toContain('for app billing in development');
      expect(await page.locator('#resolved-value').textContent()).toContain('"limit": 1');
      await page.getByRole('button', { name: 'Edit' }).click();
      await poll(() => page.locator('.cm-content').count()).toBe(1);
      await replaceText(page, '{ "config": { "limit": 2 }, "overrides": {} }');
      await page.getByLabel('Change message').fill('raise the limit');
      await page.getByRole('button', { name: 'Save' }).click();
      const panel = page.locator('#edit-outcome');
      await poll(() => panel.textContent()).toContain('Approval required');
      expect(await panel.textContent()).toContain('production, production-eu');
      expect(await axeViolations(page)).toEqual([]);
      await page.getByRole('button', { name: 'Create change request' }).click();
      await poll(() => page.locator('#change-request-id').count()).toBe(1);
      const id = (await page.locator('#change-request-id').textContent()) ?? '';
      const request = await call<Record<string, unknown>>(guardedBase, `/api/v1/change-requests/${id}`);
      expect(request.status).toBe(200);
      expect(request.body).toMatchObject({ id, status: 'pending', baseVersion: 1, message: 'raise the limit' });
      expect(JSON.stringify(request.body)).toContain('"limit":2');
      // Nothing was written yet.
      expect(await head(guardedBase, 'global/pay')).toMatchObject({ version: 1, config: { limit: 1 } });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('deletes behind a confirmation (a tombstone, the history kept); a guarded delete becomes a change request', async () => {
    const { context, page, problems } = await openConfig('global/old');
    try {
      await page.getByRole('button', { name: 'Delete' }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete global/old?' });
      await poll(() => dialog.isVisible()).toBe(true);
      expect(await dialog.textContent()).toContain('This writes version 2 of global/old as a tombstone');
      expect(await axeViolations(page)).toEqual([]);
      await page.keyboard.press('Escape');
      await poll(() => dialog.count()).toBe(0);
      expect((await head(base, 'global/old')).version).toBe(1);
      await page.getByRole('button', { name: 'Delete' }).click();
      await dialog.getByRole('button', { name: 'Delete global/old' }).click();
      await poll(() => page.locator('#config-status').textContent()).toBe(
        'Deleted: version 2 is a tombstone; the history stays.',
      );
      // The head is the tombstone; the history keeps both versions, and no second Delete is offered.
      expect(await head(base, 'global/old')).toMatchObject({ version: 2, metadata: { deleted: true } });
      const versions = await call<{ items: Array<{ version: number; deleted: boolean; message: string }> }>(
        base,
        '/api/v1/versions/global/old',
      );
      expect(versions.body.items.map((v) => [v.version, v.deleted])).toEqual([
        [2, true],
        [1, false],
      ]);
      expect(versions.body.items[0]?.message).toBe('deleted from the console');
      await poll(() => page.getByRole('row').count()).toBe(3);
      expect(await page.getByRole('button', { name: 'Delete' }).count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }

    // Guarded: the delete touches production, so the page offers a change request of kind delete.
    const guardedPage = await openConfig('global/old-pay', guardedBase);
    try {
      const { page } = guardedPage;
      await page.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete global/old-pay' }).click();
      const approval = page.getByRole('dialog', { name: 'Approval required' });
      await poll(() => approval.isVisible()).toBe(true);
      expect(await approval.textContent()).toContain('The delete touches guarded environments production');
      await approval.getByRole('button', { name: 'Create change request' }).click();
      await poll(() => page.locator('#config-status').textContent()).toMatch(
        /^Change request \S+ created: the delete awaits approval\.$/,
      );
      const id = ((await page.locator('#config-status').textContent()) ?? '').split(' ')[2] as string;
      const request = await call<Record<string, unknown>>(guardedBase, `/api/v1/change-requests/${id}`);
      expect(request.body).toMatchObject({ id, status: 'pending', kind: 'delete', baseVersion: 1 });
      expect(await head(guardedBase, 'global/old-pay')).toMatchObject({ version: 1, config: { legacy: true } });
      expect(guardedPage.problems).toEqual([]);
    } finally {
      await guardedPage.context.close();
    }
  });

  it('a lost compare-and-set shows both versions, overwrites nothing, and can be rebased', async () => {
    const { context, page, problems } = await openConfig('global/race');
    try {
      await page.getByRole('button', { name: 'Edit' }).click();
      await poll(() => page.locator('.cm-content').count()).toBe(1);
      await poll(() => page.locator('#edit-title').textContent()).toContain('based on version 1');
      // Someone else writes between load and save.
      const other = await call(base, '/api/v1/configs/global/race', {
        method: 'PUT',
        headers: { 'if-match': '"1"' },
        body: JSON.stringify({ config: { a: 2, b: 2 }, message: 'the other writer' }),
      });
      expect(other.status).toBe(200);
      await replaceText(page, '{ "config": { "a": 5 }, "overrides": {} }');
      await page.getByRole('button', { name: 'Save' }).click();
      const conflict = page.locator('#edit-outcome');
      await poll(() => conflict.getByRole('heading', { level: 3 }).first().textContent()).toBe(
        'Not saved: version 2 was written since you loaded version 1',
      );
      expect(await page.locator('#conflict-diff-left-title').textContent()).toBe('Yours (edited from version 1)');
      expect(await page.locator('#conflict-diff-right-title').textContent()).toBe('Current head: version 2');
      expect(await page.locator('#conflict-diff-left').textContent()).toContain('"a": 5');
      expect(await page.locator('#conflict-diff-right').textContent()).toContain('"b": 2');
      expect(await page.locator('#conflict-diff-left [data-pointer="/config/a"]').textContent()).toContain('changed:');
      expect(await page.locator('#conflict-diff-right [data-pointer="/config/b"]').textContent()).toContain('added:');
      expect(await head(base, 'global/race')).toMatchObject({ version: 2, config: { a: 2, b: 2 } });
      expect(await axeViolations(page)).toEqual([]);

      // Rebase: my change (a: 5) applied onto the new head, then saved with If-Match "2".
      await page.getByRole('button', { name: 'Rebase my edits onto version 2' }).click();
      await poll(() => page.locator('#edit-title').textContent()).toContain('based on version 2');
      await poll(() => page.locator('.cm-content').textContent()).toContain('"b": 2');
      expect(await page.locator('.cm-content').textContent()).toContain('"a": 5');
      expect(await page.locator('#edit-outcome').textContent()).toContain('your 1 change applied to it');
      // Both writers changed /config/a: the page says so (yours kept).
      expect(await page.locator('#rebase-both').textContent()).toBe(
        'Changed on both sides (yours is kept, theirs replaced): /config/a',
      );
      await page.getByRole('button', { name: 'Save' }).click();
      await poll(() => page.locator('#config-status').textContent()).toBe('Saved as version 3.');
      expect(await head(base, 'global/race')).toMatchObject({ version: 3, config: { a: 5, b: 2 } });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('keeps CodeMirror out of the first load: its own chunk, fetched only by the editor', async () => {
    const files = readdirSync(join(assetsDir, 'assets'));
    const chunk = files.find((f) => /^codemirror-[\w-]+\.js$/.test(f));
    expect(chunk).toBeDefined();
    const html = readFileSync(join(assetsDir, 'index.html'), 'utf8');
    expect(html).not.toContain('codemirror');
    const entry = /src="\/ui\/assets\/([^"]+\.js)"/.exec(html)?.[1] ?? '';
    const entryCode = readFileSync(join(assetsDir, 'assets', entry));
    expect(entryCode.toString()).not.toContain('EditorView');
    const editorGzip = gzipSync(readFileSync(join(assetsDir, 'assets', chunk ?? ''))).length;
    const entryGzip = gzipSync(entryCode).length;
    console.log(`console: first-load entry ${entryGzip} bytes gzipped; lazy editor chunk ${editorGzip} bytes gzipped`);
    expect(entryGzip).toBeLessThanOrEqual(200 * 1024);

    // In the browser: the sign-in and config pages load no CodeMirror.
    const { context, page } = await openConfig('global/db');
    try {
      const scripts: string[] = [];
      page.on('response', (r) => {
        if (r.request().resourceType() === 'script') scripts.push(r.url());
      });
      await page.reload();
      await poll(() => page.locator('#raw').textContent()).toContain('"pool"');
      expect(scripts.length).toBeGreaterThan(0);
      expect(scripts.filter((s) => s.includes('codemirror'))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
