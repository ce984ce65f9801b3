/**
 * The console's approvals, audit, status, environments and schemas pages in Chromium, over the real
 * PostgreSQL of scripts/services.sh, with guarded environments (`production` needs 2 approvals,
 * `production-eu` 1) and real API tokens for alice (superuser), bob and carol (approvers). Alice
 * proposes a production change through the API; bob, in his own browser context, sees it in the
 * inbox with its diff and the approvals it needs, and approves with a comment; alice is told she
 * cannot approve her own request; carol approves with the keyboard alone; bob applies it; the
 * audit page shows the approvals and the apply (filtered by ref and time); a row altered in the
 * audit table is shown as the first broken row. The status page shows the store's tier and follows
 * the watch stream. axe-core finds no serious or critical violation on any of these pages.
 */
import { createRbac } from '@summit-config/core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMemoryTokenStore, createTokenAuthenticator } from '../../src/index.js';
import { GUARDED_ENVIRONMENTS, SERVER_RBAC, type ServerHarness, serverHarness } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, listen, openPage, signIn } from './browser.js';

// Chromium shares the machine's cores with the other suites: let a page take a few seconds.
// A real browser on a machine shared with every other suite: generous time per test and hook.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000, expect: { poll: { timeout: 5000 } } });

let s: ServerHarness;
let browser: Browser;
let base: string;
let assetsDir: string;
let rig: ConsoleRig | undefined;
const token: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };
let requestId = '';

/** A call to the API with a person's bearer token; fails on an error status. */
async function call<T = Record<string, unknown>>(
  who: keyof typeof token,
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token[who]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Through the API: alice proposes, bob and carol approve, alice applies. */
async function landChange(ref: string, config: Record<string, unknown>): Promise<void> {
  const { id } = await call<{ id: string }>('alice', 'POST', '/api/v1/change-requests', { ref, config });
  await call('bob', 'POST', `/api/v1/change-requests/${id}/approve`, {});
  await call('carol', 'POST', `/api/v1/change-requests/${id}/approve`, {});
  await call('alice', 'POST', `/api/v1/change-requests/${id}/apply`, {});
}

beforeAll(async () => {
  rig = await consoleRig();
  ({ assetsDir, browser } = rig);
  const tokens = createMemoryTokenStore();
  token.alice = (await tokens.create({ name: 'alice', owner: 'alice', roles: ['superuser'] })).token;
  token.bob = (await tokens.create({ name: 'bob', owner: 'bob', roles: ['approver'] })).token;
  token.carol = (await tokens.create({ name: 'carol', owner: 'carol', roles: ['approver'] })).token;
  s = await serverHarness(
    'postgres',
    { authenticators: [createTokenAuthenticator(tokens)], console: { assetsDir }, rbac: createRbac(SERVER_RBAC) },
    GUARDED_ENVIRONMENTS,
  );
  base = await listen(s.app);
  await landChange('global/db', { host: 'db.internal', pool: 20 });
  const proposed = await call<{ id: string }>('alice', 'POST', '/api/v1/change-requests', {
    ref: 'global/db',
    config: { host: 'db.internal', pool: 40, timeoutMs: 500 },
    message: 'bigger pool for production',
  });
  requestId = proposed.id;
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await s?.close();
});

/** A fresh context signed in as `who`, on the configs page. */
async function signedIn(who: keyof typeof token) {
  const opened = await openPage(browser);
  await opened.page.goto(`${base}/ui/`);
  await signIn(opened.page, token[who]);
  await expect.poll(() => opened.page.getByText('Signed in as').textContent()).toContain(who);
  return opened;
}

const text = (page: Page, selector: string) => page.locator(selector).textContent();

/** Presses Tab until the focused element's text or id matches (keyboard only), at most 60 times. */
async function tabTo(page: Page, target: RegExp): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate<string>(
      "(() => { const e = document.activeElement; return e ? (e.id + ' ' + (e.textContent ?? '')).trim() : '' })()",
    );
    if (target.test(focused)) return;
  }
  throw new Error(`Tab never reached ${target}`);
}

