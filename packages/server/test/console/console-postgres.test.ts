/**
 * The web console in Chromium over PostgreSQL: the config service on the real PostgreSQL of
 * scripts/services.sh, API tokens and console sessions in PostgreSQL too (`createSqlTokenStore`,
 * `createSqlSessionStore`), as replicas would run. Sign in by pasting a token, list, open a config,
 * sign out (the session row is gone and the cookie refused); a page on another site cannot use the
 * session (SameSite=Strict: its form POST arrives without the cookie); a reader signs in and
 * filters; the pages pass axe-core.
 */

import { createServer, type Server } from 'node:http';
import { sqlFromPgPool } from '@summit-config/secrets';
import { adminQuery, freshSchema, pgPool, q, schemasToDrop } from '@summit-config/test-support/sql';
import type pg from 'pg';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSqlTokenStore, createTokenAuthenticator, type TokenStore } from '../../src/index.js';
import { createSqlSessionStore } from '../../src/sessions-sql.js';
import { type ServerHarness, serverHarness } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, listen, openPage, signIn } from './browser.js';

// A real browser on a machine shared with every other suite: generous time per test and hook.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const schemas = schemasToDrop();
let pool: pg.Pool;
let s: ServerHarness;
let browser: Browser;
let base: string;
let tokens: TokenStore;
let assetsDir: string;
let rig: ConsoleRig | undefined;
let schema: string;
let attacker: Server | undefined;

const ROOT = { id: 'root', roles: ['superuser'] };

beforeAll(async () => {
  rig = await consoleRig();
  ({ assetsDir, browser } = rig);
  schema = freshSchema('console');
  schemas.push(schema);
  pool = pgPool(4);
  const sql = sqlFromPgPool(pool);
  tokens = createSqlTokenStore({ sql, schema });
  s = await serverHarness('postgres', {
    authenticators: [createTokenAuthenticator(tokens)],
    console: { assetsDir, sessions: createSqlSessionStore({ sql, schema }) },
  });
  await s.h.service.set(ROOT, { ref: 'global/db', config: { host: 'db.internal', pool: 5 }, message: 'first' });
  await s.h.service.set(ROOT, { ref: 'global/db', config: { host: 'db.internal', pool: 20 }, message: 'bigger' });
  await s.h.service.set(ROOT, { ref: 'app:web/feature/flags', config: { beta: false } });
  await s.h.service.set(ROOT, { ref: 'app:api/limits', config: { rps: 100 } });
  base = await listen(s.app);
}, 180_000);

afterAll(async () => {
  await rig?.close();
  await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
  await s?.close();
  await pool?.end();
});

const sessionRows = async () => adminQuery(`SELECT id_hash FROM ${q(schema)}.server_sessions`);

describe('the web console in Chromium, over PostgreSQL', () => {
  it('signs in, lists, opens a config and signs out: the session lives and ends in PostgreSQL', async () => {
    const { token } = await tokens.create({ name: 'console', owner: 'root', roles: ['superuser'] });
    const { context, page, problems } = await openPage(browser);
    try {
      await page.goto(`${base}/ui/`);
      await signIn(page, token);
      await expect.poll(() => page.locator('#configs-count').textContent()).toBe('3 of 3 configs');
      expect(await sessionRows()).toHaveLength(1);
      expect(await axeViolations(page)).toEqual([]);

      await page.getByRole('option', { name: /global\/db/ }).click();
      await expect.poll(() => page.locator('#raw').textContent()).toContain('"pool": 20');
      // The history loads beside the document: wait for it too.
      await expect.poll(() => page.getByRole('cell', { name: 'bigger' }).count()).toBe(1);
      expect(await axeViolations(page)).toEqual([]);

      const [cookie] = await context.cookies();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await expect.poll(() => page.getByLabel('API token').count()).toBe(1);
      expect(await sessionRows()).toEqual([]);
      const replay = await fetch(`${base}/api/v1/configs`, { headers: { cookie: `${cookie?.name}=${cookie?.value}` } });
      expect(replay.status).toBe(401);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a page on another site cannot use the session: its form POST arrives without the cookie', async () => {
    const { token } = await tokens.create({ name: 'victim', owner: 'root', roles: ['superuser'] });
    // The attacker's page, on http://localhost:<port> (another site than 127.0.0.1).
    const target = `${base}/api/v1/rollbacks/global/db`;
    attacker = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(
        `<!doctype html><html lang="en"><title>win a prize</title><form method="post" action="${target}">` +
          '<input type="hidden" name="version" value="1"><button>Claim</button></form></html>',
      );
    });
    await new Promise<void>((resolve) => attacker?.listen(0, '127.0.0.1', () => resolve()));
    const port = (attacker.address() as { port: number }).port;

    const { context, page } = await openPage(browser);
    try {
      await page.goto(`${base}/ui/`);
      await signIn(page, token);
      await expect.poll(() => page.locator('#configs-count').textContent()).toBe('3 of 3 configs');

      const evil = await context.newPage();
      await evil.goto(`http://localhost:${port}/`);
      const [answer] = await Promise.all([
        evil.waitForResponse((r) => r.url() === target),
        evil.getByRole('button', { name: 'Claim' }).click(),
      ]);
      // Without the cookie the API asks for a credential; with it, the missing CSRF token would be 403.
      expect(answer.status()).toBe(401);
      expect((await s.h.service.get(ROOT, 'global/db'))?.version).toBe(2);
      // The session itself is untouched.
      await page.reload();
      await expect.poll(() => page.locator('#configs-count').textContent()).toBe('3 of 3 configs');
    } finally {
      await context.close();
    }
  });

  it('signs in a reader (config:read, config:list), who lists and filters by scope', async () => {
    const { token } = await tokens.create({ name: 'reader', owner: 'reader', roles: ['reader'] });
    const { context, page } = await openPage(browser);
    try {
      await page.goto(`${base}/ui/`);
      await signIn(page, token);
      await expect.poll(() => page.getByText('Signed in as').textContent()).toContain('reader');
      await expect.poll(() => page.locator('#configs-count').textContent()).toBe('3 of 3 configs');
      await page.getByLabel('Scope').selectOption('app:web');
      await expect.poll(() => page.locator('#configs-count').textContent()).toBe('1 of 3 configs');
      expect(await axeViolations(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
