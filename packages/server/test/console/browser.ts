/**
 * What the console's browser tests share: Debian's Chromium (or a failure saying how to install
 * it: the tests never skip), a fresh Vite build of the console, an axe-core scan, a page that
 * records CSP violations and page errors, the sign-in by pasting a token, a listening server's URL.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import {
  type Authenticator,
  createMemoryTokenStore,
  createTokenAuthenticator,
  type TokenStore,
} from '../../src/index.js';

export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

/** Debian's Chromium, or a failure saying how to install it. */
export function chromiumPath(): string {
  try {
    return execFileSync('sh', [join(REPO, 'scripts/browser.sh'), 'path'], { encoding: 'utf8' }).trim();
  } catch (error) {
    const stderr = (error as { stderr?: Buffer | string }).stderr?.toString() ?? '';
    throw new Error(`the console tests need Chromium: ${stderr.trim() || String(error)}`);
  }
}

/** Builds the console with Vite into a new temporary folder (the caller removes it). */
export function buildConsole(): string {
  const dir = mkdtempSync(join(tmpdir(), 'summit-console-'));
  execFileSync(
    join(REPO, 'node_modules/.bin/vite'),
    ['build', join(REPO, 'packages/console'), '--outDir', dir, '--emptyOutDir'],
    { stdio: 'pipe' },
  );
  return dir;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown }>;
}

/** The serious and critical axe-core violations of the page as it is now. */
export async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: the page's CSP (no inline script) still holds for it.
  // (Strings, not functions: the test project has no DOM types.)
  if (!(await page.evaluate<boolean>("'axe' in window"))) await page.evaluate(axeSource);
  const { violations, passes } = await page.evaluate<{ violations: unknown[]; passes: number }>(
    '(async () => { const r = await window.axe.run(document); return { violations: r.violations, passes: r.passes.length }; })()',
  );
  // The scan ran its rules on this page (a page axe could not read would pass vacuously).
  expect(passes).toBeGreaterThan(10);
  return (violations as AxeViolation[])
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

/** A fresh browser context and page, recording CSP violations and page errors. */
export async function openPage(
  browser: Browser,
  options: { ignoreHTTPSErrors?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  return { context, page, problems };
}

/**
 * Opens the editor of the config page shown, replaces the document with `text` and saves; `poll`
 * is the caller's waiting policy (`expect.poll` with its timeout).
 */
export async function editDocument(
  page: Page,
  text: string,
  poll: (fn: () => Promise<number>) => { toBe(n: number): Promise<void> },
): Promise<void> {
  await page.getByRole('button', { name: 'Edit' }).click();
  await poll(() => page.locator('.cm-content').count()).toBe(1);
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
  await page.getByRole('button', { name: 'Save' }).click();
}

export async function signIn(page: Page, secret: string): Promise<void> {
  await page.getByLabel('API token').fill(secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** `http(s)://127.0.0.1:<port>` of a server listening on 127.0.0.1. */
export async function listen(app: FastifyInstance, scheme: 'http' | 'https' = 'http'): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `${scheme}://127.0.0.1:${address.port}`;
}

/** What a console test file runs on: Debian's Chromium, a fresh build of the console, API tokens. */
export interface ConsoleRig {
  readonly browser: Browser;
  /** The build, for the server's `console.assetsDir`. */
  readonly assetsDir: string;
  /** API tokens in memory, holding `rootToken`; more can be made. */
  readonly tokens: TokenStore;
  /** A token of `root` with the role `superuser`. */
  readonly rootToken: string;
  /** A server's options for that: the tokens' authenticator and the console on the build. */
  readonly serverOptions: { authenticators: Authenticator[]; console: { assetsDir: string } };
  /** Closes the browser and removes the build. */
  close(): Promise<void>;
}

/** Builds the console and launches Chromium (or fails saying how to install it). */
export async function consoleRig(): Promise<ConsoleRig> {
  const executablePath = chromiumPath();
  const assetsDir = buildConsole();
  const remove = () => rmSync(assetsDir, { recursive: true, force: true });
  try {
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
    const tokens = createMemoryTokenStore();
    const rootToken = (await tokens.create({ name: 'console', owner: 'root', roles: ['superuser'] })).token;
    return {
      browser,
      assetsDir,
      tokens,
      rootToken,
      serverOptions: { authenticators: [createTokenAuthenticator(tokens)], console: { assetsDir } },
      close: async () => {
        await browser.close();
        remove();
      },
    };
  } catch (error) {
    remove();
    throw error;
  }
}