describe('the approvals, audit, status, environments and schemas pages in Chromium, over PostgreSQL', () => {
  it('bob sees the request with its diff and the approvals it needs, and approves with a comment', async () => {
    const { context, page, problems } = await signedIn('bob');
    try {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Approvals' }).click();
      await page.waitForURL(`${base}/ui/approvals`);
      await expect.poll(() => page.title()).toBe('Approvals · Summit Config');
      const link = page.getByRole('link', { name: 'set global/db' });
      await expect.poll(() => link.count()).toBe(1);
      expect(await page.getByRole('row', { name: /set global\/db/ }).textContent()).toContain('0 of 2');
      expect(await axeViolations(page)).toEqual([]);

      await link.click();
      await page.waitForURL(`${base}/ui/approvals/${requestId}`);
      await expect
        .poll(() => page.getByRole('heading', { level: 1 }).textContent())
        .toBe('Change request: set global/db');
      // The diff against the base version (v1): changed and added paths, each said in words.
      await expect.poll(() => page.getByRole('row', { name: /config\.pool/ }).count()).toBe(1);
      const pool = await page
        .getByRole('row', { name: /config\.pool/ })
        .locator('td')
        .allTextContents();
      expect(pool.map((t) => t.trim())).toEqual(['20', '40', '~ changed']);
      const added = await page
        .getByRole('row', { name: /config\.timeoutMs/ })
        .locator('td')
        .allTextContents();
      expect(added.map((t) => t.trim())).toEqual(['(absent)', '500', '+ added']);
      expect(await page.getByRole('columnheader', { name: 'Base v1' }).count()).toBe(1);
      // config.host did not change: hidden until asked for.
      expect(await page.getByRole('row', { name: /config\.host/ }).count()).toBe(0);
      await page.getByRole('button', { name: 'Show unchanged paths' }).click();
      expect(await page.getByRole('row', { name: /config\.host/ }).textContent()).toContain('unchanged');
      // The metadata the service stamped on v1 (its approvers) is not part of the diff.
      expect(await page.getByRole('row', { name: /metadata/ }).count()).toBe(0);
      // The approvals it needs.
      expect(await page.getByRole('row', { name: /^production / }).textContent()).toContain('0 of 2 ✗ not met');
      expect(await page.getByRole('row', { name: /^production-eu/ }).textContent()).toContain('0 of 1 ✗ not met');
      expect(await text(page, '#request-status')).toBe('pending');
      expect(await axeViolations(page)).toEqual([]);

      // Alice watches the audit trail of global/db (bob, an approver, may not read it).
      const auditor = await signedIn('alice');
      await auditor.page.goto(`${base}/ui/audit`);
      await auditor.page.getByLabel('Ref').fill('global/db');
      const bobsApproval = auditor.page.locator('#audit-events tbody tr', { hasText: 'request.approve' }).filter({
        hasText: 'bob',
      });

      await page.getByLabel(/^Comment/).fill('pool 40 is fine for the new nodes');
      const clicked = Date.now();
      await page.getByRole('button', { name: 'Approve' }).click();
      // The time from the approval click to the approval in the audit page (refiltering until it shows).
      await expect
        .poll(async () => {
          await auditor.page.getByRole('button', { name: 'Filter' }).click();
          return bobsApproval.count();
        })
        .toBe(2); // the seed's approval, and this one
      console.log(`console: approval click to the audit page ${Date.now() - clicked} ms`);
      await auditor.context.close();
      await expect.poll(() => page.getByRole('status').textContent()).toBe('Approved. The request is pending.');
      expect(await text(page, '#decisions')).toContain('✓ Approved by bob');
      expect(await text(page, '#decisions')).toContain('“pool 40 is fine for the new nodes”');
      expect(await page.getByRole('row', { name: /^production / }).textContent()).toContain('1 of 2 ✗ not met');
      expect(await page.getByRole('row', { name: /^production-eu/ }).textContent()).toContain('1 of 1 ✓ met');
      expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
      expect(await page.getByText('You have already approved this request.').count()).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('alice is told she cannot approve her own request, and may withdraw one', async () => {
    const { context, page, problems } = await signedIn('alice');
    try {
      await page.goto(`${base}/ui/approvals/${requestId}`);
      await expect
        .poll(() => text(page, '#own-request'))
        .toContain('You requested this change, so you cannot approve it');
      expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
      expect(await page.title()).toBe(`Change request ${requestId} · Summit Config`);
      // The server says the same (the page does not offer what the server would refuse).
      await expect(call('alice', 'POST', `/api/v1/change-requests/${requestId}/approve`, {})).rejects.toThrow(/40\d/);

      // She may withdraw one of her requests, behind a confirmation.
      const { id } = await call<{ id: string }>('alice', 'POST', '/api/v1/change-requests', {
        ref: 'global/withdrawn',
        config: { on: true },
      });
      await page.goto(`${base}/ui/approvals/${id}`);
      await page.getByLabel('Reason for withdrawing (optional)').fill('proposed by mistake');
      await page.getByRole('button', { name: 'Withdraw request' }).click();
      const dialog = page.getByRole('dialog', { name: 'Withdraw this change request?' });
      await expect.poll(() => dialog.count()).toBe(1);
      expect(await axeViolations(page)).toEqual([]);
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await expect.poll(() => dialog.count()).toBe(0);
      expect(await text(page, '#request-status')).toBe('pending');
      await page.getByRole('button', { name: 'Withdraw request' }).click();
      await dialog.getByRole('button', { name: 'Withdraw' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toBe('Withdrawn.');
      expect(await text(page, '#request-status')).toBe('cancelled');
      expect(await page.getByText('proposed by mistake (alice)').count()).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('carol signs in, reaches the inbox and approves with the keyboard alone; bob applies', async () => {
    const { context, page, problems } = await openPage(browser);
    try {
      await page.goto(`${base}/ui/`);
      // Focus starts in the sign-in form.
      await expect.poll(() => page.evaluate<string>('document.activeElement.id')).toBe('token');
      await page.keyboard.type(token.carol);
      await page.keyboard.press('Enter');
      await expect.poll(() => page.getByText('Signed in as').textContent()).toContain('carol');
      await tabTo(page, /^Approvals$/);
      // Visible focus: the focused link has an outline.
      expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).toBe('solid');
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/ui/approvals`);
      await expect.poll(() => page.getByRole('link', { name: 'set global/db' }).count()).toBe(1);
      await tabTo(page, /^set global\/db$/);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/ui/approvals/${requestId}`);
      await expect.poll(() => page.getByRole('button', { name: 'Approve' }).count()).toBe(1);
      await tabTo(page, /^decision-comment/);
      await page.keyboard.type('checked the capacity plan');
      await tabTo(page, /^Approve$/);
      expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).toBe('solid');
      await page.keyboard.press('Enter');
      await expect.poll(() => text(page, '#request-status')).toBe('approved');
      expect(await text(page, '#decisions')).toContain('“checked the capacity plan”');
      expect(await page.getByRole('row', { name: /^production / }).textContent()).toContain('2 of 2 ✓ met');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }

    const bob = await signedIn('bob');
    try {
      await bob.page.goto(`${base}/ui/approvals`);
      await expect
        .poll(() => bob.page.getByRole('row', { name: /set global\/db/ }).textContent())
        .toContain('approved');
      await bob.page.getByRole('link', { name: 'set global/db' }).click();
      await bob.page.getByRole('button', { name: 'Apply' }).click();
      await expect.poll(() => bob.page.getByRole('status').textContent()).toBe('Applied as v2.');
      expect(await text(bob.page, '#request-status')).toBe('applied');
      const head = await call<{ version: number; config: unknown }>('alice', 'GET', '/api/v1/configs/global/db');
      expect(head).toMatchObject({ version: 2, config: { host: 'db.internal', pool: 40, timeoutMs: 500 } });
      // Nothing is waiting any more.
      await bob.page.goto(`${base}/ui/approvals`);
      await expect.poll(() => bob.page.locator('#approvals-empty').count()).toBe(1);
      expect(bob.problems).toEqual([]);
    } finally {
      await bob.context.close();
    }
  });

  it('rejects with a reason; a decision the server refuses is shown with its message', async () => {
    const propose = async (ref: string, extra: object = {}) =>
      (
        await call<{ id: string }>('alice', 'POST', '/api/v1/change-requests', {
          ref,
          config: { beta: true },
          ...extra,
        })
      ).id;
    const first = await propose('global/flags', { metadata: { ticket: 'OPS-1' } });
    const second = await propose('global/search');
    const { context, page, problems } = await signedIn('bob');
    try {
      await page.goto(`${base}/ui/approvals/${first}`);
      // A new ref: everything is added, against nothing.
      await expect.poll(() => page.getByRole('columnheader', { name: 'Before (none)' }).count()).toBe(1);
      expect(await page.getByRole('row', { name: /config\.beta/ }).textContent()).toContain('+ added');
      expect(await text(page, '#proposed-metadata')).toContain('"ticket": "OPS-1"');
      await page.getByRole('button', { name: 'Reject' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toBe('Give a reason to reject (in the comment).');
      await page.getByLabel(/^Comment/).fill('not this week');
      await page.getByRole('button', { name: 'Reject' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toBe('Rejected.');
      expect(await text(page, '#request-status')).toBe('rejected');
      expect(await text(page, '#decisions')).toContain('✗ Rejected by bob');
      expect(await page.getByText('This request is rejected: nothing more can be decided.').count()).toBe(1);

      // Carol rejects the second request while bob has it open: his approval is refused by the server.
      await page.goto(`${base}/ui/approvals/${second}`);
      await expect.poll(() => page.getByRole('button', { name: 'Approve' }).count()).toBe(1);
      await call('carol', 'POST', `/api/v1/change-requests/${second}/reject`, { reason: 'duplicate' });
      await page.getByRole('button', { name: 'Approve' }).click();
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toMatch(new RegExp(`change request ${second} is rejected: only pending requests`));
      expect(await axeViolations(page)).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('the audit page shows the approvals and the apply, filtered by ref and time; the trail verifies', async () => {
    // More events than a page holds (50).
    for (let i = 0; i < 10; i++) await landChange(`global/bulk-${i}`, { n: i });
    const { context, page, problems } = await signedIn('alice');
    try {
      await page.getByRole('link', { name: 'Audit' }).click();
      await page.waitForURL(`${base}/ui/audit`);
      await expect.poll(() => page.title()).toBe('Audit · Summit Config');
      // Unfiltered, a page at a time (afterSeq, limit), oldest first.
      await expect.poll(() => text(page, '#audit-count')).toBe('50 events (more below)');
      await page.getByRole('button', { name: 'Load more' }).click();
      await expect.poll(() => page.locator('#audit-events tbody tr').count()).toBeGreaterThan(50);
      const seqs = (await page.locator('#audit-events tbody tr td:first-child').allTextContents()).map(Number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      await expect.poll(() => text(page, '#verify-status')).toMatch(/✓ Verified: \d+ events/);
      await page.getByLabel('Ref').fill('global/db');
      await page.getByRole('button', { name: 'Filter' }).click();
      await expect.poll(() => page.locator('#audit-events tbody tr').count()).toBeGreaterThan(0);
      const rows = await page.locator('#audit-events tbody tr').allTextContents();
      expect(rows.every((r) => r.includes('global/db'))).toBe(true);
      const of = (action: string, actor: string) => rows.filter((r) => r.includes(action) && r.includes(actor));
      expect(of('request.approve', 'bob').length).toBe(2); // the seed's and this request's
      expect(of('request.approve', 'carol').length).toBe(2);
      expect(of('request.apply', 'bob')).toHaveLength(1);
      expect(of('request.apply', 'bob')[0]).toContain('bigger pool for production');
      expect(await axeViolations(page)).toEqual([]);

      // The service's events carry the test clock's time (2030-01-01).
      await page.getByLabel('Until (local time)').fill('2029-12-31T00:00:00');
      await page.getByRole('button', { name: 'Filter' }).click();
      // Only the store's own rows of its two versions, stamped with the real time (not the test clock).
      await expect.poll(() => text(page, '#audit-count')).toBe('2 events');
      const early = await page.locator('#audit-events tbody tr td:nth-child(4)').allTextContents();
      expect(early).toEqual(['append', 'append']);
      await page.getByLabel('Until (local time)').fill('');
      await page.getByLabel('From (local time)').fill('2029-12-31T00:00:00');
      await page.getByLabel('Actor').fill('carol');
      await page.getByRole('button', { name: 'Filter' }).click();
      await expect.poll(() => text(page, '#audit-count')).toBe('2 events');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('the status page shows the store tier and follows the watch stream', async () => {
    const { context, page, problems } = await signedIn('alice');
    try {
      await page.getByRole('link', { name: 'Status' }).click();
      await page.waitForURL(`${base}/ui/status`);
      await expect.poll(() => page.title()).toBe('Status · Summit Config');
      await expect.poll(() => text(page, '#status-serving')).toBe(s.h.store.name);
      const tier = page.locator('#tiers tbody tr');
      expect(await tier.count()).toBe(1);
      expect(await tier.textContent()).toContain(`${s.h.store.name} (serving)`);
      expect(await tier.textContent()).toContain('closed');
      expect(await tier.textContent()).toContain('✓ healthy');
      // This server has no drift option.
      expect(await text(page, '#drift-none')).toBe('Drift detection is not available on this server.');
      await expect.poll(() => text(page, '#status-updated')).toMatch(/^Updated at /);
      await expect.poll(() => text(page, '#status-live')).toBe('connected');
      expect(await axeViolations(page)).toEqual([]);

      // A change arrives on the watch stream: the page names it and refreshes.
      await landChange('global/cache', { ttl: 60 });
      await expect.poll(() => text(page, '#status-last-change'), { timeout: 10_000 }).toBe('global/cache v1');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('lists the environments with their policies, and the schemas with each version’s JSON', async () => {
    await call('alice', 'PUT', '/api/v1/schemas/limits', { schema: { type: 'object' } });
    await call('alice', 'PUT', '/api/v1/schemas/limits', {
      schema: { type: 'object', properties: { rps: { type: 'integer' } } },
    });
    const { context, page, problems } = await signedIn('alice');
    try {
      await page.getByRole('link', { name: 'Environments' }).click();
      await expect.poll(() => page.title()).toBe('Environments · Summit Config');
      await expect.poll(() => page.locator('#environments tbody tr').count()).toBe(GUARDED_ENVIRONMENTS.length);
      const eu = await page
        .getByRole('row', { name: /^production-eu/ })
        .locator('td')
        .allTextContents();
      expect(eu.slice(0, 3)).toEqual(['production', 'yes', '1']);
      expect(await page.getByRole('row', { name: /^staging/ }).textContent()).toContain('none (not guarded)');
      expect(await axeViolations(page)).toEqual([]);

      await page.getByRole('link', { name: 'Schemas' }).click();
      await expect.poll(() => page.title()).toBe('Schemas · Summit Config');
      await expect.poll(() => page.getByRole('row', { name: /^limits/ }).textContent()).toContain('v2');
      await page.getByRole('button', { name: 'Show latest of limits' }).click();
      await expect.poll(() => text(page, '#schema-json')).toContain('"rps"');
      await page.getByLabel('Version of limits to show').selectOption('1');
      await expect.poll(() => page.getByRole('heading', { level: 2, name: 'limits v1' }).count()).toBe(1);
      await expect.poll(() => text(page, '#schema-json')).toBe(JSON.stringify({ type: 'object' }, null, 2));
      expect(await axeViolations(page)).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('an audit row altered in PostgreSQL is shown as the first broken row, with its seq', async () => {
    const [row] = await s.h.sql<{ seq: string }>(
      `SELECT seq FROM "${s.h.schema}".config_audit WHERE action = 'request.apply' ORDER BY seq LIMIT 1`,
    );
    const seq = Number(row?.seq);
    expect(seq).toBeGreaterThan(0);
    // The table is append-only by a trigger: someone with the rights disables it first.
    const t = `"${s.h.schema}".config_audit`;
    await s.h.sql(`ALTER TABLE ${t} DISABLE TRIGGER config_audit_append_only`);
    await s.h.sql(`UPDATE ${t} SET message = 'nothing to see here' WHERE seq = $1`, [seq]);
    await s.h.sql(`ALTER TABLE ${t} ENABLE TRIGGER config_audit_append_only`);

    const { context, page, problems } = await signedIn('alice');
    try {
      await page.goto(`${base}/ui/audit`);
      await expect.poll(() => text(page, '#verify-status')).toContain('✗ Broken');
      expect(await text(page, '#first-broken')).toBe(String(seq));
      expect(await text(page, '#verify-status')).toContain('AUDIT_CHAIN_BROKEN');
      // The row itself is marked, in words as well as colour.
      const broken = page.locator('#audit-events tbody tr', { hasText: 'nothing to see here' });
      expect(await broken.textContent()).toContain('✗ AUDIT_CHAIN_BROKEN');
      expect(await axeViolations(page)).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
